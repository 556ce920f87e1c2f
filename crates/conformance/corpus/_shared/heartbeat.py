"""A heartbeat file that shows whether a process still runs.

Shared by the escape cases whose [[after]] runs check that the beating
process died with the run (`shared = ["heartbeat.py"]` in case.toml).
"""

import os
import time

PATH = "heartbeat"


def beat_forever():
    """Writes an increasing counter to PATH every 100 ms (atomically, via rename)."""
    beat = 0
    while True:
        beat += 1
        with open(PATH + ".tmp", "w") as f:
            f.write(str(beat))
        os.replace(PATH + ".tmp", PATH)
        time.sleep(0.1)


def started():
    """Waits up to 5 s for the first beat; returns whether it came."""
    for _ in range(100):
        if os.path.exists(PATH):
            break
        time.sleep(0.05)
    return os.path.exists(PATH)
