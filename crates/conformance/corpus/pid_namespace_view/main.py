# Attack: survey the process table for targets: host daemons, the backend
# itself, other tenants.
# Expect: a private pid namespace: only a handful of processes (this
# program, the box's init unless /proc hides other users' processes,
# perhaps a backend helper), and no well-known host process is visible.
import os
import sys

HOST_PROCESSES = {"systemd", "init", "sshd", "dockerd", "containerd", "cargo", "rustc", "kthreadd", "cron", "journald"}
pids = sorted(int(p) for p in os.listdir("/proc") if p.isdigit())
names = {}
for pid in pids:
    try:
        with open(f"/proc/{pid}/comm") as f:
            names[pid] = f.read().strip()
    except OSError:
        names[pid] = "?"
print(f"visible processes: {len(pids)}")
print(f"my pid: {os.getpid()}")
violations = 0
if len(pids) > 8:
    print(f"VIOLATION: {len(pids)} processes visible: {sorted(set(names.values()))}")
    violations += 1
seen = sorted(n for p, n in names.items() if p != 1 and n in HOST_PROCESSES)
if seen:
    print(f"VIOLATION: host processes visible: {seen}")
    violations += 1
print(f"pid 1: {names[1]}" if 1 in names else "pid 1: hidden")
if not violations:
    print("private pid namespace")
sys.exit(1 if violations else 0)
