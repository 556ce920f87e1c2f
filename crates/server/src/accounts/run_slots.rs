//! Concurrent runs per caller, over all of its sessions and APIs: a plan's
//! `max_concurrent_runs`. A run holds a [`RunSlot`] until it ends. The slot
//! also says who the run is for in the engine's fair queue.

use bytesbox_engine::Requester;

use super::places::{Place, Places, Refusal};
use super::{Caller, Principal};

/// Runs going per principal.
#[derive(Debug, Default)]
pub struct RunSlots {
    places: Places,
}

/// One run's place; dropping it frees the place.
#[derive(Debug)]
pub struct RunSlot {
    _place: Place,
    requester: Requester,
}

/// Whom the engine's fair queue serves `caller`'s runs as: one line per
/// user, per guest (a browser, or an address's cookieless clients) or
/// (without accounts) per client address. The
/// callers of a plan with a share of the run slots below 100% (guests, by
/// default) form one pool that never holds more than that share.
pub fn requester_of(caller: &Caller, plan: &str, run_slot_share_percent: u8) -> Requester {
    let key = match caller {
        Caller::Anonymous { address } => format!("address:{address}"),
        Caller::Guest { address, browser } => {
            format!("guest:{address}/{}", browser.as_ref().map_or("-", |id| id.as_str()))
        }
        Caller::User { user, .. } => format!("user:{}", user.id.0),
    };
    Requester::new(key).in_pool(format!("plan:{plan}"), run_slot_share_percent)
}

impl RunSlots {
    /// Takes a place for `principal`, which may have `max` runs going
    /// (and all guests of its address `address_max`), or says which cap
    /// refused it. Anonymous callers (no accounts) are not counted.
    pub fn acquire(&self, principal: &Principal, max: usize, address_max: usize) -> Result<RunSlot, Refusal> {
        let place = self.places.take(principal, max, address_max)?;
        Ok(RunSlot { _place: place, requester: Requester::default() })
    }

    /// Runs `principal` has going.
    pub fn running(&self, principal: &Principal) -> usize {
        self.places.held(principal)
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
