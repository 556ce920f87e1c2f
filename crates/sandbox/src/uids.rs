//! Unprivileged user ids for boxes: one per box, so programs of different
//! boxes never share a uid, even in files or signals that might leak, nor
//! the kernel's per-user counts (`RLIMIT_NPROC`, inotify instances, key
//! quotas, pending signals), which would let one box starve the others.

use std::collections::BTreeSet;
use std::sync::Mutex;

use crate::SandboxError;

/// A pool of `count` uids starting at `base`. Since every box holds one,
/// the pool is also where the number of boxes is capped.
#[derive(Debug)]
pub struct UidPool {
    base: u32,
    count: u32,
    /// Uids handed out at once at most: the server's box cap.
    max_in_use: usize,
    in_use: Mutex<BTreeSet<u32>>,
    next: Mutex<u32>,
}

impl UidPool {
    /// A pool; `base` must be non-zero.
    pub fn new(base: u32, count: u32) -> UidPool {
        UidPool::with_cap(base, count, usize::MAX)
    }

    /// A pool that hands out at most `max_in_use` uids at once (the number
    /// of boxes the server can hold), rotating through all `count`.
    pub fn with_cap(base: u32, count: u32, max_in_use: usize) -> UidPool {
        UidPool {
            base: base.max(1),
            count: count.max(1),
            max_in_use: max_in_use.max(1),
            in_use: Mutex::new(BTreeSet::new()),
            next: Mutex::new(0),
        }
    }

    /// Takes a free uid, rotating through the range so a just-freed uid is
    /// not reused at once. A full pool is the server's capacity, not a
    /// fault: [`SandboxError::AtCapacity`].
    pub fn take(&self) -> Result<u32, SandboxError> {
        let mut in_use = self.in_use.lock().map_err(|_| SandboxError::Internal("uid pool poisoned".into()))?;
        if in_use.len() >= self.max_in_use {
            return Err(SandboxError::AtCapacity(format!("{} boxes, its most", in_use.len())));
        }
        let mut next = self.next.lock().map_err(|_| SandboxError::Internal("uid pool poisoned".into()))?;
        for _ in 0..self.count {
            let uid = self.base + *next;
            *next = (*next + 1) % self.count;
            if in_use.insert(uid) {
                return Ok(uid);
            }
        }
        Err(SandboxError::AtCapacity(format!("all {} box user ids are in use", self.count)))
    }

    /// Returns a uid to the pool.
    pub fn give_back(&self, uid: u32) {
        if let Ok(mut in_use) = self.in_use.lock() {
            in_use.remove(&uid);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uids_are_unique_until_returned() {
        let pool = UidPool::new(5000, 3);
        let taken: Vec<_> = (0..3).map(|_| pool.take().unwrap()).collect();
        assert_eq!(taken, [5000, 5001, 5002]);
        assert!(matches!(pool.take(), Err(SandboxError::AtCapacity(_))));
        pool.give_back(5001);
        assert_eq!(pool.take().unwrap(), 5001);
    }

    #[test]
    fn zero_is_never_handed_out() {
        let pool = UidPool::new(0, 2);
        assert_ne!(pool.take().unwrap(), 0);
    }

    #[test]
    fn a_capped_pool_refuses_past_its_cap_and_still_rotates() {
        let pool = UidPool::with_cap(7000, 10, 2);
        let first = pool.take().unwrap();
        let second = pool.take().unwrap();
        let refused = pool.take().unwrap_err();
        assert_eq!(refused.code(), "at_capacity");
        assert!(refused.to_string().contains("2 boxes"), "{refused}");
        pool.give_back(first);
        // The freed uid is not handed out again at once: the pool moves on.
        let third = pool.take().unwrap();
        assert!(third != first && third != second, "{first} {second} {third}");
    }
}
