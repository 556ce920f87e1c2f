# Attack: plant symlinks in the workspace that point outside it
# (x -> /etc/passwd, root -> /, a loop and a dangling link) and a hard link
# to /etc/passwd, then read through them. The runner then calls get_files,
# which must list the links as skipped "symlink" and never follow them.
# Expect: through the links the program only sees the box's own files (the
# host secret file is not there, /etc/shadow is not readable); the hard
# link is refused.
ln -s /etc/passwd x
ln -s / root
ln -s . loop
ln -s /nonexistent/target dangling
echo "regular file" > regular.txt
echo "readlink x: $(readlink x)"
if cat "root{{host_secret_path}}" >/dev/null 2>&1; then
    echo "VIOLATION: the host secret file is reachable through the root symlink"
else
    echo "host secret file not reachable through the root symlink"
fi
if cat root/etc/shadow >/dev/null 2>&1; then
    echo "VIOLATION: /etc/shadow readable through the root symlink"
else
    echo "shadow not readable through the root symlink"
fi
if head -n 1 x >/dev/null 2>&1; then
    echo "x resolves inside the box"
fi
if ln /etc/passwd hard 2>/dev/null; then
    echo "VIOLATION: hard link to /etc/passwd created"
else
    echo "hard link to /etc/passwd refused"
fi
echo "links planted"
