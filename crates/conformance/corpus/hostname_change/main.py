# Attack: change the machine's identity: sethostname, setdomainname and
# writing /proc/sys/kernel/hostname (opened only, never written).
# Expect: EPERM for the calls, the /proc/sys file is not writable, and the
# hostname stays the box's own ("bytesbox", the BoxSpec default), not the
# host's.
import ctypes
import errno
import os
import socket
import sys

libc = ctypes.CDLL(None, use_errno=True)
before = socket.gethostname()
violations = 0


def name(err):
    return errno.errorcode.get(err, str(err))


try:
    socket.sethostname("evil-host")
    print("VIOLATION: sethostname succeeded")
    violations += 1
except OSError as e:
    print(f"sethostname: {name(e.errno)}")

ctypes.set_errno(0)
if libc.setdomainname(b"evil-domain", 11) == 0:
    print("VIOLATION: setdomainname succeeded")
    violations += 1
else:
    print(f"setdomainname: {name(ctypes.get_errno())}")

try:
    fd = os.open("/proc/sys/kernel/hostname", os.O_WRONLY)
    os.close(fd)
    print("VIOLATION: /proc/sys/kernel/hostname opened for writing")
    violations += 1
except OSError as e:
    print(f"/proc/sys/kernel/hostname: not writable ({name(e.errno)})")

after = socket.gethostname()
print(f"hostname: {after}")
if after != before:
    print("VIOLATION: the hostname changed")
    violations += 1
sys.exit(1 if violations else 0)
