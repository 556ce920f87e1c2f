# Attack: reach the internet: TCP to public addresses (IPv4 and IPv6), a
# UDP DNS query to a public resolver, and a DNS lookup.
# Expect: the box has only its own loopback and no route, so every attempt
# fails immediately with ENETUNREACH (no timeout), and name resolution
# fails. No packet leaves the box.
import socket
import sys

from netprobe import errname, tcp_connect

violations = 0
for family, host, port in (
    (socket.AF_INET, "1.1.1.1", 80),
    (socket.AF_INET, "8.8.8.8", 53),
    (socket.AF_INET, "93.184.216.34", 443),
    (socket.AF_INET6, "2606:4700:4700::1111", 80),
):
    violations += tcp_connect(family, host, port, timed=True)

# A real DNS query (example.com, type A), so only an answer proves egress:
# a backend whose box has a route may accept the datagram locally and drop
# it later, which is no egress; a reply is.
QUERY = bytes.fromhex("b10b01000001000000000000076578616d706c6503636f6d0000010001")
u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
u.settimeout(3)
try:
    u.sendto(QUERY, ("8.8.8.8", 53))
    try:
        reply, sender = u.recvfrom(512)
        print(f"VIOLATION: {len(reply)} bytes came back from {sender[0]}:{sender[1]}")
        violations += 1
    except OSError as e:
        print(f"udp 8.8.8.8:53: sent, no reply ({errname(e)})")
except OSError as e:
    print(f"udp 8.8.8.8:53: {errname(e)}")
u.close()

try:
    socket.getaddrinfo("example.com", 80)
    print("VIOLATION: example.com resolved")
    violations += 1
except OSError:
    print("dns lookup of example.com: failed")

try:
    with open("/proc/net/route") as f:
        routes = [line for line in f.read().splitlines()[1:] if line.strip()]
    print(f"ipv4 routes: {len(routes)}")
except OSError as e:
    print(f"/proc/net/route: {errname(e)}")
sys.exit(1 if violations else 0)
