# Sanity (the loopback must work): a TCP server and client in the same run
# over the box's own 127.0.0.1, plus a UDP round trip.
# Expect: both exchanges succeed.
import socket
import threading

server = socket.socket()
server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
server.bind(("127.0.0.1", 0))
server.listen(1)
port = server.getsockname()[1]


def serve():
    conn, _ = server.accept()
    with conn:
        conn.sendall(b"echo:" + conn.recv(64))


thread = threading.Thread(target=serve)
thread.start()
with socket.create_connection(("127.0.0.1", port), timeout=10) as client:
    client.sendall(b"hello")
    reply = client.recv(64)
thread.join()
print("tcp loopback:", reply.decode())

a = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
a.bind(("127.0.0.1", 0))
b = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
b.settimeout(10)
b.sendto(b"datagram", a.getsockname())
data, _ = a.recvfrom(64)
print("udp loopback:", data.decode())
