//! Operations holding a session's box in use.
//!
//! A session's box is destroyed as idle (its caller's idle bytes over the
//! plan's cap, a detached session's box taken for another, a database
//! reset) only when nothing uses it. Runs and terminals say so once they
//! are registered, but an operation spends time with the box before
//! that, or without ever registering: writing a run's files, checking the
//! workspace, starting a language server or a kernel, a `git` command.
//! Each holds a [`BoxInUse`] from before it asks for the box until it is
//! done with it, so a sweep cannot destroy the box under it.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

/// How many operations of one session hold its box now.
#[derive(Debug, Default)]
pub(crate) struct BoxUsers(Arc<AtomicUsize>);

impl BoxUsers {
    /// One more operation holds the box, until the guard is dropped.
    pub(crate) fn hold(&self) -> BoxInUse {
        self.0.fetch_add(1, Ordering::AcqRel);
        BoxInUse(self.0.clone())
    }

    /// Whether any operation holds the box.
    pub(crate) fn any(&self) -> bool {
        self.0.load(Ordering::Acquire) > 0
    }
}

/// An operation's hold on its session's box; dropped, however the
/// operation ends (a dropped future included), the hold ends.
#[derive(Debug)]
pub struct BoxInUse(Arc<AtomicUsize>);

impl Drop for BoxInUse {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::AcqRel);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_box_is_held_while_any_guard_lives() {
        let users = BoxUsers::default();
        assert!(!users.any());
        let first = users.hold();
        let second = users.hold();
        drop(first);
        assert!(users.any(), "one operation still holds it");
        drop(second);
        assert!(!users.any());
    }
}
