//! A run's cgroup as the supervisor's `RunTree`, handed back to its box
//! for the next launcher when the run is over instead of being removed.
//!
//! Removing a memory cgroup is the dearest part of a run: the kernel
//! reparents the cgroup's entry in every memory-aware shrinker list of the
//! host, one per superblock, so the cost grows with the number of live
//! boxes (each has a few filesystems of its own). A run that set no limits
//! of its own leaves an empty cgroup that serves the next run as well,
//! with its counters started afresh (`Cgroup::restart_counters`).

use std::sync::Weak;
use std::time::Duration;

use bytesbox_cgroups::{Cgroup, CgroupStats};
use bytesbox_supervisor::RunTree;

use crate::sandbox_box::SandboxBox;

/// A run cgroup that still holds more memory than this (files its run
/// left in a tmpfs, kernel objects) is removed rather than reused, so the
/// next run's peak starts near zero.
const REUSE_MAX_CHARGED_BYTES: u64 = 1024 * 1024;

/// Keeps an emptied run cgroup in `sandbox` for its next launcher or
/// run (blocking); false when it cannot serve again (processes left in it,
/// memory charged, counters the kernel cannot restart, or the box is being
/// destroyed or keeps one already): the caller removes it then.
pub(crate) fn keep_for_next_run(sandbox: &SandboxBox, cgroup: &Cgroup) -> bool {
    if !RunTree::is_empty(cgroup) {
        return false;
    }
    let charged = cgroup.memory_current_bytes().unwrap_or(u64::MAX);
    if charged > REUSE_MAX_CHARGED_BYTES {
        return false;
    }
    let mut reused = cgroup.clone();
    reused.restart_counters().is_ok() && sandbox.keep_for_reuse(reused)
}

/// A run's cgroup and the box that may take it back.
#[derive(Clone, Debug)]
pub(crate) struct RunCgroup {
    cgroup: Cgroup,
    sandbox: Weak<SandboxBox>,
    /// The run kept the launcher's limits, so the cgroup can serve again.
    reusable: bool,
    /// The run took the slow path (its box had no launcher): the box's next
    /// launcher is prepared once the run is over, in this cgroup if it can
    /// serve again, rather than in a new one while it runs.
    launcher_after: bool,
}

impl RunCgroup {
    pub(crate) fn new(cgroup: Cgroup, sandbox: Weak<SandboxBox>, reusable: bool, launcher_after: bool) -> RunCgroup {
        RunCgroup { cgroup, sandbox, reusable, launcher_after }
    }

    /// Gives the empty cgroup back to its box; false when it cannot serve
    /// again.
    fn give_back(&self) -> bool {
        let Some(sandbox) = self.sandbox.upgrade() else { return false };
        self.reusable && keep_for_next_run(&sandbox, &self.cgroup)
    }
}

impl RunTree for RunCgroup {
    fn is_empty(&self) -> bool {
        RunTree::is_empty(&self.cgroup)
    }

    fn kill_all(&self, timeout: Duration) {
        RunTree::kill_all(&self.cgroup, timeout);
    }

    fn cpu_usage_ns(&self) -> u64 {
        RunTree::cpu_usage_ns(&self.cgroup)
    }

    fn waiting_for_input(&self) -> bool {
        RunTree::waiting_for_input(&self.cgroup)
    }

    fn stats(&self) -> CgroupStats {
        RunTree::stats(&self.cgroup)
    }

    fn remove(&self) {
        if !self.give_back() {
            RunTree::remove(&self.cgroup);
        }
        // Called on a blocking thread of the runtime.
        if let (true, Some(sandbox), Ok(runtime)) =
            (self.launcher_after, self.sandbox.upgrade(), tokio::runtime::Handle::try_current())
        {
            runtime.spawn(sandbox.prepare_launcher());
        }
    }
}
