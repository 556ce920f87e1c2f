# Attack: leave a daemon behind. A child starts a new session (setsid),
# keeps stdout and stderr open (so the output pipes never reach EOF) and
# writes a heartbeat every 100 ms; the main process exits 0 right away.
# Expect: status ok promptly (the backend must not wait for the pipes to
# close), and the daemon is killed with the run: the heartbeat stops and
# no process is left.
import os

from heartbeat import beat_forever, started

if os.fork() == 0:
    os.setsid()
    beat_forever()

started()
print("daemon started, parent exiting", flush=True)
