//! The pool session networks take their subnets from. A subnet returns to
//! the pool when its network is removed, so a long-running server never
//! runs out (a failure of the reference designs).

use std::collections::BTreeSet;
use std::net::Ipv4Addr;

use bytesbox_sandbox::SandboxError;

/// Subnets of `prefix` bits inside `base/pool_prefix`, handed out lowest first.
#[derive(Debug)]
pub struct SubnetPool {
    base: u32,
    pool_prefix: u8,
    prefix: u8,
    in_use: BTreeSet<u32>,
    /// Taken by someone else (another server, another backend).
    reserved: BTreeSet<u32>,
}

impl SubnetPool {
    /// A pool; the subnets must fit (pool prefix <= subnet prefix <= 29, so
    /// each subnet has room for a gateway and a few containers).
    pub fn new(base: Ipv4Addr, pool_prefix: u8, prefix: u8) -> Result<SubnetPool, SandboxError> {
        if !(8..=29).contains(&pool_prefix) || !(pool_prefix..=29).contains(&prefix) {
            return Err(SandboxError::InvalidSpec(format!(
                "subnet pool /{pool_prefix} with /{prefix} networks: need 8 <= pool prefix <= network prefix <= 29"
            )));
        }
        let mask = u32::MAX << (32 - pool_prefix);
        Ok(SubnetPool {
            base: u32::from(base) & mask,
            pool_prefix,
            prefix,
            in_use: BTreeSet::new(),
            reserved: BTreeSet::new(),
        })
    }

    /// How many subnets the pool holds.
    pub fn capacity(&self) -> u32 {
        1 << (self.prefix - self.pool_prefix)
    }

    /// Takes the lowest free subnet: its index and CIDR text.
    pub fn take(&mut self) -> Option<(u32, String)> {
        let index = (0..self.capacity()).find(|i| !self.in_use.contains(i) && !self.reserved.contains(i))?;
        self.in_use.insert(index);
        Some((index, self.cidr(index)))
    }

    /// Marks a subnet as used by someone else (one found on an existing
    /// network); it is never handed out.
    pub fn reserve_cidr(&mut self, cidr: &str) {
        if let Some(index) = (0..self.capacity()).find(|i| self.cidr(*i) == cidr) {
            self.reserved.insert(index);
        }
    }

    /// A subnet we took turned out to be someone else's: keep it out of
    /// the pool.
    pub fn mark_foreign(&mut self, index: u32) {
        self.in_use.remove(&index);
        self.reserved.insert(index);
    }

    /// Returns a subnet to the pool.
    pub fn give_back(&mut self, index: u32) {
        self.in_use.remove(&index);
    }

    /// Subnets handed out by this pool and not given back.
    pub fn in_use(&self) -> usize {
        self.in_use.len()
    }

    fn cidr(&self, index: u32) -> String {
        let network = self.base + (index << (32 - self.prefix));
        format!("{}/{}", Ipv4Addr::from(network), self.prefix)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn subnets_are_distinct_and_return_to_the_pool() {
        let mut pool = SubnetPool::new(Ipv4Addr::new(10, 213, 7, 9), 16, 28).unwrap();
        assert_eq!(pool.capacity(), 4096);
        let (a, first) = pool.take().unwrap();
        let (_, second) = pool.take().unwrap();
        assert_eq!(first, "10.213.0.0/28");
        assert_eq!(second, "10.213.0.16/28");
        pool.give_back(a);
        assert_eq!(pool.take().unwrap().1, "10.213.0.0/28", "a returned subnet is reused");
        assert_eq!(pool.in_use(), 2);
    }

    #[test]
    fn a_full_pool_says_so() {
        let mut pool = SubnetPool::new(Ipv4Addr::new(192, 168, 0, 0), 28, 29).unwrap();
        assert!(pool.take().is_some() && pool.take().is_some());
        assert!(pool.take().is_none());
        pool.give_back(1);
        pool.reserve_cidr("192.168.0.8/29");
        assert!(pool.take().is_none(), "a reserved subnet is never handed out");
        assert_eq!(pool.in_use(), 1);
    }

    #[test]
    fn impossible_pools_are_refused() {
        assert!(SubnetPool::new(Ipv4Addr::new(10, 0, 0, 0), 24, 16).is_err());
        assert!(SubnetPool::new(Ipv4Addr::new(10, 0, 0, 0), 16, 31).is_err());
    }
}
