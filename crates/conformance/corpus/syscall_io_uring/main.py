# Attack: io_uring performs I/O from kernel workers that seccomp never
# sees, and is a rich source of kernel exploits.
# Expect: io_uring_setup, io_uring_enter and io_uring_register all EPERM.
# The shared probe.py prints one 'label: ERRNO' line per call.

import ctypes
import os

from probe import SyscallProbe

# Syscall numbers: x86_64 and the generic table (aarch64).
probe = SyscallProbe({
    "x86_64": {"io_uring_setup": 425, "io_uring_enter": 426, "io_uring_register": 427},
    "aarch64": {"io_uring_setup": 425, "io_uring_enter": 426, "io_uring_register": 427},
})

params = ctypes.create_string_buffer(120)  # struct io_uring_params, zeroed
probe.expect("io_uring_setup(8)", "io_uring_setup", 8, params, cleanup=os.close)
probe.expect("io_uring_enter(-1)", "io_uring_enter", -1, 0, 0, 0, None, 0)
probe.expect("io_uring_register(-1)", "io_uring_register", -1, 0, None, 0)
probe.finish("io_uring")
