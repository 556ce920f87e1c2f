# Attack: kernel attack surface favoured by exploits: bpf (verifier bugs),
# perf_event_open (side channels, kernel bugs) and userfaultfd (widening
# race windows).
# Expect: all EPERM, including the variants an unprivileged process is
# normally allowed (self-monitoring perf event, user-mode-only uffd).
# The shared helper below prints one 'label: ERRNO' line per call.

import ctypes
import errno
import os
import platform
import sys

# Syscall numbers: x86_64 and the generic table (aarch64).
NR = {
    "x86_64": {"bpf": 321, "perf_event_open": 298, "userfaultfd": 323},
    "aarch64": {"bpf": 280, "perf_event_open": 241, "userfaultfd": 282},
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

BPF_MAP_CREATE, BPF_PROG_LOAD = 0, 5
attr = ctypes.create_string_buffer(128)
expect("bpf(BPF_MAP_CREATE)", "bpf", BPF_MAP_CREATE, attr, 128, cleanup=os.close)
expect("bpf(BPF_PROG_LOAD)", "bpf", BPF_PROG_LOAD, attr, 128, cleanup=os.close)
# struct perf_event_attr: type=PERF_TYPE_SOFTWARE, size=128,
# config=PERF_COUNT_SW_TASK_CLOCK, exclude_kernel and exclude_hv set.
perf = ctypes.create_string_buffer(128)
ctypes.c_uint32.from_buffer(perf, 0).value = 1
ctypes.c_uint32.from_buffer(perf, 4).value = 128
ctypes.c_uint64.from_buffer(perf, 8).value = 1
ctypes.c_uint64.from_buffer(perf, 40).value = (1 << 5) | (1 << 6)
expect("perf_event_open(self, task-clock)", "perf_event_open", perf, 0, -1, -1, 0, cleanup=os.close)
UFFD_USER_MODE_ONLY, O_CLOEXEC = 1, 0o2000000
expect("userfaultfd(UFFD_USER_MODE_ONLY)", "userfaultfd", O_CLOEXEC | UFFD_USER_MODE_ONLY, cleanup=os.close)
expect("userfaultfd(0)", "userfaultfd", O_CLOEXEC, cleanup=os.close)
finish("bpf/perf/userfaultfd")
