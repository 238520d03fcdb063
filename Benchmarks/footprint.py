#!/usr/bin/env python3
"""Helper of Benchmarks/footprint: samples processes from /proc and formats the report.

  footprint.py measure SECONDS OUT.jsonl SYSTEM|CONFIG|NODE|PROCESS|PID ...
      CPU over one window of SECONDS (utime+stime of /proc/PID/stat, all threads, divided by
      the elapsed monotonic time and the clock tick), then memory at the end of the window:
      VmRSS, RssAnon, RssFile, Threads (/proc/PID/status), Pss and USS (Private_Clean +
      Private_Dirty) from /proc/PID/smaps_rollup. One JSON line per process, appended.
  footprint.py smaps PID TITLE
      Markdown table: where a process's resident memory is, by mapping (file or anon).
  footprint.py check OUT.jsonl SYSTEM CONFIG PROCESS_REGEX RSS_MIB CPU_PERCENT
      One line: does that process meet the targets.
  footprint.py table OUT.jsonl
      The Markdown table of every measured process, with a total per node (the processes of
      one SYSTEM, CONFIG and NODE, when there are several; NODE "-" takes no part).
"""
import json, os, re, sys, time, collections

TICK = os.sysconf("SC_CLK_TCK")


def stat_fields(pid):
    text = open(f"/proc/{pid}/stat").read()
    # The command name may contain spaces and parentheses: split after the last ')'.
    rest = text[text.rindex(")") + 2:].split()
    # rest[0] is field 3 (state); utime is field 14, stime 15, starttime 22.
    return int(rest[11]) + int(rest[12]), int(rest[19])


def status(pid):
    out = {}
    for line in open(f"/proc/{pid}/status"):
        key, _, value = line.partition(":")
        if key in ("VmRSS", "VmHWM", "RssAnon", "RssFile", "RssShmem"):
            out[key] = int(value.split()[0])
        elif key == "Threads":
            out[key] = int(value)
    return out


def rollup(pid):
    out = collections.Counter()
    for line in open(f"/proc/{pid}/smaps_rollup"):
        parts = line.split()
        if len(parts) >= 2 and parts[0].endswith(":") and parts[1].isdigit():
            out[parts[0][:-1]] = int(parts[1])
    return out


def exe(pid):
    try:
        return os.readlink(f"/proc/{pid}/exe")
    except OSError:
        return None


def sharers(path):
    """How many processes on the machine run this executable (they share its pages, so PSS
    depends on them)."""
    n = 0
    for d in os.listdir("/proc"):
        if d.isdigit() and exe(d) == path:
            n += 1
    return n


def switches(pid):
    """Context switches of all the process's threads: about one per wake-up when idle."""
    n = 0
    for tid in os.listdir(f"/proc/{pid}/task"):
        try:
            for line in open(f"/proc/{pid}/task/{tid}/status"):
                if line.startswith(("voluntary_ctxt_switches", "nonvoluntary_ctxt_switches")):
                    n += int(line.split()[1])
        except OSError:
            pass
    return n


def cpu_busy():
    f = [int(x) for x in open("/proc/stat").readline().split()[1:]]
    idle = f[3] + f[4]
    return sum(f), idle


def measure(seconds, out_path, specs):
    procs = []
    for spec in specs:
        system, config, node, name, pid = spec.split("|")
        procs.append(dict(system=system, config=config, node=node, process=name, pid=int(pid)))
    t0 = time.monotonic()
    s0 = cpu_busy()
    for p in procs:
        try:
            p["ticks0"], p["start"] = stat_fields(p["pid"])
            p["switches0"] = switches(p["pid"])
        except (OSError, ValueError):
            p["error"] = "gone before the window"
    time.sleep(seconds)
    t1 = time.monotonic()
    s1 = cpu_busy()
    total, idle = s1[0] - s0[0], s1[1] - s0[1]
    machine_busy = 100.0 * (total - idle) / total if total else 0.0
    with open(out_path, "a") as out:
        for p in procs:
            if "error" not in p:
                try:
                    ticks1, start = stat_fields(p["pid"])
                    if start != p["start"]:
                        raise OSError("pid reused")
                    p["cpu_percent"] = 100.0 * (ticks1 - p["ticks0"]) / TICK / (t1 - t0)
                    p["cpu_seconds"] = (ticks1 - p["ticks0"]) / TICK
                    # Threads that exit take their counts along: never below 0.
                    p["switches_per_second"] = max(0, switches(p["pid"]) - p["switches0"]) / (t1 - t0)
                    st, ro = status(p["pid"]), rollup(p["pid"])
                    p.update(rss_kib=st["VmRSS"], hwm_kib=st["VmHWM"], anon_kib=st["RssAnon"],
                             file_kib=st["RssFile"], threads=st["Threads"], pss_kib=ro["Pss"],
                             uss_kib=ro["Private_Clean"] + ro["Private_Dirty"])
                    path = exe(p["pid"])
                    p["exe"] = path
                    p["exe_sharers"] = sharers(path) if path else None
                except (OSError, ValueError, KeyError) as e:
                    p["error"] = f"gone during the window ({e})"
            p["window_seconds"] = round(t1 - t0, 3)
            p["machine_busy_percent"] = round(machine_busy, 1)
            p.pop("ticks0", None)
            p.pop("switches0", None)
            out.write(json.dumps(p) + "\n")


HEADER = re.compile(r"^[0-9a-f]+-[0-9a-f]+ ")


def smaps(pid, title):
    rss, pss, anon = collections.Counter(), collections.Counter(), collections.Counter()
    name = None
    for line in open(f"/proc/{pid}/smaps"):
        if HEADER.match(line):
            parts = line.split()
            name = parts[5] if len(parts) > 5 else "[anonymous: heap arenas, thread stacks]"
            if name == "[heap]":
                name = "[heap] (brk)"
        else:
            parts = line.split()
            if parts[0] == "Rss:":
                rss[name] += int(parts[1])
            elif parts[0] == "Pss:":
                pss[name] += int(parts[1])
            elif parts[0] == "Anonymous:":
                anon[name] += int(parts[1])
    total = sum(rss.values())
    print(f"{title} (pid {pid}), resident {total / 1024:.1f} MiB, by mapping:\n")
    print("| mapping | RSS MiB | PSS MiB | of which anonymous (private, written) MiB |")
    print("|---|---:|---:|---:|")
    shown = 0
    for key, value in rss.most_common():
        if shown >= 10 and value < 512:
            break
        shown += 1
        print(f"| {key} | {value / 1024:.1f} | {pss[key] / 1024:.1f} | {anon[key] / 1024:.1f} |")
    rest = total - sum(v for _, v in rss.most_common(shown))
    if rest:
        print(f"| (other mappings) | {rest / 1024:.1f} | | |")


def row(name, config, rss, pss, uss, cpu, threads, wakeups):
    print(f"| {name} | {config} | {rss / 1024:.1f} | {pss / 1024:.1f} | {uss / 1024:.1f} | {cpu:.2f} | {threads} | {wakeups:.0f} |")


def table(path):
    rows = [json.loads(line) for line in open(path)]
    print("| process | profile / config | RSS MiB | PSS MiB | USS MiB | CPU % of one core | threads | context switches/s |")
    print("|---|---|---:|---:|---:|---:|---:|---:|")
    groups = collections.OrderedDict()
    for r in rows:
        groups.setdefault((r["system"], r["config"]), []).append(r)
    for (system, config), members in groups.items():
        nodes = collections.OrderedDict()
        for r in members:
            name = f"{system}: {r['process']}"
            if "error" in r:
                print(f"| {name} | {config} | – | – | – | – ({r['error']}) | | |")
                continue
            row(name, config, r["rss_kib"], r["pss_kib"], r["uss_kib"], r["cpu_percent"], r["threads"],
                r["switches_per_second"])
            if r["node"] != "-":
                nodes.setdefault(r["node"], []).append(r)
        for node, rs in nodes.items():
            if len(rs) < 2:
                continue
            row(f"**{system}: node {node} total** ({' + '.join(x['process'].split(' ')[0] for x in rs)}; RSS summed)",
                config, sum(x["rss_kib"] for x in rs), sum(x["pss_kib"] for x in rs),
                sum(x["uss_kib"] for x in rs), sum(x["cpu_percent"] for x in rs), sum(x["threads"] for x in rs),
                sum(x["switches_per_second"] for x in rs))


def check(path, system, config, pattern, rss_target_mib, cpu_target):
    """One line: the targets for the first process whose name matches the regex."""
    for line in open(path):
        r = json.loads(line)
        if r["system"] == system and r["config"] == config and re.search(pattern, r["process"]) and "error" not in r:
            rss = r["rss_kib"] / 1024
            ok = lambda b: "met" if b else "NOT met"
            print(f"{system} {config}, {r['process']}: RSS {rss:.1f} MiB (target <= {rss_target_mib:g}: {ok(rss <= rss_target_mib)}; "
                  f"PSS {r['pss_kib'] / 1024:.1f}, USS {r['uss_kib'] / 1024:.1f}), CPU {r['cpu_percent']:.2f} % of one core "
                  f"(target <= {cpu_target:g} %: {ok(r['cpu_percent'] <= cpu_target)})")
            return
    print(f"{system} {config}: no measurement of {pattern}")


if __name__ == "__main__":
    cmd = sys.argv[1]
    if cmd == "measure":
        measure(float(sys.argv[2]), sys.argv[3], sys.argv[4:])
    elif cmd == "smaps":
        smaps(int(sys.argv[2]), sys.argv[3])
    elif cmd == "table":
        table(sys.argv[2])
    elif cmd == "check":
        check(sys.argv[2], sys.argv[3], sys.argv[4], sys.argv[5], float(sys.argv[6]), float(sys.argv[7]))
    else:
        sys.exit(__doc__)
