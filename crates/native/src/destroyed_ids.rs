//! A bounded memory of destroyed box ids, so that destroying twice is
//! harmless and a late call on a destroyed box says "gone", not "no such
//! box", without the memory growing with every box ever made.

use std::collections::{HashSet, VecDeque};

use bytesbox_sandbox::BoxId;

/// The most recently destroyed ids, oldest forgotten first.
#[derive(Debug, Default)]
pub(crate) struct DestroyedIds {
    set: HashSet<BoxId>,
    order: VecDeque<BoxId>,
}

impl DestroyedIds {
    const CAPACITY: usize = 65_536;

    /// Remembers `id`, forgetting the oldest past the capacity.
    pub(crate) fn remember(&mut self, id: BoxId) {
        if self.set.insert(id.clone()) {
            self.order.push_back(id);
            if self.order.len() > Self::CAPACITY {
                if let Some(oldest) = self.order.pop_front() {
                    self.set.remove(&oldest);
                }
            }
        }
    }

    /// Whether `id` was destroyed (recently enough to be remembered).
    pub(crate) fn contains(&self, id: &BoxId) -> bool {
        self.set.contains(id)
    }
}
