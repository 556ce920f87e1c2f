# Attack: system administration calls that would affect the whole host:
# load a new kernel or module, reboot, enable swap, process accounting,
# set the clock; and process_vm_readv/writev (cross-process memory access).
# Every argument is harmless (NULL, -1, a bad reboot magic) in case a call
# got through.
# Expect: all EPERM, including process_vm_readv on our own memory, which
# the kernel alone would allow.
# The shared probe.py prints one 'label: ERRNO' line per call.

import ctypes
import os

from probe import SyscallProbe

# Syscall numbers: x86_64 and the generic table (aarch64).
probe = SyscallProbe({
    "x86_64": {"kexec_load": 246, "kexec_file_load": 320, "init_module": 175, "finit_module": 313, "delete_module": 176, "reboot": 169, "swapon": 167, "acct": 163, "settimeofday": 164, "process_vm_readv": 310, "process_vm_writev": 311},
    "aarch64": {"kexec_load": 104, "kexec_file_load": 294, "init_module": 105, "finit_module": 273, "delete_module": 106, "reboot": 142, "swapon": 224, "acct": 89, "settimeofday": 170, "process_vm_readv": 270, "process_vm_writev": 271},
})

probe.expect("kexec_load", "kexec_load", 0, 0, None, 0)
probe.expect("kexec_file_load", "kexec_file_load", -1, -1, 0, None, 0)
probe.expect("init_module", "init_module", None, 0, b"")
probe.expect("finit_module", "finit_module", -1, b"", 0)
probe.expect("delete_module", "delete_module", b"conformance_nonexistent", 0)
probe.expect("reboot(bad magic)", "reboot", 0, 0, 0, None)
probe.expect("swapon(/tmp/none)", "swapon", b"/tmp/none", 0)
probe.expect("acct(NULL)", "acct", None)
probe.expect("settimeofday(NULL, NULL)", "settimeofday", None, None)


class IoVec(ctypes.Structure):
    _fields_ = [("base", ctypes.c_void_p), ("len", ctypes.c_size_t)]


source = ctypes.create_string_buffer(b"own memory", 16)
target = ctypes.create_string_buffer(16)
local = IoVec(ctypes.cast(target, ctypes.c_void_p), 16)
remote = IoVec(ctypes.cast(source, ctypes.c_void_p), 16)
probe.expect("process_vm_readv(self)", "process_vm_readv", os.getpid(), ctypes.addressof(local), 1, ctypes.addressof(remote), 1, 0)
probe.expect("process_vm_writev(self)", "process_vm_writev", os.getpid(), ctypes.addressof(remote), 1, ctypes.addressof(local), 1, 0)
probe.expect("process_vm_readv(pid 1)", "process_vm_readv", 1, ctypes.addressof(local), 1, ctypes.addressof(remote), 1, 0)
probe.finish("kernel-admin")
