# Attack: learn about the host kernel to pick an exploit: its build
# configuration (/proc/config.gz), symbol table (/proc/kallsyms), loaded
# modules, boot command line and hardware map. Files are only read.
# Expect: each is absent, unreadable, or masked (/dev/null: reads nothing).
import errno
import os
import stat
import sys

violations = 0


def name(e):
    return errno.errorcode.get(e.errno, str(e.errno))


for path in (
    "/proc/kallsyms",
    "/proc/config.gz",
    "/proc/modules",
    "/proc/cmdline",
    "/proc/iomem",
    "/proc/ioports",
    "/proc/key-users",
):
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError as e:
        print(f"{path}: not readable ({name(e)})")
        continue
    try:
        st = os.fstat(fd)
        data = os.read(fd, 4096)
    except OSError as e:
        print(f"{path}: not readable ({name(e)})")
        data = b""
        st = None
    finally:
        os.close(fd)
    if data:
        print(f"VIOLATION: read {len(data)} bytes of {path}")
        violations += 1
    elif st is not None and stat.S_ISCHR(st.st_mode):
        print(f"{path}: masked")
    else:
        print(f"{path}: empty")

if violations:
    sys.exit(1)
print("host kernel information hidden")
