"""Probe forbidden system calls and report each one as 'label: ERRNO'.

Shared by the syscall_* cases (`shared = ["probe.py"]` in case.toml). Calls
go through libc's syscall() with the raw number, so no libc wrapper can hide
or translate them. Each call prints 'label: ERRNO' (or 'label: ALLOWED');
one that was allowed also prints a 'VIOLATION' line, and finish() exits 1
if any call did not fail as expected.
"""

import ctypes
import errno
import platform
import sys

libc = ctypes.CDLL(None, use_errno=True)
libc.syscall.restype = ctypes.c_long


def _arg(value):
    if isinstance(value, (bytes, ctypes.Array)) or value is None:
        return ctypes.cast(value, ctypes.c_void_p) if isinstance(value, ctypes.Array) else value
    return ctypes.c_long(value)


class SyscallProbe:
    def __init__(self, numbers):
        """`numbers` maps platform.machine() (x86_64, aarch64) to {syscall name: number}."""
        self.nr = numbers[platform.machine()]
        self.failures = 0

    def expect(self, label, name, *args, want="EPERM", cleanup=None):
        """Calls syscall `name` and prints "label: ERRNO" (or ALLOWED)."""
        ctypes.set_errno(0)
        rc = libc.syscall(ctypes.c_long(self.nr[name]), *[_arg(a) for a in args])
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
            self.failures += 1

    def finish(self, what):
        """Prints the summary; exits 1 if any call did not fail as expected."""
        if self.failures:
            print(f"{self.failures} {what} call(s) not denied as expected")
            sys.exit(1)
        print(f"all {what} calls denied")
