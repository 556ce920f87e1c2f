//! Ready boxes: whole boxes made ahead of the requests that will use them,
//! each with its first launcher in place, so that `create` hands one out
//! at once and a fresh box's first run starts as fast as a warm one.
//!
//! They are made for the spec the backend was last asked for (a server
//! asks for one spec for all its boxes), live in the box table like any
//! box (so shutdown, the leak check and `Drop` cover them), but are not
//! listed or counted as live, not culled as idle and keep their launcher
//! until they are handed out. A request for another spec replaces them.

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytesbox_cgroups::CpuWeight;
use bytesbox_sandbox::{BoxId, BoxSpec, SandboxError};

use crate::destroy::destroy;
use crate::make_box::{create, MadeFor};
use crate::sandbox_box::SandboxBox;
use crate::state::BackendState;

/// How long a new ready box may take to get its first launcher before it
/// is kept without one.
const LAUNCHER_PATIENCE: Duration = Duration::from_secs(2);

/// The ready boxes and the spec they are made for.
#[derive(Debug, Default)]
pub(crate) struct ReadyBoxes {
    pool: Mutex<Pool>,
    refilling: AtomicBool,
}

#[derive(Debug, Default)]
struct Pool {
    /// The spec of the last request; ready boxes are made for it.
    wanted: Option<BoxSpec>,
    ids: VecDeque<BoxId>,
    /// Made, waiting for its first launcher.
    readying: Option<BoxId>,
}

impl Pool {
    /// Whether `id` is a ready box (or one being readied).
    fn holds(&self, id: &BoxId) -> bool {
        self.ids.contains(id) || self.readying.as_ref() == Some(id)
    }
}

impl ReadyBoxes {
    /// Whether `id` is a ready box nobody has asked for yet.
    pub(crate) fn contains(&self, id: &BoxId) -> bool {
        self.pool.lock().map(|pool| pool.holds(id)).unwrap_or(false)
    }

    /// Notes a box being made for the pool, before it enters the box
    /// table (so it is never seen there as a live box) and until it is
    /// kept or destroyed.
    pub(crate) fn readying(&self, id: &BoxId) {
        if let Ok(mut pool) = self.pool.lock() {
            pool.readying = Some(id.clone());
        }
    }

    /// Notes `spec` as wanted. Returns a ready box made for it, if any
    /// (left in the table), and the ready boxes of another spec, which the
    /// caller destroys.
    fn take(&self, spec: &BoxSpec) -> (Option<BoxId>, Vec<BoxId>) {
        let Ok(mut pool) = self.pool.lock() else { return (None, Vec::new()) };
        if pool.wanted.as_ref() != Some(spec) {
            pool.wanted = Some(spec.clone());
            return (None, pool.ids.drain(..).collect());
        }
        (pool.ids.pop_front(), Vec::new())
    }

    /// The spec to make the next ready box for, if the pool is short.
    fn next_to_make(&self, target: usize) -> Option<BoxSpec> {
        let pool = self.pool.lock().ok()?;
        if pool.ids.len() >= target {
            return None;
        }
        pool.wanted.clone()
    }

    /// Keeps a new box made for `spec`; false when it is no longer wanted
    /// (it stays noted as readying until [`ReadyBoxes::dropped`]).
    fn keep(&self, spec: &BoxSpec, id: BoxId, target: usize) -> bool {
        let Ok(mut pool) = self.pool.lock() else { return false };
        if pool.wanted.as_ref() != Some(spec) || pool.ids.len() >= target {
            return false;
        }
        pool.readying = None;
        pool.ids.push_back(id);
        true
    }

    /// Forgets a box made for the pool and destroyed unkept.
    fn dropped(&self, id: &BoxId) {
        if let Ok(mut pool) = self.pool.lock() {
            if pool.readying.as_ref() == Some(id) {
                pool.readying = None;
            }
        }
    }

    /// The boxes of `table` that are not ready boxes, read with the pool
    /// held: a box made for the pool is noted before it enters the table
    /// and leaves the pool only when it is handed out, so it is never
    /// among them.
    pub(crate) fn not_ready(&self, table: &Mutex<HashMap<BoxId, Arc<SandboxBox>>>) -> Vec<Arc<SandboxBox>> {
        let Ok(pool) = self.pool.lock() else { return Vec::new() };
        let Ok(boxes) = table.lock() else { return Vec::new() };
        boxes.values().filter(|sandbox| !pool.holds(&sandbox.id)).cloned().collect()
    }
}

/// `Backend::create`: a ready box made for `spec` when there is one that
/// is still sound, else a box made now; either way the pool is refilled
/// in the background.
pub(crate) async fn create_ready_or_new(state: &Arc<BackendState>, spec: BoxSpec) -> Result<BoxId, SandboxError> {
    if state.shutting_down.load(Ordering::Acquire) {
        return Err(SandboxError::ShuttingDown);
    }
    spec.validate()?;
    // No await from taking a ready box to returning it: a caller that
    // goes away cannot drop a box that is in no pool and no hand.
    let (mut ready, mut unwanted) = state.ready.take(&spec);
    let handed_out = loop {
        let Some(id) = ready else { break None };
        match state.get(&id) {
            Ok(sandbox) if !crate::pidfd::has_exited(sandbox.pidfd.get_ref()) => {
                sandbox.activity.touch();
                break Some(id);
            }
            // Its init died while it waited.
            _ => {
                unwanted.push(id);
                ready = state.ready.take(&spec).0;
            }
        }
    };
    if !unwanted.is_empty() {
        let state = state.clone();
        tokio::spawn(async move {
            for id in unwanted {
                let _ = destroy(&state, &id).await;
            }
        });
    }
    let made = match handed_out {
        Some(id) => hand_out(state, id),
        None => create(state, spec, MadeFor::Caller).await,
    };
    match made.as_ref().map(|id| state.get(id)) {
        Ok(Ok(sandbox)) => tokio::spawn(refill_after_first_run(state.clone(), sandbox)),
        _ => tokio::spawn(refill(state.clone())),
    };
    made
}

/// A ready box, made at background CPU weight, now weighs as any box
/// that runs something (a box that cannot is destroyed).
fn hand_out(state: &Arc<BackendState>, id: BoxId) -> Result<BoxId, SandboxError> {
    let weighed = state.get(&id).and_then(|sandbox| {
        sandbox
            .cgroup
            .set_cpu_weight(CpuWeight::Normal)
            .map_err(|e| SandboxError::Internal(format!("box CPU weight: {e}")))
    });
    if let Err(e) = weighed {
        let state = state.clone();
        tokio::spawn(async move { destroy(&state, &id).await });
        return Err(e);
    }
    Ok(id)
}

/// How long the refill a handed-out box owes waits for that box's first
/// run to be over.
const REFILL_PATIENCE: Duration = Duration::from_secs(1);

/// Refills the pool once `sandbox`'s first run and its after-work are
/// over (or the box is being destroyed, or `REFILL_PATIENCE` has passed).
/// The box was handed out to run something now: making its successor
/// meanwhile would take CPU from that run on a small machine (about 1 ms of
/// a one-shot Python hello's latency on two cores, `docs/performance.md`).
async fn refill_after_first_run(state: Arc<BackendState>, sandbox: Arc<SandboxBox>) {
    let _ = tokio::time::timeout(REFILL_PATIENCE, sandbox.run_over_or_destroyed()).await;
    drop(sandbox);
    refill(state).await;
}

/// Makes ready boxes, one at a time, until the pool holds its target for
/// the wanted spec. A box that cannot be made ends the refill (the health
/// record has it; the next request tries again).
pub(crate) async fn refill(state: Arc<BackendState>) {
    let target = state.config.ready_boxes;
    if target == 0 || state.ready.refilling.swap(true, Ordering::AcqRel) {
        return;
    }
    while !state.shutting_down.load(Ordering::Acquire) {
        let Some(spec) = state.ready.next_to_make(target) else { break };
        let Ok(id) = create(&state, spec.clone(), MadeFor::Pool).await else { break };
        if let Ok(sandbox) = state.get(&id) {
            sandbox.clone().prepare_launcher().await;
            sandbox.launcher_ready_within(LAUNCHER_PATIENCE).await;
        }
        if !state.ready.keep(&spec, id.clone(), target) {
            let _ = destroy(&state, &id).await;
            state.ready.dropped(&id);
        }
    }
    state.ready.refilling.store(false, Ordering::Release);
}
