#!/usr/bin/env bash
# Simulated failover time per timing profile (pair + witness: the active node loses power,
# time until the group runs on another node, in simulated milliseconds) and the simulator's
# speed (steps per second, release build, one job per core). Results go to BENCHMARKS.md
# with this command line. Usage: Benchmarks/simulator.sh [SEEDS]
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="/opt/swift/usr/bin:$PATH"
seeds="${1:-10000}"
swift build -c release --product tandem-sim >/dev/null
sim=.build/release/tandem-sim
echo "machine: $(nproc) cores, $(uname -r), $(swift --version 2>&1 | head -1)"
echo "commit: $(git rev-parse --short HEAD)$(git diff --quiet || echo ' (with local changes)')"
for profile in fast balanced wan; do
  echo "== failover, pair, profile $profile, $seeds seeds"
  "$sim" --mode failover --scenario pair --profile "$profile" --seeds "$seeds" --jobs 2 | grep -E "failover|violations|steps"
done
echo "== speed: random faults, all scenarios, profile fast, 2000 seeds, 1 job"
"$sim" --seeds 2000 --jobs 1 | grep -E "steps|violations"
echo "== speed: same, 2 jobs"
"$sim" --seeds 2000 --jobs 2 | grep -E "steps|violations"
