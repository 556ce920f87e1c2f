# Attack: the kernel keyring is not namespaced: keys could be shared with
# (or leaked from) other tenants, and keyctl has a history of kernel bugs.
# Expect: keyctl, add_key and request_key all fail with EPERM.
# The shared helper below prints one 'label: ERRNO' line per call.

import ctypes
import errno
import os
import platform
import sys

# Syscall numbers: x86_64 and the generic table (aarch64).
NR = {
    "x86_64": {"keyctl": 250, "add_key": 248, "request_key": 249},
    "aarch64": {"keyctl": 219, "add_key": 217, "request_key": 218},
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

KEYCTL_GET_KEYRING_ID, KEYCTL_JOIN_SESSION_KEYRING = 0, 1
KEY_SPEC_SESSION_KEYRING, KEY_SPEC_PROCESS_KEYRING = -3, -2
expect("keyctl(GET_KEYRING_ID, session)", "keyctl", KEYCTL_GET_KEYRING_ID, KEY_SPEC_SESSION_KEYRING, 0)
expect("keyctl(JOIN_SESSION_KEYRING)", "keyctl", KEYCTL_JOIN_SESSION_KEYRING, None)
expect("add_key(user)", "add_key", b"user", b"conformance", b"x", 1, KEY_SPEC_PROCESS_KEYRING)
expect("request_key(user)", "request_key", b"user", b"conformance-missing", None, 0)
finish("keyring")
