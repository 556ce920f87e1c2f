# Attack: system administration calls that would affect the whole host:
# load a new kernel or module, reboot, enable swap, process accounting,
# set the clock; and process_vm_readv/writev (cross-process memory access).
# Every argument is harmless (NULL, -1, a bad reboot magic) in case a call
# got through.
# Expect: all EPERM, including process_vm_readv on our own memory, which
# the kernel alone would allow.
# The shared helper below prints one 'label: ERRNO' line per call.

import ctypes
import errno
import os
import platform
import sys

# Syscall numbers: x86_64 and the generic table (aarch64).
NR = {
    "x86_64": {"kexec_load": 246, "kexec_file_load": 320, "init_module": 175, "finit_module": 313, "delete_module": 176, "reboot": 169, "swapon": 167, "acct": 163, "settimeofday": 164, "process_vm_readv": 310, "process_vm_writev": 311},
    "aarch64": {"kexec_load": 104, "kexec_file_load": 294, "init_module": 105, "finit_module": 273, "delete_module": 106, "reboot": 142, "swapon": 224, "acct": 89, "settimeofday": 170, "process_vm_readv": 270, "process_vm_writev": 271},
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

expect("kexec_load", "kexec_load", 0, 0, None, 0)
expect("kexec_file_load", "kexec_file_load", -1, -1, 0, None, 0)
expect("init_module", "init_module", None, 0, b"")
expect("finit_module", "finit_module", -1, b"", 0)
expect("delete_module", "delete_module", b"conformance_nonexistent", 0)
expect("reboot(bad magic)", "reboot", 0, 0, 0, None)
expect("swapon(/tmp/none)", "swapon", b"/tmp/none", 0)
expect("acct(NULL)", "acct", None)
expect("settimeofday(NULL, NULL)", "settimeofday", None, None)


class IoVec(ctypes.Structure):
    _fields_ = [("base", ctypes.c_void_p), ("len", ctypes.c_size_t)]


source = ctypes.create_string_buffer(b"own memory", 16)
target = ctypes.create_string_buffer(16)
local = IoVec(ctypes.cast(target, ctypes.c_void_p), 16)
remote = IoVec(ctypes.cast(source, ctypes.c_void_p), 16)
expect("process_vm_readv(self)", "process_vm_readv", os.getpid(), ctypes.addressof(local), 1, ctypes.addressof(remote), 1, 0)
expect("process_vm_writev(self)", "process_vm_writev", os.getpid(), ctypes.addressof(remote), 1, ctypes.addressof(local), 1, 0)
expect("process_vm_readv(pid 1)", "process_vm_readv", 1, ctypes.addressof(local), 1, ctypes.addressof(remote), 1, 0)
finish("kernel-admin")
