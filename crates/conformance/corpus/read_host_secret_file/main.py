# Attack: read a file on the host by its absolute host path (the runner
# wrote a secret there), directly and via /proc/1/root; then look for the
# secret's content anywhere in the writable directories of the box.
# Expect: the path does not exist in the box (no such file), /proc/1/root
# is not accessible, and the secret appears nowhere.
import errno
import os

PATH = "{{host_secret_path}}"
SECRET = "{{host_secret}}".encode()


def attempt(label, path):
    try:
        with open(path, "rb") as f:
            data = f.read()
        marker = "with the secret" if SECRET in data else "without the secret"
        print(f"VIOLATION: {label} opened ({len(data)} bytes, {marker})")
    except FileNotFoundError:
        print(f"{label}: no such file")
    except OSError as e:
        print(f"{label}: {errno.errorcode.get(e.errno, e.errno)}")


attempt("host secret file", PATH)
attempt("host secret file via /proc/1/root", "/proc/1/root" + PATH)
attempt("host secret file via /proc/self/root", "/proc/self/root" + PATH)

# This program's own source holds the secret (it was templated in); skip it.
own_source = os.path.realpath(__file__)
for top in ("/tmp", "/workspace", "/dev/shm", os.getcwd()):
    for root, _dirs, files in os.walk(top):
        for name in files:
            path = os.path.join(root, name)
            if os.path.realpath(path) == own_source:
                continue
            try:
                with open(path, "rb") as f:
                    if SECRET in f.read():
                        print(f"VIOLATION: the secret is in {path}")
            except OSError:
                pass
print("scan done")
