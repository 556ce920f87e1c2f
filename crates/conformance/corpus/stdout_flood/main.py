# Attack: write to stdout as fast as possible, forever.
# Expect: the backend stops reading at the 256 KiB cap, kills the run with
# status output_limit (even if the program dies of EPIPE in between) and
# delivers the bytes before the cap: at most 262144, most of them.
import sys

line = b"A" * 1023 + b"\n"
out = sys.stdout.buffer
while True:
    out.write(line * 64)
