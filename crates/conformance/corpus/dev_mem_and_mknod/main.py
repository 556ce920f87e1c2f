# Attack: reach hardware and kernel memory through device files: open
# /dev/mem, /dev/kmem, /dev/port, raw disks and /dev/kmsg, and create
# device nodes with mknod (a block node for the host's first disk, a char
# node for /dev/mem).
# Expect: the devices do not exist in the box's minimal /dev and mknod of
# devices fails with EPERM (no CAP_MKNOD). A FIFO is allowed; get_files
# lists it as a skipped special file.
import errno
import os
import stat
import sys

violations = 0


def name(e):
    return errno.errorcode.get(e.errno, str(e.errno))


for dev in ("/dev/mem", "/dev/kmem", "/dev/port", "/dev/sda", "/dev/vda", "/dev/nvme0n1", "/dev/kmsg"):
    try:
        with open(dev, "rb") as f:
            f.read(1)
        print(f"VIOLATION: opened {dev}")
        violations += 1
    except OSError as e:
        print(f"{dev}: {name(e)}")

for label, path, mode, device in (
    ("block device", "sda", stat.S_IFBLK | 0o600, os.makedev(8, 0)),
    ("char device", "/tmp/mem", stat.S_IFCHR | 0o600, os.makedev(1, 1)),
):
    try:
        os.mknod(path, mode, device)
        print(f"VIOLATION: mknod {label} {path} succeeded")
        violations += 1
    except OSError as e:
        print(f"mknod {label}: {name(e)}")

os.mkfifo("fifo")
print("fifo created")
sys.exit(1 if violations else 0)
