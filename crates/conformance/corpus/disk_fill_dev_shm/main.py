# Attack: fill /dev/shm, the POSIX shared-memory tmpfs (8 MiB here), until
# writes fail, with the shared fill.py.
# Expect: ENOSPC (or EFBIG from a file size limit) ends the filling with
# exit 3; the box stays alive and, once the file is deleted, /dev/shm takes
# 4 MiB again (the [[after]] runs).
import sys

from fill import fill

fill(sys.argv[1])
