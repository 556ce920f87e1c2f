# Attacks: kernel memory outside the memory limit. Opens up to 400 TCP
# connections to itself on 127.0.0.1 and fills each with non-blocking
# writes that are never read, so the data sits in kernel socket buffers
# (send queue of one end, receive queue of the other), not in the
# process's own memory.
# Expect: the socket buffers are charged to the run's 128 MiB limit, so
# writes stop (EAGAIN) at roughly that much queued in total. More than
# twice the limit is a VIOLATION. The writer stops on its own at 384 MiB
# so a broken sandbox costs the host no more than that.
import errno
import socket
import time

MIB = 1 << 20
LIMIT = 128 * MIB
STOP_AT = 384 * MIB
chunk = b"x" * (64 * 1024)
deadline = time.monotonic() + 8

server = socket.socket()
server.bind(("127.0.0.1", 0))
server.listen(512)
address = server.getsockname()

held = []
queued = 0
full_sockets = 0
for _ in range(400):
    if queued >= STOP_AT or time.monotonic() > deadline:
        break
    try:
        client = socket.create_connection(address)
        accepted, _ = server.accept()
    except OSError as e:
        print(f"connect stopped: {errno.errorcode.get(e.errno, e.errno)}")
        break
    held.append((client, accepted))
    client.setblocking(False)
    while queued < STOP_AT and time.monotonic() < deadline:
        try:
            queued += client.send(chunk)
        except BlockingIOError:
            full_sockets += 1
            break
        except OSError as e:
            print(f"send stopped: {errno.errorcode.get(e.errno, e.errno)}")
            break

print(f"connections: {len(held)}")
print(f"queued MiB: {queued // MIB}")
if queued > 2 * LIMIT:
    print(f"VIOLATION: {queued // MIB} MiB queued in socket buffers past a {LIMIT // MIB} MiB limit")
