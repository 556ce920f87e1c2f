//! Concurrent runs per caller, over all of its sessions and APIs: a plan's
//! `max_concurrent_runs`. A run holds a [`RunSlot`] until it ends.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use super::Principal;

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
}

impl RunSlots {
    /// Takes a place for `principal`, or `None` when it already has `max`
    /// runs going. Anonymous callers (no accounts) are not counted.
    pub fn acquire(&self, principal: &Principal, max: usize) -> Option<RunSlot> {
        if *principal == Principal::Anonymous {
            return Some(RunSlot { running: self.running.clone(), principal: None });
        }
        let mut running = self.running.lock().ok()?;
        let count = running.entry(principal.clone()).or_insert(0);
        if *count >= max {
            return None;
        }
        *count += 1;
        Some(RunSlot { running: self.running.clone(), principal: Some(principal.clone()) })
    }

    /// Runs `principal` has going.
    pub fn running(&self, principal: &Principal) -> usize {
        self.running.lock().map(|running| running.get(principal).copied().unwrap_or(0)).unwrap_or(0)
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
