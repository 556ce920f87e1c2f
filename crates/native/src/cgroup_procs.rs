//! The `cgroup.procs` files the server opens for the jail: a process the
//! jail forks writes "0" into them and so joins the cgroups, without the
//! jail ever being able to name a cgroup itself.

use std::os::fd::OwnedFd;

use bytesbox_cgroups::Cgroup;
use bytesbox_sandbox::SandboxError;

/// Opens a cgroup's `cgroup.procs` files for the jail to write "0" into.
pub(crate) fn open_procs(cgroup: &Cgroup) -> Result<Vec<OwnedFd>, SandboxError> {
    cgroup
        .procs_files()
        .iter()
        .map(|path| {
            std::fs::OpenOptions::new()
                .write(true)
                .open(path)
                .map(OwnedFd::from)
                .map_err(|e| SandboxError::Internal(format!("open {}: {e}", path.display())))
        })
        .collect()
}
