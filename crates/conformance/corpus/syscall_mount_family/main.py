# Attack: rearrange the filesystem view: mount a tmpfs over /tmp (would
# hide or replace files), bind-mount /, detach /proc, pivot_root, chroot.
# Expect: EPERM for each (seccomp and no CAP_SYS_ADMIN / CAP_SYS_CHROOT).
# The shared helper below prints one 'label: ERRNO' line per call.

import ctypes
import errno
import os
import platform
import sys

# Syscall numbers: x86_64 and the generic table (aarch64).
NR = {
    "x86_64": {"mount": 165, "umount2": 166, "pivot_root": 155, "chroot": 161},
    "aarch64": {"mount": 40, "umount2": 39, "pivot_root": 41, "chroot": 51},
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

expect("mount(tmpfs on /tmp)", "mount", b"none", b"/tmp", b"tmpfs", 0, None)
expect("mount(bind / on /tmp)", "mount", b"/", b"/tmp", None, 0x1000, None)  # MS_BIND
expect("umount2(/proc, MNT_DETACH)", "umount2", b"/proc", 2)
expect("pivot_root(/tmp, /tmp)", "pivot_root", b"/tmp", b"/tmp")
expect("chroot(/tmp)", "chroot", b"/tmp")
finish("mount-family")
