# Attack: rearrange the filesystem view: mount a tmpfs over /tmp (would
# hide or replace files), bind-mount /, detach /proc, pivot_root, chroot.
# Expect: EPERM for each (seccomp and no CAP_SYS_ADMIN / CAP_SYS_CHROOT).
# The shared probe.py prints one 'label: ERRNO' line per call.

from probe import SyscallProbe

# Syscall numbers: x86_64 and the generic table (aarch64).
probe = SyscallProbe({
    "x86_64": {"mount": 165, "umount2": 166, "pivot_root": 155, "chroot": 161},
    "aarch64": {"mount": 40, "umount2": 39, "pivot_root": 41, "chroot": 51},
})

probe.expect("mount(tmpfs on /tmp)", "mount", b"none", b"/tmp", b"tmpfs", 0, None)
probe.expect("mount(bind / on /tmp)", "mount", b"/", b"/tmp", None, 0x1000, None)  # MS_BIND
probe.expect("umount2(/proc, MNT_DETACH)", "umount2", b"/proc", 2)
probe.expect("pivot_root(/tmp, /tmp)", "pivot_root", b"/tmp", b"/tmp")
probe.expect("chroot(/tmp)", "chroot", b"/tmp")
probe.finish("mount-family")
