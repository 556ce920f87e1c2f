//! Concurrent runs per caller, over all of its sessions and APIs: a plan's
//! `max_concurrent_runs`. A run holds a [`RunSlot`] until it ends. The slot
//! also says who the run is for in the engine's fair queue.

use bytesbox_engine::Requester;

use super::places::{Place, Places, Refusal};
use super::{Caller, Principal};
use crate::fleet_runs::FleetRun;

/// Runs going per principal.
#[derive(Debug, Default)]
pub struct RunSlots {
    places: Places,
}

/// One run's place; dropping it frees the place (and its place in the
/// fleet, when it has one).
#[derive(Debug)]
pub struct RunSlot {
    _place: Place,
    _fleet: Option<FleetRun>,
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
        Ok(RunSlot { _place: place, _fleet: None, requester: Requester::default() })
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

    /// The slot, also holding the run's place in the fleet.
    pub fn holding(self, fleet: FleetRun) -> RunSlot {
        RunSlot { _fleet: Some(fleet), ..self }
    }

    /// Gives the place back, and the fleet's place too before it returns:
    /// call it before the run's answer is sent (dropping the slot frees the
    /// fleet's place on a task of its own, which the next run may beat).
    pub async fn release(self) {
        let RunSlot { _place: place, _fleet: fleet, .. } = self;
        drop(place);
        if let Some(fleet) = fleet {
            fleet.release().await;
        }
    }

    /// Whom to submit the run's job as.
    pub fn requester(&self) -> Requester {
        self.requester.clone()
    }
}
