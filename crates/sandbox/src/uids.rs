//! Unprivileged user ids for boxes: one per box, so programs of different
//! boxes never share a uid, even in files or signals that might leak, nor
//! the kernel's per-user counts (`RLIMIT_NPROC`, inotify instances, key
//! quotas, pending signals), which would let one box starve the others.

use std::collections::BTreeSet;
use std::sync::Mutex;

use crate::SandboxError;

/// A pool of `count` uids starting at `base`.
#[derive(Debug)]
pub struct UidPool {
    base: u32,
    count: u32,
    in_use: Mutex<BTreeSet<u32>>,
    next: Mutex<u32>,
}

impl UidPool {
    /// A pool; `base` must be non-zero.
    pub fn new(base: u32, count: u32) -> UidPool {
        UidPool { base: base.max(1), count: count.max(1), in_use: Mutex::new(BTreeSet::new()), next: Mutex::new(0) }
    }

    /// Takes a free uid, rotating through the range so a just-freed uid is
    /// not reused at once.
    pub fn take(&self) -> Result<u32, SandboxError> {
        let mut in_use = self.in_use.lock().map_err(|_| SandboxError::Internal("uid pool poisoned".into()))?;
        let mut next = self.next.lock().map_err(|_| SandboxError::Internal("uid pool poisoned".into()))?;
        for _ in 0..self.count {
            let uid = self.base + *next;
            *next = (*next + 1) % self.count;
            if in_use.insert(uid) {
                return Ok(uid);
            }
        }
        Err(SandboxError::Unavailable(format!("all {} box user ids are in use", self.count)))
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
        assert!(pool.take().is_err());
        pool.give_back(5001);
        assert_eq!(pool.take().unwrap(), 5001);
    }

    #[test]
    fn zero_is_never_handed_out() {
        let pool = UidPool::new(0, 2);
        assert_ne!(pool.take().unwrap(), 0);
    }
}
