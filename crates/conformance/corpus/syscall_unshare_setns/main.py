# Attack: new namespaces are the first step of most container escapes: an
# unprivileged user namespace gives a full capability set inside it (and
# reaches kernel code otherwise root-only); setns joins other namespaces.
# Expect: every unshare and setns fails with EPERM, including the
# CLONE_NEWUSER one the kernel alone would allow.
# The shared helper below prints one 'label: ERRNO' line per call.

import ctypes
import errno
import os
import platform
import sys

# Syscall numbers: x86_64 and the generic table (aarch64).
NR = {
    "x86_64": {"unshare": 272, "setns": 308},
    "aarch64": {"unshare": 97, "setns": 268},
}[platform.machine()]
libc = ctypes.CDLL(None, use_errno=True)
libc.syscall.restype = ctypes.c_long
failures = 0


def arg(value):
    if isinstance(value, (bytes, ctypes.Array)) or value is None:
        return ctypes.cast(value, ctypes.c_void_p) if isinstance(value, ctypes.Array) else value
    return ctypes.c_long(value)


def expect(label, name, *args, want="EPERM", cleanup=None):
    """Calls syscall `name` and prints "label: ERRNO" (or ALLOWED)."""
    global failures
    ctypes.set_errno(0)
    rc = libc.syscall(ctypes.c_long(NR[name]), *[arg(a) for a in args])
    if rc == -1:
        got = errno.errorcode.get(ctypes.get_errno(), str(ctypes.get_errno()))
    else:
        got = "ALLOWED"
        if cleanup:
            cleanup(rc)
    print(f"{label}: {got}")
    if got != want:
        if got == "ALLOWED":
            print(f"VIOLATION: {label} was allowed")
        failures += 1


def finish(what):
    if failures:
        print(f"{failures} {what} call(s) not denied as expected")
        sys.exit(1)
    print(f"all {what} calls denied")

CLONE_NEWNS, CLONE_NEWCGROUP, CLONE_NEWUTS, CLONE_NEWIPC = 0x20000, 0x2000000, 0x4000000, 0x8000000
CLONE_NEWUSER, CLONE_NEWPID, CLONE_NEWNET = 0x10000000, 0x20000000, 0x40000000
expect("unshare(CLONE_NEWUSER)", "unshare", CLONE_NEWUSER)
expect("unshare(CLONE_NEWUSER|CLONE_NEWNS)", "unshare", CLONE_NEWUSER | CLONE_NEWNS)
expect("unshare(CLONE_NEWNET)", "unshare", CLONE_NEWNET)
expect("unshare(CLONE_NEWPID)", "unshare", CLONE_NEWPID)
expect("unshare(CLONE_NEWNS)", "unshare", CLONE_NEWNS)
expect("unshare(CLONE_NEWUTS|CLONE_NEWIPC|CLONE_NEWCGROUP)", "unshare", CLONE_NEWUTS | CLONE_NEWIPC | CLONE_NEWCGROUP)
for ns in ("net", "mnt", "user"):
    fd = os.open(f"/proc/self/ns/{ns}", os.O_RDONLY)
    expect(f"setns(/proc/self/ns/{ns})", "setns", fd, 0)
    os.close(fd)
finish("namespace")
