//! Which addresses a box may never reach through the proxy, whatever a
//! name resolves to: everything that is not a public unicast address
//! (`docs/egress.md`, "What is refused"). Only a rule that lists the
//! address itself (an IP literal or a CIDR) lets one of these through.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// Why an address is forbidden.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Forbidden {
    /// `127.0.0.0/8`, `::1`: the host itself.
    Loopback,
    /// RFC 1918 (`10/8`, `172.16/12`, `192.168/16`) and IPv6 unique local
    /// (`fc00::/7`, and the deprecated site-local `fec0::/10`).
    Private,
    /// `169.254.0.0/16` (with the cloud metadata address 169.254.169.254)
    /// and `fe80::/10`.
    LinkLocal,
    /// `0.0.0.0/8`, `::`.
    Unspecified,
    /// `224.0.0.0/4`, `ff00::/8`.
    Multicast,
    /// `255.255.255.255` and the rest of `240.0.0.0/4`.
    Broadcast,
    /// Carrier-grade NAT, `100.64.0.0/10`.
    SharedAddressSpace,
    /// IETF protocol assignments (`192.0.0.0/24`) and benchmarking
    /// (`198.18.0.0/15`): never a public host.
    Reserved,
    /// One of the host's own addresses.
    Host,
}

impl Forbidden {
    /// A phrase for the refusal's text.
    pub fn describe(self) -> &'static str {
        match self {
            Forbidden::Loopback => "a loopback address",
            Forbidden::Private => "a private address",
            Forbidden::LinkLocal => "a link-local address (such as the cloud metadata address)",
            Forbidden::Unspecified => "an unspecified address",
            Forbidden::Multicast => "a multicast address",
            Forbidden::Broadcast => "a broadcast or reserved address",
            Forbidden::SharedAddressSpace => "a carrier-grade NAT address",
            Forbidden::Reserved => "a reserved address",
            Forbidden::Host => "one of this server's own addresses",
        }
    }
}

/// Why `address` may not be reached, or `None` for a public unicast
/// address. IPv4-mapped (`::ffff:a.b.c.d`), IPv4-compatible (`::a.b.c.d`)
/// and NAT64 (`64:ff9b::a.b.c.d`) IPv6 addresses are judged by the IPv4
/// address they carry. The host's own addresses are checked apart
/// ([`crate::EgressPolicy`]).
pub fn classify(address: IpAddr) -> Option<Forbidden> {
    match address {
        IpAddr::V4(v4) => classify_v4(v4),
        IpAddr::V6(v6) => match embedded_v4(v6) {
            Some(v4) => classify_v4(v4),
            None => classify_v6(v6),
        },
    }
}

fn classify_v4(address: Ipv4Addr) -> Option<Forbidden> {
    let [a, b, c, _] = address.octets();
    if a == 0 {
        Some(Forbidden::Unspecified)
    } else if a == 127 {
        Some(Forbidden::Loopback)
    } else if a == 10 || (a == 172 && (16..32).contains(&b)) || (a == 192 && b == 168) {
        Some(Forbidden::Private)
    } else if a == 169 && b == 254 {
        Some(Forbidden::LinkLocal)
    } else if a == 100 && (64..128).contains(&b) {
        Some(Forbidden::SharedAddressSpace)
    } else if (a == 192 && b == 0 && c == 0) || (a == 198 && (b == 18 || b == 19)) {
        Some(Forbidden::Reserved)
    } else if (224..240).contains(&a) {
        Some(Forbidden::Multicast)
    } else if a >= 240 {
        Some(Forbidden::Broadcast)
    } else {
        None
    }
}

fn classify_v6(address: Ipv6Addr) -> Option<Forbidden> {
    let first = address.segments()[0];
    if address.is_unspecified() {
        Some(Forbidden::Unspecified)
    } else if address.is_loopback() {
        Some(Forbidden::Loopback)
    } else if first & 0xfe00 == 0xfc00 || first & 0xffc0 == 0xfec0 {
        Some(Forbidden::Private)
    } else if first & 0xffc0 == 0xfe80 {
        Some(Forbidden::LinkLocal)
    } else if first & 0xff00 == 0xff00 {
        Some(Forbidden::Multicast)
    } else {
        None
    }
}

/// The IPv4 address an IPv6 address stands for, if it is one of the forms
/// that reach an IPv4 host.
fn embedded_v4(address: Ipv6Addr) -> Option<Ipv4Addr> {
    if let Some(v4) = address.to_ipv4_mapped() {
        return Some(v4);
    }
    let segments = address.segments();
    let [hi, lo] = [segments[6], segments[7]];
    let v4 = Ipv4Addr::from((u32::from(hi) << 16) | u32::from(lo));
    let compatible = segments[..6].iter().all(|s| *s == 0) && !(hi == 0 && lo <= 1);
    let nat64 = segments[0] == 0x64 && segments[1] == 0xff9b && segments[2..6].iter().all(|s| *s == 0);
    (compatible || nat64).then_some(v4)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn class(text: &str) -> Option<Forbidden> {
        classify(text.parse().expect("an address"))
    }

    #[test]
    fn every_non_public_range_is_forbidden() {
        let cases = [
            ("127.0.0.1", Forbidden::Loopback),
            ("127.255.0.9", Forbidden::Loopback),
            ("::1", Forbidden::Loopback),
            ("10.1.2.3", Forbidden::Private),
            ("172.16.0.1", Forbidden::Private),
            ("172.31.255.255", Forbidden::Private),
            ("192.168.1.1", Forbidden::Private),
            ("fd12::1", Forbidden::Private),
            ("fc00::1", Forbidden::Private),
            ("169.254.169.254", Forbidden::LinkLocal),
            ("fe80::1", Forbidden::LinkLocal),
            ("0.0.0.0", Forbidden::Unspecified),
            ("::", Forbidden::Unspecified),
            ("224.0.0.1", Forbidden::Multicast),
            ("ff02::1", Forbidden::Multicast),
            ("255.255.255.255", Forbidden::Broadcast),
            ("100.64.0.1", Forbidden::SharedAddressSpace),
            ("100.127.255.254", Forbidden::SharedAddressSpace),
            ("198.18.0.1", Forbidden::Reserved),
        ];
        for (address, expected) in cases {
            assert_eq!(class(address), Some(expected), "{address}");
        }
    }

    #[test]
    fn ipv6_forms_of_forbidden_ipv4_addresses_are_judged_by_the_ipv4_address() {
        assert_eq!(class("::ffff:127.0.0.1"), Some(Forbidden::Loopback));
        assert_eq!(class("::ffff:169.254.169.254"), Some(Forbidden::LinkLocal));
        assert_eq!(class("::ffff:10.0.0.1"), Some(Forbidden::Private));
        assert_eq!(class("::127.0.0.1"), Some(Forbidden::Loopback));
        assert_eq!(class("64:ff9b::a9fe:a9fe"), Some(Forbidden::LinkLocal));
        assert_eq!(class("::ffff:203.0.114.7"), None);
    }

    #[test]
    fn public_unicast_addresses_pass() {
        for address in ["203.0.114.7", "172.32.0.1", "100.128.0.1", "11.0.0.1", "2001:db9::1", "169.253.1.1"] {
            assert_eq!(class(address), None, "{address}");
        }
    }
}
