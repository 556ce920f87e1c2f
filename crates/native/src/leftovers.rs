//! The leak check: everything of this backend still on the host beyond
//! its live boxes, its spare and the boxes in transit.

use std::sync::atomic::Ordering;

use crate::state::BackendState;

/// Cgroups and processes running as a box uid that no box accounts for;
/// empty when nothing leaked.
pub(crate) fn leftovers(state: &BackendState) -> Vec<String> {
    let mut found = Vec::new();
    // One consistent view: boxes move between the table, the spare slot
    // and the in-transit set only while `making` is locked, and a new
    // box cgroup is registered before its directory exists.
    let making = state.making.lock();
    let mut expected: Vec<String> =
        making.as_ref().map(|m| m.keys().map(|id| id.0.clone()).collect()).unwrap_or_default();
    expected
        .extend(state.boxes.lock().map(|b| b.keys().map(|id| id.0.clone()).collect::<Vec<_>>()).unwrap_or_default());
    expected.extend(state.spare_box.lock().ok().and_then(|s| s.as_ref().map(|s| s.id.0.clone())));
    let instance = state.instance_cgroup();
    let shutting_down = state.shutting_down.load(Ordering::Acquire);
    for hierarchy in state.layout.hierarchies() {
        let dir = hierarchy.join(&instance);
        match std::fs::read_dir(&dir) {
            Ok(entries) => {
                if shutting_down {
                    found.push(format!("cgroup {} still exists after shutdown", dir.display()));
                }
                for entry in entries.flatten() {
                    let name = entry.file_name().to_string_lossy().into_owned();
                    if entry.path().is_dir() && !expected.contains(&name) {
                        found.push(format!("cgroup {}", entry.path().display()));
                    }
                }
            }
            Err(_) if shutting_down => {}
            Err(e) => found.push(format!("cgroup {} is missing: {e}", dir.display())),
        }
    }
    let mut live_uids: Vec<u32> = state.boxes.lock().map(|b| b.values().map(|x| x.uid).collect()).unwrap_or_default();
    live_uids.extend(making.as_ref().map(|m| m.values().flatten().copied().collect::<Vec<_>>()).unwrap_or_default());
    let range = state.config.uid_base..state.config.uid_base.saturating_add(state.config.uid_count);
    for (pid, uid) in processes_with_uids(&range) {
        if !live_uids.contains(&uid) {
            found.push(format!("process {pid} running as box uid {uid}"));
        }
    }
    drop(making);
    found
}

/// Host processes whose real uid is in `range`, as (pid, uid).
fn processes_with_uids(range: &std::ops::Range<u32>) -> Vec<(i32, u32)> {
    let mut found = Vec::new();
    let Ok(entries) = std::fs::read_dir("/proc") else { return found };
    for entry in entries.flatten() {
        let Ok(pid) = entry.file_name().to_string_lossy().parse::<i32>() else { continue };
        let Ok(status) = std::fs::read_to_string(entry.path().join("status")) else { continue };
        let uid = status
            .lines()
            .find_map(|l| l.strip_prefix("Uid:"))
            .and_then(|rest| rest.split_whitespace().next())
            .and_then(|u| u.parse::<u32>().ok());
        if let Some(uid) = uid.filter(|u| range.contains(u)) {
            found.push((pid, uid));
        }
    }
    found
}
