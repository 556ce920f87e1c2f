//! Admission control: at most `max_running` jobs run at once, at most
//! `max_queued` wait; anything beyond is refused immediately.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;

use tokio::sync::{OwnedSemaphorePermit, Semaphore};

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
    slots: Arc<Semaphore>,
    queued: AtomicUsize,
    closed: AtomicBool,
}

/// A place in the queue; turns into a running slot with [`Ticket::wait`].
#[derive(Debug)]
pub struct Ticket {
    admission: Arc<Admission>,
    /// Jobs ahead of this one when it was queued (0: it runs at once).
    pub position: usize,
    waiting: bool,
}

/// A running slot, released on drop.
#[derive(Debug)]
pub struct Slot {
    _permit: OwnedSemaphorePermit,
}

impl Admission {
    /// A gate of the given size.
    pub fn new(config: AdmissionConfig) -> Admission {
        Admission {
            slots: Arc::new(Semaphore::new(config.max_running.max(1))),
            config,
            queued: AtomicUsize::new(0),
            closed: AtomicBool::new(false),
        }
    }

    /// Takes a place, or refuses at once when the queue is full.
    pub fn enter(self: &Arc<Self>) -> Result<Ticket, EngineError> {
        if self.closed.load(Ordering::Acquire) {
            return Err(EngineError::ShuttingDown);
        }
        if self.slots.available_permits() > 0 && self.queued.load(Ordering::Acquire) == 0 {
            return Ok(Ticket { admission: self.clone(), position: 0, waiting: false });
        }
        let mut current = self.queued.load(Ordering::Acquire);
        loop {
            if current >= self.config.max_queued {
                // Roughly how long the queue ahead takes to drain, assuming
                // one-second jobs: a hint, not a promise.
                let retry_after_secs = (current / self.config.max_running.max(1)).clamp(1, 60) as u64;
                return Err(EngineError::QueueFull { queued: current, retry_after_secs });
            }
            match self.queued.compare_exchange(current, current + 1, Ordering::AcqRel, Ordering::Acquire) {
                Ok(_) => return Ok(Ticket { admission: self.clone(), position: current + 1, waiting: true }),
                Err(now) => current = now,
            }
        }
    }

    /// Refuses every new job from now on; running ones continue.
    pub fn close(&self) {
        self.closed.store(true, Ordering::Release);
        self.slots.close();
    }

    /// Whether new jobs are admitted.
    pub fn is_open(&self) -> bool {
        !self.closed.load(Ordering::Acquire)
    }

    /// Counts for metrics.
    pub fn stats(&self) -> AdmissionStats {
        let queued = self.queued.load(Ordering::Acquire);
        let running = self.config.max_running.max(1).saturating_sub(self.slots.available_permits());
        AdmissionStats { running, queued }
    }
}

impl Ticket {
    /// Waits for a running slot.
    pub async fn wait(mut self) -> Result<Slot, EngineError> {
        let permit = self.admission.slots.clone().acquire_owned().await.map_err(|_| EngineError::ShuttingDown);
        self.leave_queue();
        Ok(Slot { _permit: permit? })
    }

    fn leave_queue(&mut self) {
        if self.waiting {
            self.waiting = false;
            self.admission.queued.fetch_sub(1, Ordering::AcqRel);
        }
    }
}

impl Drop for Ticket {
    fn drop(&mut self) {
        self.leave_queue();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn refuses_at_once_when_the_queue_is_full() {
        let gate = Arc::new(Admission::new(AdmissionConfig { max_running: 1, max_queued: 2 }));
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
        assert_eq!(gate.stats().running, 0);
    }

    #[tokio::test]
    async fn a_queued_job_runs_when_a_slot_frees() {
        let gate = Arc::new(Admission::new(AdmissionConfig { max_running: 1, max_queued: 4 }));
        let slot = gate.enter().unwrap().wait().await.unwrap();
        let queued_gate = gate.clone();
        let waiter = tokio::spawn(async move {
            let ticket = queued_gate.enter().unwrap();
            assert_eq!(ticket.position, 1);
            ticket.wait().await.map(|_| ())
        });
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        assert_eq!(gate.stats().queued, 1);
        assert!(!waiter.is_finished());
        drop(slot);
        waiter.await.unwrap().unwrap();
        assert_eq!(gate.stats(), AdmissionStats { running: 0, queued: 0 });
    }

    #[tokio::test]
    async fn closing_refuses_new_jobs_and_wakes_waiters() {
        let gate = Arc::new(Admission::new(AdmissionConfig { max_running: 1, max_queued: 4 }));
        let _slot = gate.enter().unwrap().wait().await.unwrap();
        let queued_gate = gate.clone();
        let waiter = tokio::spawn(async move { queued_gate.enter().unwrap().wait().await.map(|_| ()) });
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        gate.close();
        assert!(matches!(waiter.await.unwrap(), Err(EngineError::ShuttingDown)));
        assert!(matches!(gate.enter(), Err(EngineError::ShuttingDown)));
    }
}
