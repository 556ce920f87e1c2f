# Attack: create or modify files outside the writable areas: in /usr, /etc,
# /, /bin, /lib, /sbin, /dev, /proc and through /proc/sys (hostname,
# core_pattern). Sensitive targets are only opened, never written, so a
# broken sandbox is detected without damage.
# Expect: every attempt fails; /workspace and /tmp stay writable.
import errno
import os
import sys

CREATE = [
    "/usr/conformance_probe",
    "/usr/bin/conformance_probe",
    "/etc/conformance_probe",
    "/conformance_probe",
    "/bin/conformance_probe",
    "/lib/conformance_probe",
    "/sbin/conformance_probe",
    "/dev/conformance_probe",
    "/proc/conformance_probe",
]
OPEN_FOR_WRITE = [
    "/etc/passwd",
    "/etc/hosts",
    "/usr/bin/python3",
    "/bin/sh",
    "/proc/sys/kernel/hostname",
    "/proc/sys/kernel/core_pattern",
    "/proc/sys/vm/drop_caches",
]

violations = 0


def name(e):
    return errno.errorcode.get(e.errno, str(e.errno))


for path in CREATE:
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
        os.close(fd)
        os.unlink(path)
        print(f"VIOLATION: created {path}")
        violations += 1
    except OSError as e:
        print(f"blocked: create {path} ({name(e)})")
for path in OPEN_FOR_WRITE:
    try:
        fd = os.open(path, os.O_WRONLY | os.O_APPEND)
        os.close(fd)  # nothing is written
        print(f"VIOLATION: opened {path} for writing")
        violations += 1
    except OSError as e:
        print(f"blocked: write {path} ({name(e)})")
try:
    os.mkdir("/conformance_probe_dir")
    os.rmdir("/conformance_probe_dir")
    print("VIOLATION: created a directory in /")
    violations += 1
except OSError as e:
    print(f"blocked: mkdir /conformance_probe_dir ({name(e)})")

for path in ("inside.txt", "/tmp/inside.txt"):
    with open(path, "w") as f:
        f.write("ok")
    print(f"writable: {path}")

if violations:
    sys.exit(1)
print("all writes outside the writable areas blocked")
