# Attack: exhaust /tmp (a 16 MiB tmpfs): the shared fill.py writes to the
# file named by argv[1] until the kernel refuses.
# Expect: a clean ENOSPC or EFBIG, reported with exit 3. The box lives on,
# the file can be deleted and the freed 8 MiB are writable again, checked
# by the [[after]] runs; the host's /tmp is never touched.
import sys

from fill import fill

fill(sys.argv[1])
