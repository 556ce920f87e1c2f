# Attack: open files until the kernel refuses, and try to lift the limit.
# Expect: with open_files = 64 the opens stop with EMFILE below 64 fds,
# raising the hard limit is refused, and after closing them the program
# recovers and exits 0 (graceful, nothing else affected).
import errno
import os
import resource

soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
print(f"RLIMIT_NOFILE soft={soft} hard={hard}")
try:
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard + 1024, hard + 1024))
    print("VIOLATION: raised the hard RLIMIT_NOFILE")
except (ValueError, OSError):
    print("raising the hard limit: refused")

fds = []
try:
    while len(fds) < 100000:
        fds.append(os.open("/dev/null", os.O_RDONLY))
    print("VIOLATION: opened 100000 files without hitting a limit")
except OSError as e:
    print(f"open failed after {len(fds)} files: {errno.errorcode.get(e.errno, e.errno)}")
if len(fds) < 64:
    print("stayed within the open_files limit")
for fd in fds:
    os.close(fd)
print("closed all files; recovered")
with open("after.txt", "w") as f:
    f.write("ok")
print("can open files again")
