//! Cheap cgroup migrations: the cgroup2 root's `favordynmods` flag.
//!
//! Every process that joins a cgroup (a box's init, each launcher, a run
//! that lowers a limit) is a write to `cgroup.procs`, and the kernel takes
//! the write side of its global `cgroup_threadgroup_rwsem` for it. Without
//! `favordynmods` that lock's reader fast path must be switched off first,
//! which waits for an RCU grace period, and it waits while holding
//! `cgroup_mutex`, so every other cgroup `mkdir`, `rmdir` and migration on
//! the host waits too. Here a migration after a quiet moment took 5.9 ms
//! (median of 40) before the flag and 0.19 ms after it. The price is a
//! slightly dearer `fork` and `exit` (they take the lock's slow read path),
//! which is far below a grace period per box.
//!
//! The flag belongs to the cgroup2 root, which exists on every kernel since
//! 4.5 whether or not a v1 layout is in use, and it makes migrations cheap
//! in every hierarchy (the lock is global). It is set by mounting cgroup2
//! with it once (Linux ≥ 6.0): the kernel applies the options of each new
//! cgroup2 mount to the root, so the mount carries the root's other flags
//! too, read from an existing cgroup2 mount, lest they be cleared. The
//! mount is then detached again.

use std::path::Path;

use nix::mount::{mount, umount2, MntFlags, MsFlags};

use crate::error::{CgroupError, Result};
use crate::layout::mounts;

/// The root flag this module turns on.
const FLAG: &str = "favordynmods";

/// What [`favor_dynamic_changes`] found or did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dynmods {
    /// A cgroup2 mount already showed the flag.
    AlreadyOn,
    /// The flag is on now: the probe mount showed it.
    TurnedOn,
}

/// The options to mount cgroup2 with: the root's flags as an existing
/// cgroup2 mount shows them, without `rw`/`ro`, plus `favordynmods`.
/// `None` when a cgroup2 mount already shows the flag.
pub(crate) fn options_with_flag(mountinfo: &str) -> Option<String> {
    let existing = mounts(mountinfo).into_iter().find(|m| m.fstype == "cgroup2");
    let mut options: Vec<&str> = Vec::new();
    if let Some(existing) = &existing {
        for option in existing.super_options.split(',') {
            if option == FLAG {
                return None;
            }
            if !option.is_empty() && option != "rw" && option != "ro" {
                options.push(option);
            }
        }
    }
    let mut options: Vec<String> = options.into_iter().map(str::to_owned).collect();
    options.push(FLAG.to_owned());
    Some(options.join(","))
}

/// Turns on the cgroup2 root's `favordynmods` flag (see the module's
/// documentation), mounting cgroup2 on the empty directory `probe_dir`
/// (made if missing) for a moment. Needs root in the initial cgroup
/// namespace; fails on kernels before 6.0, which lack the flag.
pub fn favor_dynamic_changes(probe_dir: &Path) -> Result<Dynmods> {
    let mountinfo = std::fs::read_to_string(crate::layout::MOUNTINFO)
        .map_err(|source| CgroupError::Mountinfo { path: crate::layout::MOUNTINFO.into(), source })?;
    let Some(options) = options_with_flag(&mountinfo) else {
        return Ok(Dynmods::AlreadyOn);
    };
    let failed = |reason: String| CgroupError::Dynmods { reason };
    std::fs::create_dir_all(probe_dir).map_err(|e| failed(format!("cannot create {}: {e}", probe_dir.display())))?;
    mount(
        Some("cgroup2"),
        probe_dir,
        Some("cgroup2"),
        MsFlags::MS_NOSUID | MsFlags::MS_NODEV | MsFlags::MS_NOEXEC,
        Some(options.as_str()),
    )
    .map_err(|e| failed(format!("mount -t cgroup2 -o {options} on {}: {e}", probe_dir.display())))?;
    // The kernel ignores root flags from inside a cgroup namespace: read
    // back what the root has now rather than trust the mount's success.
    let applied = std::fs::read_to_string(crate::layout::MOUNTINFO)
        .map(|text| options_with_flag(&text).is_none())
        .unwrap_or(false);
    let unmounted = umount2(probe_dir, MntFlags::MNT_DETACH);
    let _ = std::fs::remove_dir(probe_dir);
    unmounted.map_err(|e| failed(format!("umount {}: {e}", probe_dir.display())))?;
    if applied {
        Ok(Dynmods::TurnedOn)
    } else {
        Err(failed("the cgroup2 root did not take the flag (is this a cgroup namespace?)".into()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const HYBRID: &str = "\
30 25 0:26 / /sys/fs/cgroup/unified rw,nosuid,nodev,noexec,relatime shared:5 - cgroup2 cgroup2 rw
31 25 0:27 / /sys/fs/cgroup/memory rw,nosuid,nodev,noexec,relatime shared:6 - cgroup cgroup rw,memory
";
    const V2_WITH_FLAGS: &str = "\
30 25 0:26 / /sys/fs/cgroup rw,nosuid,nodev,noexec,relatime shared:5 - cgroup2 cgroup2 rw,nsdelegate,memory_recursiveprot
";

    #[test]
    fn keeps_the_roots_other_flags() {
        assert_eq!(options_with_flag(V2_WITH_FLAGS).as_deref(), Some("nsdelegate,memory_recursiveprot,favordynmods"));
        assert_eq!(options_with_flag(HYBRID).as_deref(), Some("favordynmods"));
    }

    #[test]
    fn nothing_to_do_when_a_mount_shows_the_flag() {
        let on = V2_WITH_FLAGS.replace("memory_recursiveprot", "memory_recursiveprot,favordynmods");
        assert_eq!(options_with_flag(&on), None);
    }

    #[test]
    fn a_host_without_a_cgroup2_mount_gets_the_flag_alone() {
        let v1_only = "31 25 0:27 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory\n";
        assert_eq!(options_with_flag(v1_only).as_deref(), Some("favordynmods"));
    }
}
