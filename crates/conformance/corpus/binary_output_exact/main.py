# Attack: output that is not text -- every byte value, NUL bytes, invalid
# UTF-8 sequences, a lone CR -- on both streams.
# Expect: delivered byte for byte, with no decoding, escaping or newline
# translation.
import sys

payload = bytes(range(256)) + b"\x00\x00 nul-bytes \xff\xfe invalid utf-8 \xc3\x28 \r\n"
sys.stdout.buffer.write(payload)
sys.stdout.buffer.flush()
sys.stderr.buffer.write(b"err\x00\xff\x80\n")
sys.stderr.buffer.flush()
