//! The cgroup limits of a run.

use bytesbox_cgroups::CgroupLimits;
use bytesbox_sandbox::{BoxSpec, RunLimits};

/// The cgroup limits of a run, never above its box's (on cgroup v1 a
/// child's CPU quota may not exceed its parent's).
pub fn run_cgroup_limits(limits: &RunLimits, spec: &BoxSpec) -> CgroupLimits {
    CgroupLimits {
        memory_bytes: Some(limits.memory_bytes.min(spec.limits.memory_bytes)),
        pids: Some(limits.pids.min(spec.limits.pids)),
        cpu_millicores: Some(limits.cpu_millicores.min(spec.limits.cpu_millicores)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_run_never_gets_more_than_its_box() {
        let mut spec = BoxSpec::default();
        spec.limits.memory_bytes = 100;
        spec.limits.pids = 5;
        spec.limits.cpu_millicores = 500;
        let run = RunLimits { memory_bytes: 200, pids: 3, cpu_millicores: 2000, ..RunLimits::default() };
        let limits = run_cgroup_limits(&run, &spec);
        assert_eq!((limits.memory_bytes, limits.pids, limits.cpu_millicores), (Some(100), Some(3), Some(500)));
    }
}
