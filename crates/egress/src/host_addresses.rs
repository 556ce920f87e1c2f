//! The host's own addresses, which a box may never reach through the
//! proxy (its public ones too: services listening there are the host's).

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// Every address of every interface of the server's network namespace,
/// as of now (read once at start-up; `docs/egress.md` says why that is
/// enough). Empty if the kernel will not say.
pub fn host_addresses() -> Vec<IpAddr> {
    let mut list: *mut libc::ifaddrs = std::ptr::null_mut();
    // SAFETY: `getifaddrs` writes a list it allocated into `list`, freed
    // below with `freeifaddrs` once read.
    if unsafe { libc::getifaddrs(&mut list) } != 0 {
        return Vec::new();
    }
    let mut addresses = Vec::new();
    let mut entry = list;
    while !entry.is_null() {
        // SAFETY: `entry` is a node of the list `getifaddrs` made, not yet
        // freed; its `ifa_addr` is null or points to a sockaddr of the
        // family it names.
        unsafe {
            let address = (*entry).ifa_addr;
            if !address.is_null() {
                match i32::from((*address).sa_family) {
                    libc::AF_INET => {
                        let v4 = &*(address as *const libc::sockaddr_in);
                        addresses.push(IpAddr::V4(Ipv4Addr::from(u32::from_be(v4.sin_addr.s_addr))));
                    }
                    libc::AF_INET6 => {
                        let v6 = &*(address as *const libc::sockaddr_in6);
                        addresses.push(IpAddr::V6(Ipv6Addr::from(v6.sin6_addr.s6_addr)));
                    }
                    _ => {}
                }
            }
            entry = (*entry).ifa_next;
        }
    }
    // SAFETY: the list from the successful `getifaddrs` above, freed once.
    unsafe { libc::freeifaddrs(list) };
    addresses
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_loopback_address_is_among_the_hosts_own() {
        assert!(super::host_addresses().contains(&"127.0.0.1".parse().expect("address")));
    }
}
