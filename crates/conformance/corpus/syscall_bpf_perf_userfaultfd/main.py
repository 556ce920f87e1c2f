# Attack: kernel attack surface favoured by exploits: bpf (verifier bugs),
# perf_event_open (side channels, kernel bugs) and userfaultfd (widening
# race windows).
# Expect: all EPERM, including the variants an unprivileged process is
# normally allowed (self-monitoring perf event, user-mode-only uffd).
# The shared probe.py prints one 'label: ERRNO' line per call.

import ctypes
import os

from probe import SyscallProbe

# Syscall numbers: x86_64 and the generic table (aarch64).
probe = SyscallProbe({
    "x86_64": {"bpf": 321, "perf_event_open": 298, "userfaultfd": 323},
    "aarch64": {"bpf": 280, "perf_event_open": 241, "userfaultfd": 282},
})

BPF_MAP_CREATE, BPF_PROG_LOAD = 0, 5
attr = ctypes.create_string_buffer(128)
probe.expect("bpf(BPF_MAP_CREATE)", "bpf", BPF_MAP_CREATE, attr, 128, cleanup=os.close)
probe.expect("bpf(BPF_PROG_LOAD)", "bpf", BPF_PROG_LOAD, attr, 128, cleanup=os.close)
# struct perf_event_attr: type=PERF_TYPE_SOFTWARE, size=128,
# config=PERF_COUNT_SW_TASK_CLOCK, exclude_kernel and exclude_hv set.
perf = ctypes.create_string_buffer(128)
ctypes.c_uint32.from_buffer(perf, 0).value = 1
ctypes.c_uint32.from_buffer(perf, 4).value = 128
ctypes.c_uint64.from_buffer(perf, 8).value = 1
ctypes.c_uint64.from_buffer(perf, 40).value = (1 << 5) | (1 << 6)
probe.expect("perf_event_open(self, task-clock)", "perf_event_open", perf, 0, -1, -1, 0, cleanup=os.close)
UFFD_USER_MODE_ONLY, O_CLOEXEC = 1, 0o2000000
probe.expect("userfaultfd(UFFD_USER_MODE_ONLY)", "userfaultfd", O_CLOEXEC | UFFD_USER_MODE_ONLY, cleanup=os.close)
probe.expect("userfaultfd(0)", "userfaultfd", O_CLOEXEC, cleanup=os.close)
probe.finish("bpf/perf/userfaultfd")
