# Attack: AF_VSOCK sockets talk to the hypervisor and the other guests of a
# VM host; network namespaces do not cover them, so a box could reach host
# services through them (and creating one loads the vsock modules).
# Expect: socket() and socketpair() with AF_VSOCK fail with EAFNOSUPPORT.
# The shared probe.py prints one 'label: ERRNO' line per call.

import ctypes

from probe import SyscallProbe

# Syscall numbers: x86_64 and the generic table (aarch64).
probe = SyscallProbe({
    "x86_64": {"socket": 41, "socketpair": 53},
    "aarch64": {"socket": 198, "socketpair": 199},
})


def close(fd):
    ctypes.CDLL(None).close(fd)


AF_VSOCK, SOCK_STREAM, SOCK_DGRAM = 40, 1, 2
fds = (ctypes.c_int * 2)()
probe.expect("socket(AF_VSOCK, SOCK_STREAM)", "socket", AF_VSOCK, SOCK_STREAM, 0, want="EAFNOSUPPORT", cleanup=close)
probe.expect("socket(AF_VSOCK, SOCK_DGRAM)", "socket", AF_VSOCK, SOCK_DGRAM, 0, want="EAFNOSUPPORT", cleanup=close)
probe.expect("socketpair(AF_VSOCK)", "socketpair", AF_VSOCK, SOCK_STREAM, 0, fds, want="EAFNOSUPPORT")
probe.finish("vsock")
