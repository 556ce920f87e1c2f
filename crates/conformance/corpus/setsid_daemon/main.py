# Attack: leave a daemon behind. A child starts a new session (setsid),
# keeps stdout and stderr open (so the output pipes never reach EOF) and
# writes a heartbeat every 100 ms; the main process exits 0 right away.
# Expect: status ok promptly (the backend must not wait for the pipes to
# close), and the daemon is killed with the run: the heartbeat stops and
# no process is left.
import os
import time

if os.fork() == 0:
    os.setsid()
    beat = 0
    while True:
        beat += 1
        with open("heartbeat.tmp", "w") as f:
            f.write(str(beat))
        os.replace("heartbeat.tmp", "heartbeat")
        time.sleep(0.1)

for _ in range(100):
    if os.path.exists("heartbeat"):
        break
    time.sleep(0.05)
print("daemon started, parent exiting", flush=True)
