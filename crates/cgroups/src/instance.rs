//! Instance names: `i<pid>-<starttime>-<serial>` identifies one backend in
//! one server process, so
//! parallel servers (and test binaries) never share a subtree, and a reaper
//! can tell a dead instance's leftovers from a live one's (pids are reused,
//! pid plus start time is not).

use std::fs;
use std::path::PathBuf;

use crate::error::{CgroupError, Result};
use crate::ROOT_NAME;

/// A new instance name in the calling process, `i<pid>-<starttime>-<serial>`.
pub fn current_instance_name() -> Result<String> {
    static NEXT: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
    let pid = std::process::id();
    let start = start_time(&format!("/proc/{pid}/stat"))?;
    // Several backends may live in one process (test binaries do this):
    // each gets its own subtree, and all of them belong to this process.
    let serial = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    Ok(format!("i{pid}-{start}-{serial}"))
}

/// The cgroup path of an instance, relative to a hierarchy root:
/// `bytesbox/<instance>`.
pub fn instance_path(instance: &str) -> PathBuf {
    [ROOT_NAME, instance].iter().collect()
}

/// Whether the server process an `i<pid>-<starttime>` name was made for is
/// still running. Names of any other shape are reported as not alive, so a
/// reaper treats them as leftovers.
pub fn instance_is_alive(name: &str) -> bool {
    let Some((pid, start)) = name.strip_prefix('i').map(|rest| rest.split('-').collect::<Vec<_>>()).and_then(|parts| {
        match parts.as_slice() {
            [pid, start] | [pid, start, _] => Some((pid.parse::<u32>().ok()?, start.parse::<u64>().ok()?)),
            _ => None,
        }
    }) else {
        return false;
    };
    matches!(start_time(&format!("/proc/{pid}/stat")), Ok(s) if s == start)
}

/// Field 22 of `/proc/<pid>/stat`: start time in clock ticks since boot.
fn start_time(path: &str) -> Result<u64> {
    let text = fs::read_to_string(path).map_err(|source| CgroupError::Read { path: PathBuf::from(path), source })?;
    parse_start_time(&text)
        .ok_or_else(|| CgroupError::Parse { path: PathBuf::from(path), reason: "no start time field".to_owned() })
}

fn parse_start_time(stat: &str) -> Option<u64> {
    // The command name (field 2) is in parentheses and may hold spaces and
    // parentheses itself, so count fields from the last `)`: field 3 is the
    // first after it, field 22 the 20th.
    let after_comm = &stat[stat.rfind(')')? + 1..];
    after_comm.split_whitespace().nth(19)?.parse().ok()
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn start_time_survives_odd_command_names() {
        let stat = "4242 (a) b (c) S 1 4242 4242 0 -1 4194560 100 0 0 0 1 2 0 0 20 0 1 0 987654 1000 100";
        assert_eq!(parse_start_time(stat), Some(987_654));
        assert_eq!(parse_start_time("garbage"), None);
    }

    #[test]
    fn own_instance_is_alive_and_others_are_not() {
        let me = current_instance_name().unwrap();
        assert!(me.starts_with(&format!("i{}-", std::process::id())), "{me}");
        assert!(instance_is_alive(&me));
        let parts: Vec<&str> = me.split('-').collect();
        let start: u64 = parts[1].parse().unwrap();
        assert!(!instance_is_alive(&format!("{}-{}-0", parts[0], start + 1)), "another start time is another process");
        assert!(instance_is_alive(&format!("{}-{}", parts[0], parts[1])), "names without a serial still parse");
        let other = current_instance_name().unwrap();
        assert_ne!(other, me, "every backend in a process gets its own name");
        assert!(instance_is_alive(&other));
        assert!(!instance_is_alive(&format!("{me}-extra")));
        assert!(!instance_is_alive("t123-test"));
        assert!(!instance_is_alive("i-1-2"));
        assert_eq!(instance_path(&me), PathBuf::from(format!("bytesbox/{me}")));
    }
}
