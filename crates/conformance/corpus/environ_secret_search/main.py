# Attack: look for the runner's secret (an environment variable of the
# process that started the backend) in this process's environment and in
# every readable /proc/<pid>/environ and cmdline of the box.
# Expect: not found anywhere. The secret itself is never printed.
import os
import sys

SECRET = "{{host_secret}}".encode()
NAME = b"BYTESBOX_CONFORMANCE_SECRET"

found = []
for key, value in os.environb.items():
    if key == NAME or SECRET in value or SECRET in key:
        found.append("os.environ")
readable = denied = 0
for pid in os.listdir("/proc"):
    if not pid.isdigit():
        continue
    for leaf in ("environ", "cmdline"):
        try:
            with open(f"/proc/{pid}/{leaf}", "rb") as f:
                data = f.read()
        except OSError:
            denied += 1
            continue
        readable += 1
        if SECRET in data or NAME in data:
            found.append(f"/proc/{pid}/{leaf}")
print(f"checked {readable} readable /proc files, {denied} not readable")
if found:
    print("VIOLATION: the host secret is visible in " + ", ".join(found))
    sys.exit(1)
print("secret not found")
