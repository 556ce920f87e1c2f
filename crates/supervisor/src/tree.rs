//! A run's whole process tree as the supervisor sees it: its counters, and
//! the means to kill and remove it. On both backends it is the run's own
//! cgroup ([`Cgroup`] implements [`RunTree`]); the supervisor's tests put a
//! tree of their own in its place.

use std::time::Duration;

use bytesbox_cgroups::{Cgroup, CgroupStats};

/// How long emptying a run's tree may take before we give up and report.
pub const KILL_TIMEOUT: Duration = Duration::from_secs(5);

/// What the supervisor needs of a run's process tree. Every method may
/// block (cgroup files); the supervisor calls the slow ones on a blocking
/// thread.
pub trait RunTree: Clone + Send + Sync + 'static {
    /// Whether no process is left in the tree. When that cannot be read,
    /// false, so that the tree is killed anyway.
    fn is_empty(&self) -> bool;

    /// Kills every process in the tree and waits up to `timeout` until
    /// none is left.
    fn kill_all(&self, timeout: Duration);

    /// CPU time the tree has used so far, in nanoseconds (0 when unknown).
    fn cpu_usage_ns(&self) -> u64;

    /// Whether every process of the tree is blocked waiting for the
    /// person's input (`crate::input_wait`); false when that cannot be
    /// told, so that the wall clock runs.
    fn waiting_for_input(&self) -> bool;

    /// The tree's final counters (zeros when unknown).
    fn stats(&self) -> CgroupStats;

    /// Removes the tree, which is empty by then.
    fn remove(&self);
}

impl RunTree for Cgroup {
    fn is_empty(&self) -> bool {
        self.has_processes().map(|busy| !busy).unwrap_or(false)
    }

    fn kill_all(&self, timeout: Duration) {
        let _ = Cgroup::kill_all(self, timeout);
    }

    fn cpu_usage_ns(&self) -> u64 {
        Cgroup::cpu_usage_ns(self).unwrap_or(0)
    }

    fn waiting_for_input(&self) -> bool {
        self.pids().is_ok_and(|pids| crate::input_wait::run_waits_for_input(&pids))
    }

    fn stats(&self) -> CgroupStats {
        Cgroup::stats(self).unwrap_or_default()
    }

    fn remove(&self) {
        let _ = Cgroup::remove(self);
    }
}

/// Kills every process of the tree unless it is empty already (on a
/// blocking thread).
pub(crate) async fn kill_tree<T: RunTree>(tree: &T) {
    if tree.is_empty() {
        return;
    }
    let tree = tree.clone();
    let _ = tokio::task::spawn_blocking(move || tree.kill_all(KILL_TIMEOUT)).await;
}

/// Kills and removes a tree that will not be used (or is used up).
pub(crate) async fn discard_tree<T: RunTree>(tree: T) {
    let _ = tokio::task::spawn_blocking(move || {
        tree.kill_all(KILL_TIMEOUT);
        tree.remove();
    })
    .await;
}

/// Kills and removes a run cgroup that will not be used (or is used up).
pub async fn discard_cgroup(cgroup: Cgroup) {
    discard_tree(cgroup).await;
}
