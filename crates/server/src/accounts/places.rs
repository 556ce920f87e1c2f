//! What each caller holds (runs going, session boxes), counted against
//! its cap, and what the guests of one client address hold together,
//! counted against the address's cap. A [`Place`] is one thing held;
//! dropping it gives the place back. Anonymous callers (no accounts) are
//! not counted.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};

use super::Principal;

type Held = Arc<Mutex<HashMap<Principal, usize>>>;

/// The counts of one kind of thing held.
#[derive(Debug, Default)]
pub struct Places {
    held: Held,
}

/// One thing held; dropping it frees its place.
#[derive(Debug)]
pub struct Place {
    held: Held,
    /// Whom it is counted against (the caller, and its address for a
    /// guest); empty for an anonymous caller.
    counted: Vec<Principal>,
}

/// Which cap refused a place.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Refusal {
    /// The caller's own.
    Caller,
    /// Its address's, shared by all the guests there.
    Address,
}

fn lock(held: &Held) -> MutexGuard<'_, HashMap<Principal, usize>> {
    // A count is updated in one step, so a poisoned map is still right.
    held.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

impl Places {
    /// A place for `principal`, which may hold `max`, within its room's
    /// `room_max` (a guest's address; see [`Principal::room`]).
    pub fn take(&self, principal: &Principal, max: usize, room_max: usize) -> Result<Place, Refusal> {
        if *principal == Principal::Anonymous {
            return Ok(Place { held: self.held.clone(), counted: Vec::new() });
        }
        let mut held = lock(&self.held);
        if held.get(principal).copied().unwrap_or(0) >= max {
            return Err(Refusal::Caller);
        }
        let room = principal.room();
        if let Some(room) = &room {
            if held.get(room).copied().unwrap_or(0) >= room_max {
                return Err(Refusal::Address);
            }
        }
        let counted: Vec<Principal> = std::iter::once(principal.clone()).chain(room).collect();
        for principal in &counted {
            *held.entry(principal.clone()).or_insert(0) += 1;
        }
        Ok(Place { held: self.held.clone(), counted })
    }

    /// How many places `principal` holds.
    pub fn held(&self, principal: &Principal) -> usize {
        lock(&self.held).get(principal).copied().unwrap_or(0)
    }
}

impl Drop for Place {
    fn drop(&mut self) {
        let mut held = lock(&self.held);
        for principal in &self.counted {
            if let Some(count) = held.get_mut(principal) {
                *count = count.saturating_sub(1);
                if *count == 0 {
                    held.remove(principal);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::net::IpAddr;

    use super::*;
    use crate::accounts::guest_cookie::GuestCookies;

    #[test]
    fn a_principal_gets_at_most_max_places_and_dropping_frees_one() {
        let places = Places::default();
        let alice = Principal::User("alice-id".into());
        let bob = Principal::User("bob-id".into());
        let first = places.take(&alice, 2, 0).expect("first");
        let _second = places.take(&alice, 2, 0).expect("second");
        assert_eq!(places.take(&alice, 2, 0).unwrap_err(), Refusal::Caller, "a third is refused");
        assert!(places.take(&bob, 2, 0).is_ok(), "others are not affected; users have no room");
        drop(first);
        assert_eq!(places.held(&alice), 1);
        assert!(places.take(&alice, 2, 0).is_ok(), "a freed place is taken again");
    }

    #[test]
    fn guests_of_one_address_each_have_their_own_places_within_the_address_cap() {
        let places = Places::default();
        let address: IpAddr = "203.0.113.7".parse().unwrap();
        let cookies = GuestCookies::with_random_key();
        let browser = |_| Principal::Guest { address, browser: Some(cookies.issue().0) };
        let (a, b, c) = (browser(1), browser(2), browser(3));
        let cookieless = Principal::Guest { address, browser: None };
        let a1 = places.take(&a, 1, 3).expect("a's first");
        assert_eq!(places.take(&a, 1, 3).unwrap_err(), Refusal::Caller, "a's own cap");
        let _b1 = places.take(&b, 1, 3).expect("b is a guest of its own");
        let _c1 = places.take(&cookieless, 1, 3).expect("the cookieless guest too");
        assert_eq!(places.take(&c, 1, 3).unwrap_err(), Refusal::Address, "the address holds 3");
        let elsewhere = Principal::Guest { address: "198.51.100.1".parse().unwrap(), browser: None };
        assert!(places.take(&elsewhere, 1, 3).is_ok(), "another address has its own room");
        drop(a1);
        assert_eq!(places.held(&Principal::GuestAddress(address)), 2);
        assert!(places.take(&c, 1, 3).is_ok(), "a place freed in the room is taken again");
    }

    #[test]
    fn anonymous_callers_are_not_counted() {
        let places = Places::default();
        let held: Vec<Place> = (0..100).filter_map(|_| places.take(&Principal::Anonymous, 1, 1).ok()).collect();
        assert_eq!(held.len(), 100);
    }
}
