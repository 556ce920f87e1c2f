# Attack: read password hashes and other credentials of the host.
# Expect: none of these files can be read (absent from the box's root
# filesystem, or permission denied for the unprivileged user).
import errno
import sys

PATHS = [
    "/etc/shadow",
    "/etc/gshadow",
    "/etc/shadow-",
    "/etc/sudoers",
    "/etc/ssh/ssh_host_ed25519_key",
    "/etc/ssh/ssh_host_rsa_key",
    "/root/.ssh/id_rsa",
    "/root/.bash_history",
]
leaked = False
for path in PATHS:
    try:
        with open(path, "rb") as f:
            data = f.read()
        print(f"VIOLATION: read {path} ({len(data)} bytes)")
        leaked = True
    except OSError as e:
        print(f"{path}: not readable ({errno.errorcode.get(e.errno, e.errno)})")
if leaked:
    sys.exit(1)
print("no credential file readable")
