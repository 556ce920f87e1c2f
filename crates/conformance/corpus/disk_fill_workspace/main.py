# Attack: fill a size-capped filesystem until writes fail.
# Expect: a write fails cleanly with ENOSPC (filesystem full) or EFBIG (file
# size limit); the program reports it and exits 3. Nothing else in the box
# or on the host is affected, and the space comes back once the file is
# deleted (checked by the [[after]] runs).
import errno
import os
import sys

target = sys.argv[1]
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
