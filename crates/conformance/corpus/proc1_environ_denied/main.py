# Attack: inspect the box's pid 1 (the backend's init, root and not
# dumpable): its environment, memory, maps, root, cwd and open files.
# Expect: every access is refused: permission denied (EACCES), or the
# process is hidden altogether (ENOENT, /proc mounted with hidepid); nothing
# is read.
import errno
import os


def probe(leaf, kind):
    path = f"/proc/1/{leaf}"
    try:
        if kind == "dir":
            entries = os.listdir(path)
            print(f"VIOLATION: listed {path} ({len(entries)} entries)")
        else:
            with open(path, "rb") as f:
                data = f.read(4096)
            print(f"VIOLATION: read {path} ({len(data)} bytes)")
    except PermissionError:
        print(f"{path}: denied (permission denied)")
    except FileNotFoundError:
        print(f"{path}: denied (hidden)")
    except OSError as e:
        print(f"{path}: refused ({errno.errorcode.get(e.errno, e.errno)})")


probe("environ", "file")
probe("mem", "file")
probe("maps", "file")
probe("root", "dir")
probe("cwd", "dir")
probe("fd", "dir")
print("pid 1 probed")
