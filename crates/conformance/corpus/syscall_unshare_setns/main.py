# Attack: new namespaces are the first step of most container escapes: an
# unprivileged user namespace gives a full capability set inside it (and
# reaches kernel code otherwise root-only); setns joins other namespaces.
# Expect: every unshare and setns fails with EPERM, including the
# CLONE_NEWUSER one the kernel alone would allow.
# The shared probe.py prints one 'label: ERRNO' line per call.

import os

from probe import SyscallProbe

# Syscall numbers: x86_64 and the generic table (aarch64).
probe = SyscallProbe({
    "x86_64": {"unshare": 272, "setns": 308},
    "aarch64": {"unshare": 97, "setns": 268},
})

CLONE_NEWNS, CLONE_NEWCGROUP, CLONE_NEWUTS, CLONE_NEWIPC = 0x20000, 0x2000000, 0x4000000, 0x8000000
CLONE_NEWUSER, CLONE_NEWPID, CLONE_NEWNET = 0x10000000, 0x20000000, 0x40000000
probe.expect("unshare(CLONE_NEWUSER)", "unshare", CLONE_NEWUSER)
probe.expect("unshare(CLONE_NEWUSER|CLONE_NEWNS)", "unshare", CLONE_NEWUSER | CLONE_NEWNS)
probe.expect("unshare(CLONE_NEWNET)", "unshare", CLONE_NEWNET)
probe.expect("unshare(CLONE_NEWPID)", "unshare", CLONE_NEWPID)
probe.expect("unshare(CLONE_NEWNS)", "unshare", CLONE_NEWNS)
probe.expect("unshare(CLONE_NEWUTS|CLONE_NEWIPC|CLONE_NEWCGROUP)", "unshare", CLONE_NEWUTS | CLONE_NEWIPC | CLONE_NEWCGROUP)
for ns in ("net", "mnt", "user"):
    fd = os.open(f"/proc/self/ns/{ns}", os.O_RDONLY)
    probe.expect(f"setns(/proc/self/ns/{ns})", "setns", fd, 0)
    os.close(fd)
probe.finish("namespace")
