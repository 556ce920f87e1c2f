//! The spare pool: boxes (network, volume and started container) made in
//! the background for the next `create`s of the same shape, as many as
//! the measured arrival rate needs (`crate::spare_sizing`). Starting a
//! container is most of a new box's cost (about 0.3 s here, the network
//! attach included); with a spare, a new box costs what a run in a warm
//! box costs.
//!
//! Spares follow the shape last asked for (a server asks for one shape):
//! a `create` of another shape empties the pool and refills it with the
//! new one. Every spare is a whole box, with its limits, labels of the
//! backend and instance, uid and subnet: the reaper sweeps the spares of
//! a crashed server like its boxes, and `shutdown` removes them.

use std::collections::VecDeque;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex as StdMutex, MutexGuard};
use std::time::{Duration, Instant};

use bytesbox_sandbox::{BoxSpec, RootfsSpec};
use tokio::sync::watch;

use crate::container::container_running;
use crate::make_box::make_box;
use crate::spare_sizing::PoolSizing;
use crate::state::{BackendState, MadeBox};
use crate::teardown::remove_made;

/// What a box's engine objects depend on: the spec without what is only
/// bookkeeping (labels, idle TTL), with the image resolved. Boxes of one
/// shape can take each other's spare.
pub(crate) fn shape_of(spec: &BoxSpec, image: &str) -> BoxSpec {
    BoxSpec {
        rootfs: RootfsSpec::Named { image: image.to_string() },
        labels: Vec::new(),
        idle_ttl: Duration::ZERO,
        ..spec.clone()
    }
}

/// The spares, the tasks making or removing them, and what sizes them.
#[derive(Debug)]
pub(crate) struct SparePool {
    inner: StdMutex<PoolInner>,
    /// How many tasks are making or removing spares; changed only with
    /// `inner` locked, so a waiter that sees 0 after the backend began
    /// shutting down sees it for good.
    busy: watch::Sender<usize>,
}

#[derive(Debug, Default)]
struct PoolInner {
    /// The shape (and image) spares are made for: the last asked for.
    shape: Option<(BoxSpec, String)>,
    /// Spares ready to be taken, oldest first.
    ready: VecDeque<MadeBox>,
    /// Spares being made.
    making: usize,
    /// Tasks making or removing spares (`making` and removals).
    busy: usize,
    sizing: PoolSizing,
}

impl Default for SparePool {
    fn default() -> Self {
        SparePool { inner: StdMutex::new(PoolInner::default()), busy: watch::Sender::new(0) }
    }
}

impl SparePool {
    fn lock(&self) -> MutexGuard<'_, PoolInner> {
        // A panic while holding the lock leaves plain data behind: the
        // pool stays usable.
        self.inner.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn add_busy(&self, inner: &mut PoolInner, tasks: usize) {
        inner.busy += tasks;
        self.busy.send_replace(inner.busy);
    }

    fn end_busy(&self, inner: &mut PoolInner) {
        inner.busy = inner.busy.saturating_sub(1);
        self.busy.send_replace(inner.busy);
    }

    /// Names of the spares ready now (the leak check counts them as live).
    pub(crate) fn ready_names(&self) -> Vec<String> {
        self.lock().ready.iter().map(|made| made.objects.name.clone()).collect()
    }

    /// Spares ready now.
    pub(crate) fn ready_count(&self) -> usize {
        self.lock().ready.len()
    }

    /// How many spares the pool aims at now.
    pub(crate) fn target(&self, state: &BackendState) -> usize {
        self.lock().sizing.target(Instant::now(), &state.config.spare_pool)
    }

    /// A box was made on demand in `took` (its time sizes the pool too).
    pub(crate) fn record_make(&self, took: Duration) {
        self.lock().sizing.record_make(took);
    }
}

/// A box of `shape` is asked for: counts the arrival, and hands out the
/// oldest spare if the pool is of that shape. A pool of another shape is
/// emptied (in the background) and follows the new one.
pub(crate) fn take_spare(state: &Arc<BackendState>, shape: &BoxSpec, image: &str) -> Option<MadeBox> {
    let pool = &state.spares;
    let mut inner = pool.lock();
    inner.sizing.record_arrival(Instant::now(), state.config.spare_pool.rate_window());
    if inner.shape.as_ref().is_some_and(|(current, _)| current == shape) {
        return inner.ready.pop_front();
    }
    inner.shape = Some((shape.clone(), image.to_string()));
    let stale: Vec<MadeBox> = inner.ready.drain(..).collect();
    remove_in_background(state, &mut inner, stale);
    None
}

/// Makes the pool follow `shape` without counting a creation (at
/// start-up, for the shape the server will ask for), and fills it.
pub(crate) fn start_pool(state: &Arc<BackendState>, shape: BoxSpec, image: String) {
    state.spares.lock().shape = Some((shape, image));
    refill(state);
}

/// Starts making spares until ready and being made reach the target,
/// at most `make_concurrency` at once. Nothing starts once the backend
/// is shutting down.
pub(crate) fn refill(state: &Arc<BackendState>) {
    let pool = &state.spares;
    let config = &state.config.spare_pool;
    let mut inner = pool.lock();
    // Checked with the pool locked: `settle` cannot miss a task started here.
    if state.shutting_down.load(Ordering::Acquire) {
        return;
    }
    let Some((shape, image)) = inner.shape.clone() else { return };
    let target = inner.sizing.target(Instant::now(), config);
    let have = inner.ready.len() + inner.making;
    let start = target.saturating_sub(have).min(config.make_concurrency.saturating_sub(inner.making));
    if start == 0 {
        return;
    }
    inner.making += start;
    pool.add_busy(&mut inner, start);
    drop(inner);
    for _ in 0..start {
        tokio::spawn(make_spare(state.clone(), shape.clone(), image.clone()));
    }
}

/// Makes one spare. It joins the pool if the pool still wants it (same
/// shape, below the target, not shutting down); else it is removed.
async fn make_spare(state: Arc<BackendState>, shape: BoxSpec, image: String) {
    let started = Instant::now();
    let made = make_box(&state, &shape, &image).await;
    let took = started.elapsed();
    let pool = &state.spares;
    let (surplus, made_one) = {
        let mut inner = pool.lock();
        inner.making -= 1;
        match made {
            Ok(made) => {
                inner.sizing.record_make(took);
                let target = inner.sizing.target(Instant::now(), &state.config.spare_pool);
                let wanted = !state.shutting_down.load(Ordering::Acquire)
                    && inner.shape.as_ref().is_some_and(|(current, _)| *current == shape)
                    && inner.ready.len() < target;
                if wanted {
                    inner.ready.push_back(made);
                    (None, true)
                } else {
                    (Some(made), true)
                }
            }
            Err(e) => {
                tracing::warn!(error = %e, "making a spare box");
                (None, false)
            }
        }
    };
    if let Some(made) = surplus {
        remove_made(&state, made).await;
    }
    // After a failure the next `create` or sweep tries again: retrying
    // here at once would hammer an engine that cannot make boxes. The
    // next spares are counted busy before this one stops being, so
    // `settle_spares` never sees a gap between them.
    if made_one {
        refill(&state);
    }
    pool.end_busy(&mut pool.lock());
}

/// Removes spares on a task of their own, counted as busy so `settle`
/// waits for them.
fn remove_in_background(state: &Arc<BackendState>, inner: &mut PoolInner, spares: Vec<MadeBox>) {
    if spares.is_empty() {
        return;
    }
    state.spares.add_busy(inner, 1);
    let state = state.clone();
    tokio::spawn(async move {
        futures_util::future::join_all(spares.into_iter().map(|made| remove_made(&state, made))).await;
        state.spares.end_busy(&mut state.spares.lock());
    });
}

/// Waits until no spare is being made or removed.
pub(crate) async fn settle_spares(state: &BackendState) {
    let mut busy = state.spares.busy.subscribe();
    let _ = busy.wait_for(|tasks| *tasks == 0).await;
}

/// For shutdown (the backend is already shutting down, so nothing new
/// starts): waits for spares being made, then removes every spare.
pub(crate) async fn drop_spares(state: &BackendState) {
    settle_spares(state).await;
    let ready: Vec<MadeBox> = state.spares.lock().ready.drain(..).collect();
    futures_util::future::join_all(ready.into_iter().map(|made| remove_made(state, made))).await;
}

/// For the sweep: removes spares whose container stopped (an engine
/// restart stops them) and those above the target (creations slowed
/// down), then refills.
pub(crate) async fn tend_spares(state: &Arc<BackendState>) {
    let ids: Vec<String> = state.spares.lock().ready.iter().map(|made| made.live.id.clone()).collect();
    let mut stopped = Vec::new();
    for id in ids {
        if !container_running(&state.docker, &id).await {
            stopped.push(id);
        }
    }
    let pool = &state.spares;
    let mut inner = pool.lock();
    let mut unwanted: Vec<MadeBox> = Vec::new();
    let mut kept = VecDeque::new();
    for made in inner.ready.drain(..) {
        if stopped.contains(&made.live.id) {
            unwanted.push(made);
        } else {
            kept.push_back(made);
        }
    }
    let target = inner.sizing.target(Instant::now(), &state.config.spare_pool);
    // The oldest go first: they have waited the longest.
    while kept.len() > target {
        unwanted.extend(kept.pop_front());
    }
    inner.ready = kept;
    remove_in_background(state, &mut inner, unwanted);
    drop(inner);
    refill(state);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_and_ttl_do_not_change_the_shape_but_limits_and_images_do() {
        let plain = shape_of(&BoxSpec::default(), "img:full");
        let labelled = BoxSpec {
            labels: vec![("session".into(), "s-1".into())],
            idle_ttl: Duration::from_secs(5),
            ..BoxSpec::default()
        };
        assert_eq!(shape_of(&labelled, "img:full"), plain);
        let named = BoxSpec { rootfs: RootfsSpec::Named { image: "img:full".into() }, ..BoxSpec::default() };
        assert_eq!(shape_of(&named, "img:full"), plain, "the host image and the same named image are one shape");
        assert_ne!(shape_of(&BoxSpec::default(), "img:c"), plain);
        let mut bigger = BoxSpec::default();
        bigger.limits.memory_bytes *= 2;
        assert_ne!(shape_of(&bigger, "img:full"), plain);
    }
}
