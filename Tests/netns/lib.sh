# Shared by Tests/netns/run.sh and Benchmarks/failover: a test network of namespaces.
#
#   tsw: the "switches": bridges br1 (link 1, 10.1.0.0/24) and br2 (link 2, 10.2.0.0/24)
#   ta, tb: nodes a and b, eth1 on br1, eth2 on br2 (10.1.0.1/.2, 10.2.0.1/.2)
#   tw: witness w (10.1.0.3, 10.2.0.3)
#   tc: the client, eth1 on br1 only (10.1.0.100)
#   VIP 10.1.0.50/24 on eth1 of whichever node is active.
#
# Pipes into grep send its output to /dev/null rather than use `grep -q`: under pipefail, a
# grep -q that exits at the first match can make the writer (ip prints in several writes) die
# of SIGPIPE, and the pipeline fails although the match was there.
#
# Needs root, iproute2, nftables. Every name starts with "t" + a prefix so that a run can
# clean up after a crashed one.

NETNS_PREFIX=${NETNS_PREFIX:-t}
VIP=10.1.0.50
NODES="a b w"

ns() { echo "${NETNS_PREFIX}$1"; }

node_ip() { # node link
  case $1 in a) echo "10.$2.0.1" ;; b) echo "10.$2.0.2" ;; w) echo "10.$2.0.3" ;; c) echo "10.$2.0.100" ;; esac
}

net_down() {
  for n in sw a b w c; do ip netns del "$(ns $n)" 2>/dev/null || true; done
}

net_up() {
  net_down
  ip netns add "$(ns sw)"
  ip -n "$(ns sw)" link set lo up
  for br in br1 br2; do
    ip -n "$(ns sw)" link add $br type bridge
    # No STP, no learning delay: a moved VIP is reachable as soon as the GARP is seen.
    ip -n "$(ns sw)" link set $br type bridge forward_delay 0 stp_state 0
    ip -n "$(ns sw)" link set $br up
  done
  for n in a b w c; do
    ip netns add "$(ns $n)"
    ip -n "$(ns $n)" link set lo up
    links="1 2"; [ $n = c ] && links="1"
    for k in $links; do
      ip link add "v$n$k" netns "$(ns sw)" type veth peer name "eth$k" netns "$(ns $n)"
      ip -n "$(ns sw)" link set "v$n$k" master "br$k" up
      ip -n "$(ns $n)" addr add "$(node_ip $n $k)/24" dev "eth$k"
      ip -n "$(ns $n)" link set "eth$k" up
    done
  done
}

# write_config FILE DIR PROFILE [extra group yaml lines...]
write_config() {
  local file=$1 dir=$2 profile=$3
  shift 3
  cat > "$file" <<YAML
cluster: netns
key_file: $dir/cluster.key
data_dir: $dir/data
timing: $profile
nodes:
  a: {links: ["10.1.0.1:7400", "10.2.0.1:7400"], api: "127.0.0.1:7480", priority: 100}
  b: {links: ["10.1.0.2:7400", "10.2.0.2:7400"], api: "127.0.0.1:7480", priority: 90}
  w: {links: ["10.1.0.3:7400", "10.2.0.3:7400"], api: "127.0.0.1:7480", witness: true}
groups:
  svc:
    prefer: [a, b]
    failback: manual
    resources:
      - vip: $VIP/24 dev eth1
      - exec: {run: "$TANDEM echo --bind $VIP --port 9000", timeout: 2s}
$(for line in "$@"; do echo "$line"; done)
YAML
}

# start_agent NODE CONFIG LOGDIR: the agent's pid in $DIR/NODE.pid
start_agent() {
  local n=$1 config=$2 dir=$3
  ip netns exec "$(ns $n)" "$TANDEM" agent --config "$config" --node "$n" >> "$dir/$n.log" 2>&1 &
  echo $! > "$dir/$n.pid"
  disown $!  # killed on purpose later: no "Killed" job notices
}

# The status JSON of NODE (empty when it does not answer).
status_json() {
  ip netns exec "$(ns $1)" "$TANDEM" status --api 127.0.0.1:7480 --json 2>/dev/null || true
}

# owner_running NODE: true when NODE reports the group running here.
running_on() {
  status_json "$1" | python3 -c 'import json,sys
try:
    s = json.load(sys.stdin)
except Exception:
    sys.exit(1)
sys.exit(0 if any(g["id"] == "svc" and g.get("phase") == "running" for g in s["groups"]) else 1)'
}

# wait_running NODE SECONDS
wait_running() {
  local n=$1 limit=$2 i=0
  while [ $i -lt $((limit * 10)) ]; do
    running_on "$n" && return 0
    sleep 0.1; i=$((i + 1))
  done
  return 1
}

kill_agent() { # NODE SIGNAL
  local pid; pid=$(cat "$DIR/$1.pid")
  kill -"$2" "$pid" 2>/dev/null || true
}

stop_all() {
  for n in $NODES; do
    [ -f "$DIR/$n.pid" ] && kill -CONT "$(cat "$DIR/$n.pid")" 2>/dev/null || true
    [ -f "$DIR/$n.pid" ] && kill -KILL "$(cat "$DIR/$n.pid")" 2>/dev/null || true
  done
  sleep 0.5
  # The guards end when their agent's pipe closes; anything left is killed.
  pkill -KILL -f "$TANDEM (guard|echo)" 2>/dev/null || true
  sleep 0.2
}
