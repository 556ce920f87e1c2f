"""Connection attempts that must fail, reported as 'tcp host:port: ERRNO'.

Shared by the network cases (`shared = ["netprobe.py"]` in case.toml).
"""

import errno
import socket
import time


def errname(e):
    """The errno name of an OSError; "timeout" for a socket timeout."""
    if isinstance(e, socket.timeout):
        return "timeout"
    return errno.errorcode.get(e.errno, str(e.errno)) if e.errno else type(e).__name__


def tcp_connect(family, host, port, timed=False):
    """Tries a TCP connection (5 s timeout) and prints how it failed,
    'tcp host:port: ERRNO' (with ' after N ms' when `timed`). A connection
    that succeeds prints a VIOLATION line; returns the number of those."""
    label = f"tcp {host}:{port}"
    start = time.monotonic()
    try:
        s = socket.socket(family, socket.SOCK_STREAM)
    except OSError as e:
        print(f"{label}: {errname(e)} (socket)")
        return 0
    s.settimeout(5)
    try:
        s.connect((host, port))
        print(f"VIOLATION: connected to {host}:{port}")
        return 1
    except OSError as e:
        after = f" after {int((time.monotonic() - start) * 1000)} ms" if timed else ""
        print(f"{label}: {errname(e)}{after}")
        return 0
    finally:
        s.close()
