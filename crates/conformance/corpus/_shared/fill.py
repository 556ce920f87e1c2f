"""Fill a size-capped filesystem until a write fails.

Shared by the disk_fill_* cases (`shared = ["fill.py"]` in case.toml).
fill(target) writes 1 MiB chunks to `target` and exits: 3 when a write
fails with ENOSPC, EFBIG or EDQUOT (the expected, clean failure), 5 on any
other error, 4 (with a VIOLATION line) after 512 MiB without a failure.
"""

import errno
import os
import sys


def fill(target):
    chunk = b"\xab" * (1 << 20)
    written = 0
    fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    try:
        while True:
            written += os.write(fd, chunk)
            if written > 512 << 20:
                print(f"VIOLATION: wrote {written} bytes to {target} without hitting a limit")
                sys.exit(4)
    except OSError as e:
        name = errno.errorcode.get(e.errno, str(e.errno))
        print(f"write to {target} failed after {written} bytes: {name}")
        if e.errno in (errno.ENOSPC, errno.EFBIG, errno.EDQUOT):
            print("disk full as expected")
            sys.exit(3)
        sys.exit(5)
    finally:
        os.close(fd)
