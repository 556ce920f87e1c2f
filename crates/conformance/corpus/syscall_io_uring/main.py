# Attack: io_uring performs I/O from kernel workers that seccomp never
# sees, and is a rich source of kernel exploits.
# Expect: io_uring_setup, io_uring_enter and io_uring_register all EPERM.
# The shared helper below prints one 'label: ERRNO' line per call.

import ctypes
import errno
import os
import platform
import sys

# Syscall numbers: x86_64 and the generic table (aarch64).
NR = {
    "x86_64": {"io_uring_setup": 425, "io_uring_enter": 426, "io_uring_register": 427},
    "aarch64": {"io_uring_setup": 425, "io_uring_enter": 426, "io_uring_register": 427},
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

params = ctypes.create_string_buffer(120)  # struct io_uring_params, zeroed
expect("io_uring_setup(8)", "io_uring_setup", 8, params, cleanup=os.close)
expect("io_uring_enter(-1)", "io_uring_enter", -1, 0, 0, 0, None, 0)
expect("io_uring_register(-1)", "io_uring_register", -1, 0, None, 0)
finish("io_uring")
