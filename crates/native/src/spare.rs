//! The spare box: the next box's cgroups, with a process the jailer forked
//! into them already, prepared off the critical path of the next `create`.

use std::sync::atomic::Ordering;
use std::sync::Arc;

use crate::making::{init_procs, new_box_cgroup};
use crate::reaper;
use crate::state::BackendState;

/// Prepares the spare box unless there is one or one is being prepared.
pub(crate) async fn prepare_spare_box(state: Arc<BackendState>) {
    if state.shutting_down.load(Ordering::Acquire) || state.preparing_spare.swap(true, Ordering::AcqRel) {
        return;
    }
    let has_spare = state.spare_box.lock().map(|s| s.is_some()).unwrap_or(true);
    if !has_spare {
        let this = state.clone();
        let made = tokio::task::spawn_blocking(move || {
            let (making, cgroup) = new_box_cgroup(&this)?;
            match init_procs(&this, &cgroup) {
                Ok(procs) => Ok((making, cgroup, procs)),
                Err(e) => {
                    reaper::remove_tree(&this.layout, &cgroup, 0);
                    Err(e)
                }
            }
        })
        .await;
        if let Ok(Ok((making, cgroup, procs))) = made {
            let prepared = state.jailer.prepare_spare(&making.id.0, procs).await.is_ok()
                && !state.shutting_down.load(Ordering::Acquire);
            if !prepared || !making.into_spare(cgroup.clone()) {
                // Still counted as being made (when `into_spare` did not
                // run) until the clean-up is done.
                let layout = state.layout.clone();
                let _ = tokio::task::spawn_blocking(move || reaper::remove_tree(&layout, &cgroup, 0)).await;
            }
        }
    }
    state.preparing_spare.store(false, Ordering::Release);
}
