# Attack: grow a Python list of distinct, fully written 1 MiB blocks forever.
# Expect: the cgroup memory limit (64 MiB here, no swap) OOM-kills the run
# with status memory_limit well before 96 MiB were allocated.
chunks = []
mib = 0
while True:
    chunks.append(bytes([mib % 251 + 1]) * (1 << 20))
    mib += 1
    if mib % 16 == 0:
        print(f"allocated {mib} MiB", flush=True)
