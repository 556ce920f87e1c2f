# Attack: reach services on the host's loopback: the runner listens on
# 127.0.0.1:{{host_port}} and on the abstract Unix socket
# @{{host_abstract_socket}} in the host's network namespace, and records
# every connection.
# Expect: the box's 127.0.0.1 is its own loopback, where nothing listens:
# ECONNREFUSED; the abstract socket namespace is per network namespace, so
# the host's socket does not exist here either: ECONNREFUSED. The runner's
# listeners see no connection.
import socket
import sys

from netprobe import errname, tcp_connect

PORT = {{host_port}}
violations = tcp_connect(socket.AF_INET, "127.0.0.1", PORT)
violations += tcp_connect(socket.AF_INET6, "::1", PORT)

u = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
try:
    u.connect("\0{{host_abstract_socket}}")
    print("VIOLATION: connected to the host's abstract socket")
    violations += 1
except OSError as e:
    print(f"abstract socket: {errname(e)}")
finally:
    u.close()
sys.exit(1 if violations else 0)
