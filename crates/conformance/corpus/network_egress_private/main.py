# Attack: reach private and link-local networks around the host: a 10/8
# gateway, the Docker bridge, a home router and the cloud metadata service
# (169.254.169.254, which hands out credentials on many clouds).
# Expect: each fails immediately with ENETUNREACH.
import errno
import socket
import sys

violations = 0
for host, port in (
    ("10.0.0.1", 80),
    ("172.17.0.1", 80),
    ("192.168.0.1", 80),
    ("169.254.169.254", 80),
    ("100.64.0.1", 80),
):
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.settimeout(5)
    try:
        s.connect((host, port))
        print(f"VIOLATION: connected to {host}:{port}")
        violations += 1
    except socket.timeout:
        print(f"tcp {host}:{port}: timeout")
    except OSError as e:
        print(f"tcp {host}:{port}: {errno.errorcode.get(e.errno, e.errno)}")
    finally:
        s.close()
sys.exit(1 if violations else 0)
