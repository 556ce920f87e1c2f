# Attack: kill(-1, SIGKILL) signals every process the caller may signal.
# Outside a sandbox, run as a shared uid, this kills other tenants' and the
# service's own processes.
# Expect: only processes of this box with the same uid die (here: our own
# child); the box's init, the runner and other boxes are untouched; the
# caller itself survives (Linux spares it) and the box stays usable.
import os
import signal
import subprocess
import time

child = subprocess.Popen(["sleep", "30"])
time.sleep(0.3)
os.kill(-1, signal.SIGKILL)
code = child.wait(timeout=10)
print(f"child exit: {code}")
print("survived kill(-1, SIGKILL)")
