//! Removes what a crashed server left behind.
//!
//! Every box lives in `bytesbox/<instance>/…` in each cgroup hierarchy,
//! where `<instance>` names the server process (pid and start time). Box
//! mounts exist only inside the boxes' private mount namespaces and the
//! box processes are all in those cgroups, so emptying and removing a dead
//! instance's cgroup tree removes every process, mount and directory it
//! had. Live instances (other servers, parallel test binaries) are never
//! touched.

use std::path::Path;
use std::time::Duration;

use bytesbox_cgroups::{instance_is_alive, Cgroup, CgroupLayout, ROOT_NAME};

/// Removes the cgroup trees of dead instances; returns how many.
pub fn reap_dead_instances(layout: &CgroupLayout) -> usize {
    let Ok(root) = Cgroup::open_existing(layout, Path::new(ROOT_NAME)) else {
        return 0;
    };
    let Ok(instances) = root.list_children() else {
        return 0;
    };
    let mut reaped = 0;
    for name in instances {
        if instance_is_alive(&name) {
            continue;
        }
        if let Ok(instance) = Cgroup::open_existing(layout, &Path::new(ROOT_NAME).join(&name)) {
            remove_tree(layout, &instance, 0);
            reaped += 1;
        }
    }
    reaped
}

/// Kills everything in a cgroup subtree, then removes it bottom-up.
pub fn remove_tree(layout: &CgroupLayout, cgroup: &Cgroup, depth: usize) {
    if depth > 8 {
        return;
    }
    let _ = cgroup.kill_all(Duration::from_secs(5));
    if let Ok(children) = cgroup.list_children() {
        for child in children {
            if let Ok(inner) = Cgroup::open_existing(layout, &cgroup.relative().join(child)) {
                remove_tree(layout, &inner, depth + 1);
            }
        }
    }
    if let Err(e) = cgroup.remove() {
        tracing::warn!(cgroup = %cgroup.relative().display(), error = %e, "could not remove a leftover cgroup");
    }
}
