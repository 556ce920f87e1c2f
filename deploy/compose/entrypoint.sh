#!/bin/sh
# A node's entrypoint (deploy/compose/Dockerfile). On cgroup v2 a
# container's /sys/fs/cgroup is its own cgroup, which holds this process,
# and the kernel refuses to enable controllers for the children of a cgroup
# that holds processes (only the host's root is exempt). The native backend
# makes its boxes' cgroups below that root, so first move every process of
# the container into a leaf of its own, `server`. cgroup v1 has no such
# rule: nothing to do.
set -eu
root=/sys/fs/cgroup
if [ -f "$root/cgroup.controllers" ] && [ -s "$root/cgroup.procs" ]; then
    mkdir -p "$root/server"
    while read -r pid; do
        echo "$pid" >"$root/server/cgroup.procs" 2>/dev/null || true
    done <"$root/cgroup.procs"
fi
exec /usr/local/bin/bytesbox "$@"
