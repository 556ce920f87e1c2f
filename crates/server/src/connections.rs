//! Connection limits (`[connections]` in the config file): how long a
//! client may take to send a request's head or keep a request body or a
//! WebSocket message half-sent, and how many connections one address and
//! everyone together may hold open. The accept loop that applies them is
//! `crate::listener`.

use std::collections::HashMap;
use std::net::{IpAddr, Ipv6Addr};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde::Deserialize;

/// Connection settings, resolved once at start-up.
#[derive(Clone, Debug, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields, default)]
pub struct ConnectionConfig {
    /// Seconds a client has to send a request's head, counted from the
    /// connection's opening or, on a kept-alive connection, from the end of
    /// the previous response (so it is also the keep-alive idle timeout).
    pub header_timeout_secs: u64,
    /// Seconds a request body may go without a byte before the request is
    /// refused (408) and its connection closed.
    pub idle_timeout_secs: u64,
    /// Seconds a WebSocket message may take from its first byte to its last.
    pub message_timeout_secs: u64,
    /// Seconds a write to a client may wait without the client taking a
    /// byte before the connection is closed (a client that stopped
    /// reading).
    pub send_timeout_secs: u64,
    /// Connections one address may hold open; 0: no cap. Not applied
    /// behind a trusted proxy, where every connection comes from the proxy.
    pub max_per_address: usize,
    /// Connections everyone together may hold open (also kept below the
    /// open-file limit).
    pub max_total: usize,
    /// MiB that request bodies and partial WebSocket messages being read
    /// may take together.
    pub memory_budget_mib: u64,
    /// Milliseconds a new body or message waits for room in that budget
    /// before it is refused.
    pub memory_wait_ms: u64,
}

impl Default for ConnectionConfig {
    fn default() -> Self {
        ConnectionConfig {
            header_timeout_secs: 10,
            idle_timeout_secs: 30,
            message_timeout_secs: 30,
            send_timeout_secs: 60,
            max_per_address: 256,
            max_total: 10_000,
            memory_budget_mib: 64,
            memory_wait_ms: 2_000,
        }
    }
}

impl ConnectionConfig {
    /// The header timeout (at least a second).
    pub fn header_timeout(&self) -> Duration {
        Duration::from_secs(self.header_timeout_secs.max(1))
    }

    /// The request-body idle timeout (at least a second).
    pub fn idle_timeout(&self) -> Duration {
        Duration::from_secs(self.idle_timeout_secs.max(1))
    }

    /// The WebSocket message assembly timeout (at least a second).
    pub fn message_timeout(&self) -> Duration {
        Duration::from_secs(self.message_timeout_secs.max(1))
    }

    /// The send timeout (at least a second).
    pub fn send_timeout(&self) -> Duration {
        Duration::from_secs(self.send_timeout_secs.max(1))
    }

    /// The memory budget in bytes (at least 1 MiB).
    pub fn memory_budget_bytes(&self) -> usize {
        usize::try_from(self.memory_budget_mib.max(1).saturating_mul(1024 * 1024)).unwrap_or(usize::MAX >> 4)
    }

    /// How long a body or message waits for room in the budget.
    pub fn memory_wait(&self) -> Duration {
        Duration::from_millis(self.memory_wait_ms)
    }
}

/// The address a connection counts against: its IP, with IPv4-mapped IPv6
/// addresses taken as IPv4 and IPv6 addresses by their /64 (one host
/// usually holds a whole /64, so single addresses would not limit it).
pub fn address_key(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V4(_) => ip,
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => {
                let s = v6.segments();
                IpAddr::V6(Ipv6Addr::new(s[0], s[1], s[2], s[3], 0, 0, 0, 0))
            }
        },
    }
}

/// Why a connection was not admitted.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Refusal {
    /// Its address holds its share already.
    PerAddress,
    /// The server holds as many as it takes.
    Total,
}

/// Open connections, per address and in total.
#[derive(Debug)]
pub struct ConnectionLimits {
    max_per_address: Option<usize>,
    max_total: usize,
    open: Mutex<OpenConnections>,
}

#[derive(Debug, Default)]
struct OpenConnections {
    total: usize,
    per_address: HashMap<IpAddr, usize>,
}

impl ConnectionLimits {
    /// Caps of `max_per_address` (0 or `None`: none) and `max_total`.
    pub fn new(max_per_address: Option<usize>, max_total: usize) -> Arc<ConnectionLimits> {
        Arc::new(ConnectionLimits {
            max_per_address: max_per_address.filter(|&cap| cap > 0),
            max_total: max_total.max(1),
            open: Mutex::new(OpenConnections::default()),
        })
    }

    /// Counts one more connection of `ip`, until the permit is dropped.
    pub fn admit(self: &Arc<Self>, ip: IpAddr) -> Result<ConnectionPermit, Refusal> {
        let key = address_key(ip);
        let mut open = self.open.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        if open.total >= self.max_total {
            return Err(Refusal::Total);
        }
        let of_address = open.per_address.entry(key).or_insert(0);
        if self.max_per_address.is_some_and(|cap| *of_address >= cap) {
            return Err(Refusal::PerAddress);
        }
        *of_address += 1;
        open.total += 1;
        Ok(ConnectionPermit { limits: self.clone(), key })
    }

    /// Connections open now.
    pub fn open(&self) -> usize {
        self.open.lock().unwrap_or_else(|poisoned| poisoned.into_inner()).total
    }
}

/// One admitted connection; dropping it gives its place back.
#[derive(Debug)]
pub struct ConnectionPermit {
    limits: Arc<ConnectionLimits>,
    key: IpAddr,
}

impl Drop for ConnectionPermit {
    fn drop(&mut self) {
        let mut open = self.limits.open.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        open.total = open.total.saturating_sub(1);
        if let Some(count) = open.per_address.get_mut(&self.key) {
            *count -= 1;
            if *count == 0 {
                // Addresses without connections hold no entry, so the map
                // stays as small as the set of connected addresses.
                open.per_address.remove(&self.key);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(text: &str) -> IpAddr {
        text.parse().expect("an address")
    }

    #[test]
    fn one_address_gets_its_share_and_others_still_get_in() {
        let limits = ConnectionLimits::new(Some(2), 10);
        let first = limits.admit(ip("127.0.0.1")).expect("first");
        let _second = limits.admit(ip("127.0.0.1")).expect("second");
        assert_eq!(limits.admit(ip("127.0.0.1")).unwrap_err(), Refusal::PerAddress);
        let _other = limits.admit(ip("127.0.0.2")).expect("another address is not affected");
        drop(first);
        let _again = limits.admit(ip("127.0.0.1")).expect("a closed connection gives its place back");
        assert_eq!(limits.open(), 3);
    }

    #[test]
    fn the_total_cap_holds_across_addresses_and_counts_go_back_to_zero() {
        let limits = ConnectionLimits::new(None, 3);
        let permits: Vec<_> = (1..=3).map(|n| limits.admit(ip(&format!("10.0.0.{n}"))).expect("admitted")).collect();
        assert_eq!(limits.admit(ip("10.0.0.9")).unwrap_err(), Refusal::Total);
        drop(permits);
        assert_eq!(limits.open(), 0);
        assert!(limits.open.lock().expect("lock").per_address.is_empty());
    }

    #[test]
    fn ipv6_counts_by_its_64_and_mapped_ipv4_as_ipv4() {
        assert_eq!(address_key(ip("2001:db8:1:2:aaaa::1")), ip("2001:db8:1:2::"));
        assert_eq!(address_key(ip("::ffff:192.0.2.7")), ip("192.0.2.7"));
        let limits = ConnectionLimits::new(Some(1), 10);
        let _held = limits.admit(ip("2001:db8:1:2::1")).expect("first");
        assert_eq!(limits.admit(ip("2001:db8:1:2::ffff")).unwrap_err(), Refusal::PerAddress);
    }

    #[test]
    fn zero_per_address_means_no_per_address_cap() {
        let limits = ConnectionLimits::new(Some(0), 100);
        let _held: Vec<_> = (0..50).map(|_| limits.admit(ip("127.0.0.1")).expect("admitted")).collect();
    }
}
