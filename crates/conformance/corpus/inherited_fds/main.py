# Attack: look for file descriptors the backend leaked into the box (a
# leaked directory fd to the host was runc's CVE-2024-21626): anything
# besides 0, 1 and 2, and where the process's root and cwd point.
# Expect: only fds 0-2 are open; root is "/" and cwd is the workspace.
import os
import sys

listing = os.listdir("/proc/self/fd")
leaked = []
for entry in listing:
    fd = int(entry)
    if fd <= 2:
        continue
    try:
        target = os.readlink(f"/proc/self/fd/{fd}")
    except OSError:
        continue  # the directory fd used for the listing itself, now closed
    if target.endswith("/fd") and target.startswith("/proc/"):
        continue
    leaked.append(f"{fd} -> {target}")
for fd in range(3):
    try:
        print(f"fd {fd} -> {os.readlink(f'/proc/self/fd/{fd}')}")
    except OSError as e:
        print(f"fd {fd}: {e.strerror}")
print(f"root -> {os.readlink('/proc/self/root')}")
print(f"cwd -> {os.readlink('/proc/self/cwd')}")
if leaked:
    print("VIOLATION: leaked file descriptors: " + ", ".join(leaked))
    sys.exit(1)
print("no leaked file descriptors")
