# Attack: check for (and try to gain) privilege: run as root, hold
# capabilities, lack no_new_privs or seccomp, become uid 0 with setuid,
# join group 0 with setgroups.
# Expect: a non-zero uid/gid, empty capability sets, NoNewPrivs 1,
# Seccomp 2 (filter), and setuid(0)/setgid(0)/setgroups([0]) refused.
import os
import sys

violations = 0


def bad(message):
    global violations
    print(f"VIOLATION: {message}")
    violations += 1


uid, euid, gid, egid = os.getuid(), os.geteuid(), os.getgid(), os.getegid()
print(f"uid={uid} euid={euid} gid={gid} egid={egid}")
if 0 in (uid, euid):
    bad("running as root")
else:
    print("not root")

status = {}
with open("/proc/self/status") as f:
    for line in f:
        key, _, value = line.partition(":")
        status[key] = value.strip()
for key in ("CapInh", "CapPrm", "CapEff", "CapAmb"):
    if int(status.get(key, "1"), 16) != 0:
        bad(f"{key}={status.get(key)}")
    else:
        print(f"{key} empty")
print(f"no_new_privs={status.get('NoNewPrivs')}")
print(f"seccomp={status.get('Seccomp')}")
if status.get("NoNewPrivs") != "1":
    bad("no_new_privs is not set")
if status.get("Seccomp") != "2":
    bad("no seccomp filter")

for label, call in (
    ("setuid(0)", lambda: os.setuid(0)),
    ("setgid(0)", lambda: os.setgid(0)),
    ("setgroups([0])", lambda: os.setgroups([0])),
):
    try:
        call()
        bad(f"{label} succeeded")
    except PermissionError:
        print(f"{label}: EPERM")
    except OSError as e:
        print(f"{label}: refused ({e.errno})")
sys.exit(1 if violations else 0)
