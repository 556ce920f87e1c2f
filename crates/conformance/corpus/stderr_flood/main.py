# Attack: write to stderr as fast as possible, forever (stdout stays quiet
# after one line).
# Expect: the stderr cap applies just like stdout's: status output_limit,
# at most 262144 bytes of stderr delivered, most of them.
import sys

print("flooding stderr", flush=True)
line = b"E" * 1023 + b"\n"
err = sys.stderr.buffer
while True:
    err.write(line * 64)
