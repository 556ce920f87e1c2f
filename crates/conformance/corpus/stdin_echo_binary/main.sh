# Attack (on the plumbing): binary stdin with NUL bytes, 0xff and CR/LF.
# Expect: echoed byte for byte (no terminal processing on a pipe run).
exec cat
