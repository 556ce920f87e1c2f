# Attack: the classic /proc and /sys escape hatches: /proc/sysrq-trigger,
# /proc/kcore, /proc/sys/kernel/{core_pattern,modprobe},
# /proc/sys/fs/binfmt_misc/register, and /sys (uevent_helper, cgroupfs).
# Nothing is ever written: files are only opened.
# Expect: each is absent, refused, or masked (an empty or /dev/null-like
# file); /proc/sys is read-only; there is no /sys (or nothing writable).
import errno
import os
import stat
import sys

violations = 0


def name(e):
    return errno.errorcode.get(e.errno, str(e.errno))


def masked(fd):
    st = os.fstat(fd)
    return stat.S_ISCHR(st.st_mode) and os.major(st.st_rdev) == 1 and os.minor(st.st_rdev) == 3


for path in (
    "/proc/sysrq-trigger",
    "/proc/sys/kernel/core_pattern",
    "/proc/sys/kernel/modprobe",
    "/proc/sys/fs/binfmt_misc/register",
    "/sys/kernel/uevent_helper",
    "/sys/fs/cgroup/cgroup.procs",
):
    try:
        fd = os.open(path, os.O_WRONLY)
    except OSError as e:
        print(f"{path}: not writable ({name(e)})")
        continue
    if masked(fd):
        print(f"{path}: masked")
    else:
        print(f"VIOLATION: {path} is open for writing")
        violations += 1
    os.close(fd)

try:
    with open("/proc/kcore", "rb") as f:
        data = f.read(4096)
    if data:
        print(f"VIOLATION: read {len(data)} bytes of /proc/kcore")
        violations += 1
    else:
        print("/proc/kcore: masked (empty)")
except OSError as e:
    print(f"/proc/kcore: not readable ({name(e)})")

if not os.path.exists("/sys"):
    print("/sys: absent")
else:
    try:
        fd = os.open("/sys/conformance_probe", os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
        os.close(fd)
        print("VIOLATION: created a file in /sys")
        violations += 1
    except OSError as e:
        print(f"/sys: present but not writable ({name(e)})")

try:
    fd = os.open("/proc/sys/kernel/conformance_probe", os.O_WRONLY | os.O_CREAT, 0o644)
    os.close(fd)
    print("VIOLATION: created a file in /proc/sys")
    violations += 1
except OSError as e:
    print(f"/proc/sys: cannot create files ({name(e)})")

if violations:
    sys.exit(1)
print("sensitive kernel interfaces protected")
