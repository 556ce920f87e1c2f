//! The leak check: what of this backend exists in the engine and on the
//! host beyond its live boxes and its spare.

use std::collections::HashSet;
use std::path::PathBuf;
use std::sync::atomic::Ordering;

use bytesbox_cgroups::instance_path;

use crate::spare::settle_spares;
use crate::state::BackendState;
use crate::{cgroup_dirs, reaper};

/// Something of this backend still on the host or in the engine.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Leftover {
    /// A container with this backend's instance label.
    Container(String),
    /// A network with this backend's instance label.
    Network(String),
    /// A volume with this backend's instance label.
    Volume(String),
    /// A subnet still taken from the pool (after shutdown).
    Subnets(usize),
    /// The instance's cgroup directory (after shutdown).
    Cgroup(PathBuf),
}

/// What exists beyond the live boxes' objects (everything, once the
/// backend has been shut down).
pub(crate) async fn leftovers(state: &BackendState) -> Vec<Leftover> {
    // Spares being made are finished first, so nothing is half made.
    settle_spares(state).await;
    let mut live: HashSet<String> =
        state.boxes.lock().map(|b| b.values().map(|x| x.objects.name.clone()).collect()).unwrap_or_default();
    live.extend(state.spares.ready_names());
    let mut found = Vec::new();
    for (kind, name) in reaper::objects_of_instance(&state.docker, &state.instance).await {
        if live.contains(&name) {
            continue;
        }
        found.push(match kind {
            reaper::Kind::Container => Leftover::Container(name),
            reaper::Kind::Network => Leftover::Network(name),
            reaper::Kind::Volume => Leftover::Volume(name),
        });
    }
    let in_use = state.subnets.lock().map(|p| p.in_use()).unwrap_or(0);
    if in_use > live.len() {
        found.push(Leftover::Subnets(in_use - live.len()));
    }
    if state.shutting_down.load(Ordering::Acquire) {
        // Every hierarchy of the host: the engine makes the instance's
        // directory in more of them than the layout uses.
        let mut mounts = cgroup_dirs::cgroup_mounts();
        for root in state.layout.hierarchies() {
            if !mounts.contains(root) {
                mounts.push(root.clone());
            }
        }
        for dir in cgroup_dirs::existing_dirs(&mounts, &instance_path(&state.instance)) {
            found.push(Leftover::Cgroup(dir));
        }
    }
    found
}
