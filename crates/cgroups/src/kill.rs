//! Sending SIGKILL to the processes found in a cgroup.

use std::path::PathBuf;
use std::time::Duration;

use nix::errno::Errno;
use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;

use crate::cgfs;
use crate::error::Result;

/// After killing, how long to wait for the processes to exit before freezing
/// and looking again. Exit is quick, but tearing down a large address space
/// can take tens of milliseconds; looping sooner would only re-kill the dying.
pub(crate) const SETTLE: Duration = Duration::from_millis(50);

/// SIGKILLs every pid. Already-gone processes (ESRCH) are fine; any other
/// failure is logged and left for the caller's "still there?" check, which
/// turns it into a timeout error naming the survivors.
pub(crate) fn sigkill(pids: &[i32]) {
    let me = i32::try_from(std::process::id()).unwrap_or(i32::MAX);
    for &pid in pids {
        // 0 and negative pids address process groups or every process; the
        // procs parser already rejects them, this is the last line of defence.
        // Killing ourselves would take the whole server down.
        if pid <= 0 || pid == me {
            tracing::warn!(pid, "refusing to SIGKILL this pid found in a cgroup");
            continue;
        }
        match kill(Pid::from_raw(pid), Signal::SIGKILL) {
            Ok(()) | Err(Errno::ESRCH) => {}
            Err(errno) => tracing::warn!(pid, %errno, "SIGKILL failed"),
        }
    }
}

/// Collects, sorted and without duplicates, the processes of the cgroup
/// directories `dirs` and of all cgroups below them.
pub(crate) fn procs_in_trees(dirs: &[PathBuf], out: &mut Vec<i32>) -> Result<()> {
    out.clear();
    for dir in dirs {
        cgfs::collect_procs_tree(dir, out)?;
    }
    out.sort_unstable();
    out.dedup();
    Ok(())
}
