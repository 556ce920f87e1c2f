//! The cgroup limits of a run.

use bytesbox_cgroups::CgroupLimits;
use bytesbox_sandbox::{BoxSpec, RunLimits};

/// The cgroup limits of a run: only those it sets lower than its box's.
/// The box's own limits already bound every cgroup below it, and a write
/// costs: each CPU quota set walks every CPU cgroup on the host (the
/// kernel checks the quotas of the whole tree), so a run that keeps its
/// box's quota writes none. A run may never get more than its box (on
/// cgroup v1 a child's CPU quota may not exceed its parent's).
pub fn run_cgroup_limits(limits: &RunLimits, spec: &BoxSpec) -> CgroupLimits {
    CgroupLimits {
        memory_bytes: lower(limits.memory_bytes, spec.limits.memory_bytes),
        pids: lower(limits.pids, spec.limits.pids),
        cpu_millicores: lower(limits.cpu_millicores, spec.limits.cpu_millicores),
    }
}

/// The cgroup limits to write on a prepared launcher's cgroup, which
/// already holds a default run's ([`run_cgroup_limits`] of
/// `RunLimits::default()`), for a run of `limits`: the run's where it
/// lowers its box's, and the box's own where the run keeps the box's but
/// the default run lowered it. Without that lift, a run allowed as much as
/// its box (a notebook kernel, a language server) would keep the default
/// run's memory and CPU.
pub fn launcher_cgroup_limits(limits: &RunLimits, spec: &BoxSpec) -> CgroupLimits {
    let wanted = run_cgroup_limits(limits, spec);
    let held = run_cgroup_limits(&RunLimits::default(), spec);
    CgroupLimits {
        memory_bytes: lifted(wanted.memory_bytes, held.memory_bytes, spec.limits.memory_bytes),
        pids: lifted(wanted.pids, held.pids, spec.limits.pids),
        cpu_millicores: lifted(wanted.cpu_millicores, held.cpu_millicores, spec.limits.cpu_millicores),
    }
}

fn lifted<T>(wanted: Option<T>, held: Option<T>, of_box: T) -> Option<T> {
    match (wanted, held) {
        (None, Some(_)) => Some(of_box),
        (wanted, _) => wanted,
    }
}

fn lower<T: PartialOrd>(run: T, of_box: T) -> Option<T> {
    (run < of_box).then_some(run)
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
        assert_eq!((limits.memory_bytes, limits.pids, limits.cpu_millicores), (None, Some(3), None));
    }

    #[test]
    fn a_launchers_cgroup_is_lifted_to_the_box_for_a_run_allowed_as_much() {
        let spec = BoxSpec::default();
        let defaults = RunLimits::default();
        assert!(defaults.memory_bytes < spec.limits.memory_bytes, "a default run's memory is below its box's");
        let whole = RunLimits { memory_bytes: u64::MAX, cpu_millicores: u32::MAX, ..RunLimits::default() };
        let limits = launcher_cgroup_limits(&whole, &spec);
        assert_eq!(limits.memory_bytes, Some(spec.limits.memory_bytes));
        assert_eq!(limits.cpu_millicores, Some(spec.limits.cpu_millicores));
        let half = RunLimits { memory_bytes: spec.limits.memory_bytes / 2, ..RunLimits::default() };
        assert_eq!(launcher_cgroup_limits(&half, &spec).memory_bytes, Some(spec.limits.memory_bytes / 2));
        assert_eq!(launcher_cgroup_limits(&defaults, &spec), run_cgroup_limits(&defaults, &spec));
    }

    #[test]
    fn a_run_cgroup_gets_only_the_limits_its_run_lowers() {
        let spec = BoxSpec::default();
        let same =
            run_cgroup_limits(&RunLimits { memory_bytes: spec.limits.memory_bytes, ..RunLimits::default() }, &spec);
        assert_eq!(same.memory_bytes, None);
        let lower = RunLimits { memory_bytes: spec.limits.memory_bytes / 2, ..RunLimits::default() };
        assert_eq!(run_cgroup_limits(&lower, &spec).memory_bytes, Some(spec.limits.memory_bytes / 2));
    }
}
