//! Concurrent runs per caller, over all of its sessions and APIs: a plan's
//! `max_concurrent_runs`. A run holds a [`RunSlot`] until it ends. The slot
//! also says who the run is for in the engine's fair queue.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use bytesbox_engine::Requester;

use super::{Caller, Principal};

/// Runs going per principal.
#[derive(Debug, Default)]
pub struct RunSlots {
    running: Arc<Mutex<HashMap<Principal, usize>>>,
}

/// One run's place; dropping it frees the place.
#[derive(Debug)]
pub struct RunSlot {
    running: Arc<Mutex<HashMap<Principal, usize>>>,
    principal: Option<Principal>,
    requester: Requester,
}

/// Whom the engine's fair queue serves `caller`'s runs as: one line per
/// user, per guest address or (without accounts) per client address. The
/// callers of a plan with a share of the run slots below 100% (guests, by
/// default) form one pool that never holds more than that share.
pub fn requester_of(caller: &Caller, plan: &str, run_slot_share_percent: u8) -> Requester {
    let key = match caller {
        Caller::Anonymous { address } => format!("address:{address}"),
        Caller::Guest { address } => format!("guest:{address}"),
        Caller::User { user, .. } => format!("user:{}", user.id.0),
    };
    Requester::new(key).in_pool(format!("plan:{plan}"), run_slot_share_percent)
}

impl RunSlots {
    /// Takes a place for `principal`, or `None` when it already has `max`
    /// runs going. Anonymous callers (no accounts) are not counted.
    pub fn acquire(&self, principal: &Principal, max: usize) -> Option<RunSlot> {
        if *principal == Principal::Anonymous {
            return Some(RunSlot { running: self.running.clone(), principal: None, requester: Requester::default() });
        }
        let mut running = self.running.lock().ok()?;
        let count = running.entry(principal.clone()).or_insert(0);
        if *count >= max {
            return None;
        }
        *count += 1;
        let requester = Requester::default();
        Some(RunSlot { running: self.running.clone(), principal: Some(principal.clone()), requester })
    }

    /// Runs `principal` has going.
    pub fn running(&self, principal: &Principal) -> usize {
        self.running.lock().map(|running| running.get(principal).copied().unwrap_or(0)).unwrap_or(0)
    }
}

impl RunSlot {
    /// The slot, for runs of `requester` in the engine's queue.
    pub fn for_requester(mut self, requester: Requester) -> RunSlot {
        self.requester = requester;
        self
    }

    /// Whom to submit the run's job as.
    pub fn requester(&self) -> Requester {
        self.requester.clone()
    }
}

impl Drop for RunSlot {
    fn drop(&mut self) {
        let Some(principal) = self.principal.take() else { return };
        if let Ok(mut running) = self.running.lock() {
            if let Some(count) = running.get_mut(&principal) {
                *count = count.saturating_sub(1);
                if *count == 0 {
                    running.remove(&principal);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_principal_gets_at_most_max_places_and_dropping_frees_one() {
        let slots = RunSlots::default();
        let alice = Principal::User("alice-id".into());
        let bob = Principal::User("bob-id".into());
        let first = slots.acquire(&alice, 2).expect("first");
        let _second = slots.acquire(&alice, 2).expect("second");
        assert!(slots.acquire(&alice, 2).is_none(), "a third is refused");
        assert!(slots.acquire(&bob, 2).is_some(), "others are not affected");
        drop(first);
        assert_eq!(slots.running(&alice), 1);
        assert!(slots.acquire(&alice, 2).is_some(), "a freed place is taken again");
    }

    #[test]
    fn anonymous_callers_are_not_counted() {
        let slots = RunSlots::default();
        let held: Vec<RunSlot> = (0..100).filter_map(|_| slots.acquire(&Principal::Anonymous, 1)).collect();
        assert_eq!(held.len(), 100);
    }
}
