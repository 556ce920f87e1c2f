# Attack: reach private and link-local networks around the host: a 10/8
# gateway, the Docker bridge, a home router and the cloud metadata service
# (169.254.169.254, which hands out credentials on many clouds).
# Expect: each fails immediately with ENETUNREACH.
import socket
import sys

from netprobe import tcp_connect

violations = 0
for host, port in (
    ("10.0.0.1", 80),
    ("172.17.0.1", 80),
    ("192.168.0.1", 80),
    ("169.254.169.254", 80),
    ("100.64.0.1", 80),
):
    violations += tcp_connect(socket.AF_INET, host, port)
sys.exit(1 if violations else 0)
