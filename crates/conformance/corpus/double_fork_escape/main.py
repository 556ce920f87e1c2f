# Attack: escape the run's lifetime with a double fork: the grandchild is
# reparented away from the run's main process, detaches its stdio and keeps
# writing a heartbeat file every 100 ms; the main process then sleeps past
# the wall timeout.
# Expect: status timeout, and the timeout kills the whole tree including
# the grandchild: after the run the heartbeat stops and no process is left.
import os
import time

from heartbeat import beat_forever, started

if os.fork() == 0:
    os.setsid()
    if os.fork() > 0:
        os._exit(0)
    null = os.open("/dev/null", os.O_RDWR)
    for fd in (0, 1, 2):
        os.dup2(null, fd)
    beat_forever()

os.wait()
print("grandchild running" if started() else "grandchild did not start", flush=True)
time.sleep(3600)
