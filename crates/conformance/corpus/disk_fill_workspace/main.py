# Attack: fill the workspace itself (16 MiB quota) through fill.py, the
# helper shared with the other disk_fill cases; the target is argv[1].
# Expect: the quota stops it with ENOSPC, EFBIG or EDQUOT and exit 3;
# afterwards the [[after]] runs delete the file, write 8 MiB again and find
# the workspace still writable.
import sys

from fill import fill

fill(sys.argv[1])
