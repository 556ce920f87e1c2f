//! Admission control: at most `max_running` jobs run at once, at most
//! `max_queued` wait; anything beyond is refused immediately.
//!
//! The queue is fair across requesters: a freed slot goes to the next
//! requester in turn (round-robin over the requesters that have a job
//! waiting), not to the oldest job, so one requester's many queued jobs
//! delay another's by at most one slot's turn. A requester may belong to a
//! pool (the server puts every guest in one) whose jobs together hold at
//! most a share of the slots, keeping the rest for everyone else.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard};

use tokio::sync::oneshot;

use crate::EngineError;

/// Sizes of the admission gate.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AdmissionConfig {
    /// Jobs running at once.
    pub max_running: usize,
    /// Jobs waiting for a slot.
    pub max_queued: usize,
}

impl AdmissionConfig {
    /// Sized to the machine: two running jobs per CPU, and a queue of
    /// sixteen per CPU.
    pub fn for_this_machine() -> AdmissionConfig {
        let cpus = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1);
        AdmissionConfig { max_running: cpus * 2, max_queued: cpus * 16 }
    }
}

/// Whose job it is, for the fair queue.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct Requester {
    /// Jobs of one key take turns with other keys' jobs.
    key: String,
    /// The pool the requester shares a part of the slots with.
    pool: Option<Pool>,
}

/// Requesters that together may hold only a share of the slots.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Pool {
    name: String,
    percent: u8,
}

impl Requester {
    /// A requester of its own, limited only by the whole gate.
    pub fn new(key: impl Into<String>) -> Requester {
        Requester { key: key.into(), pool: None }
    }

    /// Puts the requester in pool `name`, whose jobs together may hold
    /// `percent` of the slots: rounded down, at least one, and (below 100)
    /// never all of them when there are two or more.
    pub fn in_pool(mut self, name: impl Into<String>, percent: u8) -> Requester {
        self.pool = (percent < 100).then(|| Pool { name: name.into(), percent });
        self
    }

    /// Its key: whom its jobs are for.
    pub fn key(&self) -> &str {
        &self.key
    }

    fn pool_name(&self) -> Option<&str> {
        self.pool.as_ref().map(|pool| pool.name.as_str())
    }
}

/// The slots a pool of `percent` may hold out of `max_running`.
fn pool_cap(max_running: usize, percent: u8) -> usize {
    let share = max_running * usize::from(percent) / 100;
    let cap = if max_running > 1 { share.min(max_running - 1) } else { share };
    cap.max(1)
}

/// A snapshot for metrics.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AdmissionStats {
    /// Jobs running.
    pub running: usize,
    /// Jobs waiting.
    pub queued: usize,
}

/// The gate.
#[derive(Debug)]
pub struct Admission {
    config: AdmissionConfig,
    state: Mutex<GateState>,
}

#[derive(Debug, Default)]
struct GateState {
    running: usize,
    queued: usize,
    closed: bool,
    next_waiter: u64,
    /// Jobs running per pool.
    pool_running: HashMap<String, usize>,
    /// Jobs waiting per pool.
    pool_queued: HashMap<String, usize>,
    /// Waiting jobs per requester key, oldest first.
    waiting: HashMap<String, VecDeque<Waiter>>,
    /// Keys with waiting jobs, in turn order.
    turns: VecDeque<String>,
}

#[derive(Debug)]
struct Waiter {
    id: u64,
    requester: Requester,
    admitted: oneshot::Sender<()>,
}

/// A place in the queue; turns into a running slot with [`Ticket::wait`].
#[derive(Debug)]
pub struct Ticket {
    admission: Arc<Admission>,
    /// Jobs waiting when this one was queued, itself included (0: it runs
    /// at once).
    pub position: usize,
    key: String,
    id: u64,
    pool: Option<String>,
    /// `None` once turned into a [`Slot`].
    admitted: Option<oneshot::Receiver<()>>,
}

/// A running slot, released on drop.
#[derive(Debug)]
pub struct Slot {
    admission: Arc<Admission>,
    pool: Option<String>,
}

impl Admission {
    /// A gate of the given size.
    pub fn new(config: AdmissionConfig) -> Admission {
        let config = AdmissionConfig { max_running: config.max_running.max(1), max_queued: config.max_queued };
        Admission { config, state: Mutex::new(GateState::default()) }
    }

    /// The gate's sizes.
    pub fn config(&self) -> AdmissionConfig {
        self.config
    }

    fn lock(&self) -> MutexGuard<'_, GateState> {
        // Every critical section leaves the counts consistent, so a panic
        // elsewhere cannot have left them half-updated.
        self.state.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Takes a place for an anonymous requester (see [`Admission::enter_as`]).
    pub fn enter(self: &Arc<Self>) -> Result<Ticket, EngineError> {
        self.enter_as(Requester::default())
    }

    /// Takes a place in `requester`'s line, or refuses at once when the
    /// queue (or the requester's pool's part of it) is full.
    pub fn enter_as(self: &Arc<Self>, requester: Requester) -> Result<Ticket, EngineError> {
        let mut state = self.lock();
        if state.closed {
            return Err(EngineError::ShuttingDown);
        }
        let full = match &requester.pool {
            // A pool may fill as much of the queue as of the slots.
            Some(pool) => {
                let queued = state.pool_queued.get(&pool.name).copied().unwrap_or(0);
                queued >= pool_cap(self.config.max_queued, pool.percent).min(self.config.max_queued)
            }
            None => false,
        };
        if full || state.queued >= self.config.max_queued {
            let queued = state.queued;
            // Roughly how long the queue ahead takes to drain, assuming
            // one-second jobs: a hint, not a promise.
            let retry_after_secs = (queued / self.config.max_running).clamp(1, 60) as u64;
            return Err(EngineError::QueueFull { queued, retry_after_secs });
        }
        let (admitted_tx, mut admitted) = oneshot::channel();
        let id = state.next_waiter;
        state.next_waiter += 1;
        state.queued += 1;
        if let Some(pool) = requester.pool_name() {
            *state.pool_queued.entry(pool.to_owned()).or_insert(0) += 1;
        }
        let key = requester.key.clone();
        let pool = requester.pool_name().map(str::to_owned);
        let line = state.waiting.entry(key.clone()).or_default();
        line.push_back(Waiter { id, requester, admitted: admitted_tx });
        if line.len() == 1 {
            state.turns.push_back(key.clone());
        }
        let position = state.queued;
        self.dispatch(&mut state);
        let position = if admitted.try_recv().is_ok() {
            // Admitted at once: the slot is this ticket's, no need to wait.
            let (done_tx, done) = oneshot::channel();
            let _ = done_tx.send(());
            admitted = done;
            0
        } else {
            position
        };
        Ok(Ticket { admission: self.clone(), position, key, id, pool, admitted: Some(admitted) })
    }

    /// Gives free slots to waiting jobs, one requester at a time in turn.
    fn dispatch(&self, state: &mut GateState) {
        while state.running < self.config.max_running {
            let Some(turn) = self.next_turn(state) else { return };
            let Some(key) = state.turns.remove(turn) else { return };
            let Some(line) = state.waiting.get_mut(&key) else { continue };
            let Some(waiter) = line.pop_front() else { continue };
            if line.is_empty() {
                state.waiting.remove(&key);
            } else {
                // Served: to the back of the line of requesters.
                state.turns.push_back(key);
            }
            state.queued -= 1;
            state.running += 1;
            if let Some(pool) = waiter.requester.pool_name() {
                decrement(&mut state.pool_queued, pool);
                *state.pool_running.entry(pool.to_owned()).or_insert(0) += 1;
            }
            // The receiver lives as long as the waiter is queued (a dropped
            // ticket removes its waiter under this lock first).
            let _ = waiter.admitted.send(());
        }
    }

    /// The first requester in turn whose next job may start now.
    fn next_turn(&self, state: &GateState) -> Option<usize> {
        state.turns.iter().position(|key| {
            let Some(waiter) = state.waiting.get(key).and_then(VecDeque::front) else { return true };
            match &waiter.requester.pool {
                Some(pool) => {
                    let running = state.pool_running.get(&pool.name).copied().unwrap_or(0);
                    running < pool_cap(self.config.max_running, pool.percent)
                }
                None => true,
            }
        })
    }

    fn release(&self, pool: Option<&str>) {
        let mut state = self.lock();
        state.running = state.running.saturating_sub(1);
        if let Some(pool) = pool {
            decrement(&mut state.pool_running, pool);
        }
        if !state.closed {
            self.dispatch(&mut state);
        }
    }

    /// Refuses every new job from now on and wakes the waiting ones with
    /// an error; running ones continue.
    pub fn close(&self) {
        let mut state = self.lock();
        state.closed = true;
        state.turns.clear();
        state.pool_queued.clear();
        // Dropping the senders wakes every waiter with an error.
        state.waiting.clear();
        state.queued = 0;
    }

    /// Whether new jobs are admitted.
    pub fn is_open(&self) -> bool {
        !self.lock().closed
    }

    /// Counts for metrics.
    pub fn stats(&self) -> AdmissionStats {
        let state = self.lock();
        AdmissionStats { running: state.running, queued: state.queued }
    }
}

fn decrement(counts: &mut HashMap<String, usize>, key: &str) {
    if let Some(count) = counts.get_mut(key) {
        *count = count.saturating_sub(1);
        if *count == 0 {
            counts.remove(key);
        }
    }
}

impl Ticket {
    /// Waits for a running slot.
    pub async fn wait(mut self) -> Result<Slot, EngineError> {
        let Some(admitted) = self.admitted.as_mut() else { return Err(EngineError::ShuttingDown) };
        admitted.await.map_err(|_| EngineError::ShuttingDown)?;
        self.admitted = None;
        Ok(Slot { admission: self.admission.clone(), pool: self.pool.take() })
    }
}

impl Drop for Ticket {
    fn drop(&mut self) {
        let Some(mut admitted) = self.admitted.take() else { return };
        let mut state = self.admission.lock();
        let waiter = state.waiting.get_mut(&self.key).and_then(|line| {
            let index = line.iter().position(|waiter| waiter.id == self.id)?;
            line.remove(index)
        });
        if waiter.is_some() {
            state.queued -= 1;
            if let Some(pool) = &self.pool {
                decrement(&mut state.pool_queued, pool);
            }
            if state.waiting.get(&self.key).is_some_and(VecDeque::is_empty) {
                state.waiting.remove(&self.key);
                state.turns.retain(|key| key != &self.key);
            }
            return;
        }
        drop(state);
        // Not queued any more: either admitted (the slot is ours to give
        // back) or woken by `close`.
        if admitted.try_recv().is_ok() {
            self.admission.release(self.pool.as_deref());
        }
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        self.admission.release(self.pool.as_deref());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn gate(max_running: usize, max_queued: usize) -> Arc<Admission> {
        Arc::new(Admission::new(AdmissionConfig { max_running, max_queued }))
    }

    async fn slot(gate: &Arc<Admission>, requester: Requester) -> Slot {
        let ticket = gate.enter_as(requester).unwrap();
        assert_eq!(ticket.position, 0, "a free slot is taken at once");
        ticket.wait().await.unwrap()
    }

    /// Whether the ticket has its slot, without waiting.
    fn admitted(ticket: &mut Ticket) -> bool {
        let Some(admitted) = ticket.admitted.as_mut() else { return true };
        match admitted.try_recv() {
            Ok(()) => {
                // Put the admission back for `wait`.
                let (tx, rx) = oneshot::channel();
                let _ = tx.send(());
                ticket.admitted = Some(rx);
                true
            }
            Err(_) => false,
        }
    }

    #[tokio::test]
    async fn refuses_at_once_when_the_queue_is_full() {
        let gate = gate(1, 2);
        let first = gate.enter().unwrap();
        assert_eq!(first.position, 0);
        let slot = first.wait().await.unwrap();
        let second = gate.enter().unwrap();
        let third = gate.enter().unwrap();
        assert_eq!((second.position, third.position), (1, 2));
        match gate.enter() {
            Err(EngineError::QueueFull { queued: 2, retry_after_secs }) => assert!(retry_after_secs >= 1),
            other => panic!("expected a full queue, got {other:?}"),
        }
        assert_eq!(gate.stats(), AdmissionStats { running: 1, queued: 2 });
        drop(third);
        assert_eq!(gate.stats().queued, 1, "a dropped ticket leaves the queue");
        drop(second);
        drop(slot);
        assert_eq!(gate.stats(), AdmissionStats { running: 0, queued: 0 });
    }

    #[tokio::test]
    async fn a_queued_job_runs_when_a_slot_frees() {
        let gate = gate(1, 4);
        let slot = gate.enter().unwrap().wait().await.unwrap();
        let queued_gate = gate.clone();
        let waiter = tokio::spawn(async move {
            let ticket = queued_gate.enter().unwrap();
            assert_eq!(ticket.position, 1);
            ticket.wait().await.map(|_| ())
        });
        while gate.stats().queued == 0 {
            tokio::task::yield_now().await;
        }
        assert!(!waiter.is_finished());
        drop(slot);
        waiter.await.unwrap().unwrap();
        assert_eq!(gate.stats(), AdmissionStats { running: 0, queued: 0 });
    }

    #[tokio::test]
    async fn closing_refuses_new_jobs_and_wakes_waiters() {
        let gate = gate(1, 4);
        let _slot = gate.enter().unwrap().wait().await.unwrap();
        let queued = gate.enter().unwrap();
        gate.close();
        assert!(matches!(queued.wait().await, Err(EngineError::ShuttingDown)));
        assert!(matches!(gate.enter(), Err(EngineError::ShuttingDown)));
        assert_eq!(gate.stats().queued, 0);
    }

    #[tokio::test]
    async fn freed_slots_go_round_robin_across_requesters() {
        let gate = gate(1, 16);
        let held = slot(&gate, Requester::new("busy")).await;
        // One requester queues five long jobs, then another queues one.
        let mut busy: Vec<Ticket> = (0..5).map(|_| gate.enter_as(Requester::new("busy")).unwrap()).collect();
        let mut quick = gate.enter_as(Requester::new("quick")).unwrap();
        assert_eq!(quick.position, 6, "queued behind the five");
        drop(held);
        assert!(admitted(&mut busy[0]), "the first freed slot goes to the oldest requester in turn");
        assert!(!admitted(&mut quick));
        let first = busy.remove(0).wait().await.unwrap();
        drop(first);
        assert!(admitted(&mut quick), "the next slot is the other requester's turn, not the sixth busy job's");
        assert!(!busy.iter_mut().any(admitted));
        drop(quick);
        assert!(admitted(&mut busy[0]), "a dropped admitted ticket gives its slot on");
    }

    #[tokio::test]
    async fn a_pool_never_takes_the_reserved_slots() {
        let gate = gate(4, 16);
        let guest = |n: u32| Requester::new(format!("guest-{n}")).in_pool("guests", 75);
        // Guests from many addresses hold three of four slots...
        let held: Vec<Slot> = slots_for(&gate, (0..3).map(guest).collect()).await;
        let mut fourth_guest = gate.enter_as(guest(3)).unwrap();
        assert!(!admitted(&mut fourth_guest), "the pool is at its share");
        assert_eq!(gate.stats(), AdmissionStats { running: 3, queued: 1 });
        // ...so a member starts at once, ahead of the waiting guest.
        let member = gate.enter_as(Requester::new("user-1")).unwrap();
        assert_eq!(member.position, 0);
        let member = member.wait().await.unwrap();
        drop(member);
        assert!(!admitted(&mut fourth_guest), "the freed slot was a member's: still reserved");
        drop(held);
        assert!(admitted(&mut fourth_guest), "a freed guest slot goes to the waiting guest");
    }

    #[tokio::test]
    async fn a_pool_fills_only_its_share_of_the_queue() {
        let gate = gate(4, 8);
        let guest = |n: u32| Requester::new(format!("guest-{n}")).in_pool("guests", 75);
        let _held: Vec<Slot> = slots_for(&gate, (0..3).map(guest).collect()).await;
        let waiting: Vec<Ticket> = (10..16).map(|n| gate.enter_as(guest(n)).unwrap()).collect();
        assert!(matches!(gate.enter_as(guest(99)), Err(EngineError::QueueFull { .. })), "6 of 8 places at most");
        let member = gate.enter_as(Requester::new("user-1")).unwrap();
        assert_eq!(member.position, 0, "members still find a slot and a place");
        drop(waiting);
        assert_eq!(gate.stats().queued, 0);
    }

    #[test]
    fn pool_shares_round_down_and_keep_one_slot_for_others() {
        assert_eq!(pool_cap(4, 75), 3);
        assert_eq!(pool_cap(4, 99), 3, "never all of several slots");
        assert_eq!(pool_cap(8, 50), 4);
        assert_eq!(pool_cap(2, 75), 1);
        assert_eq!(pool_cap(1, 75), 1, "a one-slot machine still runs guests");
        assert_eq!(pool_cap(4, 0), 1, "at least one");
        assert_eq!(Requester::new("x").in_pool("all", 100), Requester::new("x"), "100% is no pool");
    }

    async fn slots_for(gate: &Arc<Admission>, requesters: Vec<Requester>) -> Vec<Slot> {
        let mut slots = Vec::new();
        for requester in requesters {
            slots.push(slot(gate, requester).await);
        }
        slots
    }
}
