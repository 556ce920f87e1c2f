//! Boxes in transit: a box whose cgroups exist but which is in neither the
//! box table nor the spare slot (being made, a spare being prepared, or
//! being destroyed). They are registered under the `making` lock, so the
//! leak check sees every box cgroup as expected at every moment.

use std::sync::atomic::Ordering;
use std::sync::Arc;

use bytesbox_cgroups::{Cgroup, INIT_LEAF};
use bytesbox_sandbox::{BoxId, SandboxError};

use crate::cgroup_procs::open_procs;
use crate::sandbox_box::SandboxBox;
use crate::slot::fill_empty_slot;
use crate::state::{BackendState, SpareBox};

/// Registers a box as in transit for as long as it lives; drop it only once
/// the box is in the box table or the spare slot, or cleaned up.
#[derive(Debug)]
pub(crate) struct Making {
    state: Arc<BackendState>,
    pub(crate) id: BoxId,
}

impl Making {
    fn new(state: &Arc<BackendState>, id: BoxId) -> Making {
        if let Ok(mut making) = state.making.lock() {
            making.insert(id.clone(), None);
        }
        Making { state: state.clone(), id }
    }

    /// Takes the spare, registering it as being made in the same step.
    pub(crate) fn take_spare(state: &Arc<BackendState>) -> Option<(Making, SpareBox)> {
        let mut making = state.making.lock().ok()?;
        let spare = state.spare_box.lock().ok()?.take()?;
        making.insert(spare.id.clone(), None);
        Some((Making { state: state.clone(), id: spare.id.clone() }, spare))
    }

    /// Removes a box from the table for destruction; it counts as in
    /// transit (with its uid) until the returned guard drops, after its
    /// cgroups are gone.
    pub(crate) fn take_box(state: &Arc<BackendState>, id: &BoxId) -> Option<(Arc<SandboxBox>, Making)> {
        let mut making = state.making.lock().ok()?;
        let sandbox = state.boxes.lock().ok()?.remove(id)?;
        making.insert(id.clone(), Some(sandbox.uid));
        Some((sandbox, Making { state: state.clone(), id: id.clone() }))
    }

    /// Puts the finished box into the box table and stops counting it as
    /// being made, in one step.
    pub(crate) fn into_box(self, sandbox: Arc<SandboxBox>) -> Result<(), SandboxError> {
        let mut making = self.state.making.lock().map_err(|_| SandboxError::Internal("poisoned".into()))?;
        self.state
            .boxes
            .lock()
            .map_err(|_| SandboxError::Internal("box table poisoned".into()))?
            .insert(self.id.clone(), sandbox);
        making.remove(&self.id);
        Ok(())
    }

    /// Stores the spare (false if the slot was taken), in one step.
    pub(crate) fn into_spare(self, cgroup: Cgroup) -> bool {
        let Ok(mut making) = self.state.making.lock() else { return false };
        let stored = fill_empty_slot(&self.state.spare_box, SpareBox { id: self.id.clone(), cgroup });
        making.remove(&self.id);
        stored
    }
}

impl Drop for Making {
    fn drop(&mut self) {
        if let Ok(mut making) = self.state.making.lock() {
            making.remove(&self.id);
        }
    }
}

/// A new box cgroup with its init leaf, registered as in transit before
/// its directory exists.
pub(crate) fn new_box_cgroup(state: &Arc<BackendState>) -> Result<(Making, Cgroup), SandboxError> {
    let id = BoxId(format!("b{}", state.next_box.fetch_add(1, Ordering::Relaxed)));
    let making = Making::new(state, id.clone());
    let cgroup = Cgroup::create(&state.layout, &state.instance_cgroup().join(&id.0))
        .map_err(|e| SandboxError::Internal(format!("box cgroup: {e}")))?;
    if let Err(e) = cgroup.child(INIT_LEAF) {
        let _ = cgroup.remove();
        return Err(SandboxError::Internal(format!("init cgroup: {e}")));
    }
    Ok((making, cgroup))
}

/// The `cgroup.procs` files of a box's init leaf, for the jailer's process
/// to join.
pub(crate) fn init_procs(state: &BackendState, cgroup: &Cgroup) -> Result<Vec<std::os::fd::OwnedFd>, SandboxError> {
    Cgroup::open_existing(&state.layout, &cgroup.relative().join(INIT_LEAF))
        .map_err(|e| SandboxError::Internal(format!("init cgroup: {e}")))
        .and_then(|init| open_procs(&init))
}
