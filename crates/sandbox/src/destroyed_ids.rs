//! A bounded memory of destroyed box ids, so that destroying twice is
//! harmless and a late call on a destroyed box says "gone", not "no such
//! box", without the memory growing with every box ever made.

use std::collections::{HashSet, VecDeque};

use crate::backend::BoxId;

/// The most recently destroyed ids, oldest forgotten first.
#[derive(Debug, Default)]
pub struct DestroyedIds {
    set: HashSet<BoxId>,
    order: VecDeque<BoxId>,
}

impl DestroyedIds {
    const CAPACITY: usize = 65_536;

    /// Remembers `id`, forgetting the oldest past the capacity.
    pub fn remember(&mut self, id: BoxId) {
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
    pub fn contains(&self, id: &BoxId) -> bool {
        self.set.contains(id)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_oldest_ids_are_forgotten_past_the_capacity() {
        let mut destroyed = DestroyedIds::default();
        for n in 0..=DestroyedIds::CAPACITY {
            destroyed.remember(BoxId(format!("b{n}")));
        }
        destroyed.remember(BoxId("b1".into()));
        assert!(!destroyed.contains(&BoxId("b0".into())), "the oldest is forgotten");
        assert!(
            destroyed.contains(&BoxId("b1".into()))
                && destroyed.contains(&BoxId(format!("b{}", DestroyedIds::CAPACITY)))
        );
    }
}
