//! The operator's allow list (`[egress]`), resolved once at start-up, and
//! the decision for one `host:port` a box asks for.

use std::collections::BTreeMap;
use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use ipnet::IpNet;
use serde::Deserialize;

use crate::address::{classify, Forbidden};

/// `[egress]` as written in the configuration file.
#[derive(Clone, Debug, Deserialize, PartialEq, Eq)]
#[serde(default, deny_unknown_fields)]
pub struct EgressConfig {
    /// The port the proxy listens on inside each box (on its loopback).
    pub port: u16,
    /// What boxes may reach; none: no box gets egress.
    pub rules: Vec<RuleConfig>,
    /// Names the proxy resolves itself, before DNS (internal hosts).
    pub hosts: BTreeMap<String, Vec<IpAddr>>,
    /// Connections one box may have through the proxy at once.
    pub max_connections_per_box: usize,
    /// Connections all boxes together may have at once.
    pub max_connections: usize,
    /// Bytes of a request's head (request line and headers).
    pub max_header_bytes: usize,
    /// Seconds a client has to send its request head.
    pub header_timeout_secs: u64,
    /// Seconds to resolve and connect to the target.
    pub connect_timeout_secs: u64,
    /// Seconds a connection may go with no byte either way.
    pub idle_timeout_secs: u64,
}

impl Default for EgressConfig {
    fn default() -> Self {
        EgressConfig {
            port: 3128,
            rules: Vec::new(),
            hosts: BTreeMap::new(),
            max_connections_per_box: 16,
            max_connections: 512,
            max_header_bytes: 16 * 1024,
            header_timeout_secs: 10,
            connect_timeout_secs: 10,
            idle_timeout_secs: 300,
        }
    }
}

/// One allow rule as written: `{ hosts = ["git.internal", "10.0.0.5/32"], ports = [80, 443] }`.
#[derive(Clone, Debug, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct RuleConfig {
    /// Host names (`name` exactly, `*.name` for any name below it), IP
    /// addresses and CIDRs. An address a name resolves to that is not
    /// public is reached only if the same rule lists it.
    pub hosts: Vec<String>,
    /// The ports these hosts may be reached on.
    pub ports: Vec<u16>,
}

/// Why the `[egress]` section is refused.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum EgressConfigError {
    /// A host entry that is neither a name, an address nor a CIDR.
    #[error("[egress] rule {rule}: {entry:?} is not a host name, an IP address or a CIDR")]
    BadHost {
        /// The rule's index.
        rule: usize,
        /// The entry.
        entry: String,
    },
    /// A name of `[egress.hosts]` that is not a host name.
    #[error("[egress.hosts]: {name:?} is not a host name")]
    BadName {
        /// The name.
        name: String,
    },
    /// A rule without hosts or ports.
    #[error("[egress] rule {rule}: needs at least one host and one port (ports 1-65535)")]
    EmptyRule {
        /// The rule's index.
        rule: usize,
    },
    /// A limit of zero, or a port of zero.
    #[error("[egress] {what} must be positive")]
    Zero {
        /// The setting.
        what: &'static str,
    },
}

/// A host entry of a rule.
#[derive(Clone, Debug, PartialEq, Eq)]
enum HostPattern {
    /// A name exactly (lowercase, no trailing dot).
    Name(String),
    /// Any name strictly below this suffix (`*.suffix`).
    Below(String),
    /// An address or a network.
    Net(IpNet),
}

impl HostPattern {
    fn parse(entry: &str) -> Option<HostPattern> {
        if let Ok(address) = entry.parse::<IpAddr>() {
            return Some(HostPattern::Net(IpNet::from(address)));
        }
        if let Ok(net) = entry.parse::<IpNet>() {
            return Some(HostPattern::Net(net.trunc()));
        }
        let name = normalize_name(entry.strip_prefix("*.").unwrap_or(entry))?;
        Some(if entry.starts_with("*.") { HostPattern::Below(name) } else { HostPattern::Name(name) })
    }
}

/// A resolved rule.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Rule {
    hosts: Vec<HostPattern>,
    ports: Vec<u16>,
}

impl Rule {
    /// Whether the rule names `target` (by name, or its address by a network).
    fn names(&self, target: &Target) -> bool {
        self.hosts.iter().any(|pattern| match (pattern, target) {
            (HostPattern::Name(name), Target::Name(asked)) => name == asked,
            (HostPattern::Below(suffix), Target::Name(asked)) => {
                asked.len() > suffix.len() + 1 && asked.ends_with(suffix.as_str()) && {
                    let dot = asked.len() - suffix.len() - 1;
                    asked.as_bytes()[dot] == b'.'
                }
            }
            (HostPattern::Net(net), Target::Address(address)) => net.contains(address),
            _ => false,
        })
    }

    /// Whether the rule lists `address` itself (by an address or a network).
    fn lists_address(&self, address: IpAddr) -> bool {
        self.hosts.iter().any(|pattern| matches!(pattern, HostPattern::Net(net) if net.contains(&address)))
    }
}

/// What a box asked for: a name or an address literal.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Target {
    Name(String),
    Address(IpAddr),
}

/// Why a request was refused: the proxy's 403 (or 502/504) text.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    /// Not a host and port the proxy can read.
    #[error("{0:?} is not a host name or an IP address")]
    BadHost(String),
    /// No rule names the host.
    #[error("{host} is not on this server's egress allow list")]
    NotAllowed {
        /// The host asked for.
        host: String,
    },
    /// A rule names the host but not the port.
    #[error("port {port} is not allowed for {host}")]
    PortNotAllowed {
        /// The host asked for.
        host: String,
        /// The port asked for.
        port: u16,
    },
    /// Every address the host has is forbidden.
    #[error("{host} is {address}, {}, which boxes may not reach", .why.describe())]
    ForbiddenAddress {
        /// The host asked for.
        host: String,
        /// The (first) address it had.
        address: IpAddr,
        /// Why that address is forbidden.
        why: Forbidden,
    },
    /// The name did not resolve.
    #[error("{host} could not be resolved")]
    Unresolved {
        /// The host asked for.
        host: String,
    },
}

/// The resolved `[egress]`: rules, the static names, the host's own
/// addresses (as of start-up) and the limits.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EgressPolicy {
    rules: Vec<Rule>,
    hosts: BTreeMap<String, Vec<IpAddr>>,
    own_addresses: Vec<IpAddr>,
    /// The port the proxy listens on in each box.
    pub port: u16,
    /// Connections per box.
    pub max_connections_per_box: usize,
    /// Connections over all boxes.
    pub max_connections: usize,
    /// Bytes of a request head.
    pub max_header_bytes: usize,
    /// Time for a request head.
    pub header_timeout: Duration,
    /// Time to resolve and connect.
    pub connect_timeout: Duration,
    /// Time with no byte either way.
    pub idle_timeout: Duration,
}

impl EgressPolicy {
    /// Resolves `[egress]`; `None` when it allows nothing (no box gets a
    /// proxy). `own_addresses` are the host's addresses
    /// ([`crate::host_addresses`]).
    pub fn new(config: &EgressConfig, own_addresses: Vec<IpAddr>) -> Result<Option<EgressPolicy>, EgressConfigError> {
        let positive = [
            ("port", u64::from(config.port)),
            ("max_connections_per_box", config.max_connections_per_box as u64),
            ("max_connections", config.max_connections as u64),
            ("max_header_bytes", config.max_header_bytes as u64),
            ("header_timeout_secs", config.header_timeout_secs),
            ("connect_timeout_secs", config.connect_timeout_secs),
            ("idle_timeout_secs", config.idle_timeout_secs),
        ];
        if let Some((what, _)) = positive.iter().find(|(_, value)| *value == 0) {
            return Err(EgressConfigError::Zero { what });
        }
        let mut rules = Vec::new();
        for (index, rule) in config.rules.iter().enumerate() {
            if rule.hosts.is_empty() || rule.ports.is_empty() || rule.ports.contains(&0) {
                return Err(EgressConfigError::EmptyRule { rule: index });
            }
            let hosts = rule
                .hosts
                .iter()
                .map(|entry| {
                    HostPattern::parse(entry).ok_or(EgressConfigError::BadHost { rule: index, entry: entry.clone() })
                })
                .collect::<Result<Vec<_>, _>>()?;
            rules.push(Rule { hosts, ports: rule.ports.clone() });
        }
        if rules.is_empty() {
            return Ok(None);
        }
        let mut hosts = BTreeMap::new();
        for (name, addresses) in &config.hosts {
            let Some(normal) = normalize_name(name) else {
                return Err(EgressConfigError::BadName { name: name.clone() });
            };
            hosts.insert(normal, addresses.clone());
        }
        Ok(Some(EgressPolicy {
            rules,
            hosts,
            own_addresses,
            port: config.port,
            max_connections_per_box: config.max_connections_per_box,
            max_connections: config.max_connections,
            max_header_bytes: config.max_header_bytes,
            header_timeout: Duration::from_secs(config.header_timeout_secs),
            connect_timeout: Duration::from_secs(config.connect_timeout_secs),
            idle_timeout: Duration::from_secs(config.idle_timeout_secs),
        }))
    }

    /// The rules that allow `host` on `port`, before any resolution.
    fn allowing(&self, host: &str, port: u16) -> Result<(Target, Vec<&Rule>), Refusal> {
        let target = parse_host(host).ok_or_else(|| Refusal::BadHost(host.to_string()))?;
        let naming: Vec<&Rule> = self.rules.iter().filter(|rule| rule.names(&target)).collect();
        if naming.is_empty() {
            return Err(Refusal::NotAllowed { host: host.to_string() });
        }
        let allowing: Vec<&Rule> = naming.into_iter().filter(|rule| rule.ports.contains(&port)).collect();
        if allowing.is_empty() {
            return Err(Refusal::PortNotAllowed { host: host.to_string(), port });
        }
        Ok((target, allowing))
    }

    /// Why `address` may not be reached under `rules`, if it may not.
    fn forbidden(&self, address: IpAddr, rules: &[&Rule]) -> Option<Forbidden> {
        let why = classify(address).or_else(|| {
            let own = self.own_addresses.iter().any(|own| canonical(*own) == canonical(address));
            own.then_some(Forbidden::Host)
        })?;
        (!rules.iter().any(|rule| rule.lists_address(address))).then_some(why)
    }

    /// The addresses the proxy may connect to for `host:port`, resolved
    /// once (the proxy connects to one of these, never resolves again), or
    /// why none.
    pub async fn resolve(&self, host: &str, port: u16) -> Result<Vec<SocketAddr>, Refusal> {
        let (target, rules) = self.allowing(host, port)?;
        let addresses: Vec<IpAddr> = match &target {
            Target::Address(address) => vec![*address],
            Target::Name(name) => match self.hosts.get(name) {
                Some(fixed) => fixed.clone(),
                None => lookup(name, port).await,
            },
        };
        let mut first_refusal = None;
        let mut allowed = Vec::new();
        for address in addresses {
            match self.forbidden(address, &rules) {
                None => allowed.push(SocketAddr::new(address, port)),
                Some(why) => {
                    first_refusal.get_or_insert(Refusal::ForbiddenAddress { host: host.to_string(), address, why });
                }
            }
        }
        match (allowed.is_empty(), first_refusal) {
            (false, _) => Ok(allowed),
            (true, Some(refusal)) => Err(refusal),
            (true, None) => Err(Refusal::Unresolved { host: host.to_string() }),
        }
    }
}

/// The name's addresses from the system's resolver (empty if none).
async fn lookup(name: &str, port: u16) -> Vec<IpAddr> {
    match tokio::net::lookup_host((name, port)).await {
        Ok(found) => found.map(|address| address.ip()).collect(),
        Err(_) => Vec::new(),
    }
}

/// An address as the kernel would reach it: IPv4-mapped IPv6 as IPv4.
fn canonical(address: IpAddr) -> IpAddr {
    match address {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map(IpAddr::V4).unwrap_or(address),
        v4 => v4,
    }
}

/// A host as asked (`name`, `1.2.3.4`, `[::1]`), or `None` if it is neither.
fn parse_host(host: &str) -> Option<Target> {
    let bare = host.strip_prefix('[').and_then(|h| h.strip_suffix(']')).unwrap_or(host);
    if let Ok(address) = bare.parse::<IpAddr>() {
        return Some(Target::Address(address));
    }
    if bare.len() != host.len() {
        return None;
    }
    normalize_name(host).map(Target::Name)
}

/// A DNS name in lowercase without its trailing dot, or `None` if it is
/// not one (only letters, digits, `-`, `_` and dots; labels of 1-63; at
/// most 253 in all). A name of digits and dots only is refused: the C
/// resolver would read `2130706433` or `127.1` as an address.
fn normalize_name(name: &str) -> Option<String> {
    let name = name.strip_suffix('.').unwrap_or(name).to_ascii_lowercase();
    let labels_ok = name.split('.').all(|label| {
        (1..=63).contains(&label.len())
            && label.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
            && !label.starts_with('-')
    });
    let numeric = name.bytes().all(|b| b.is_ascii_digit() || b == b'.' || b == b'x');
    (labels_ok && !numeric && name.len() <= 253).then_some(name)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy(text: &str) -> EgressPolicy {
        let config: EgressConfig = toml::from_str(text).expect("config");
        EgressPolicy::new(&config, vec!["203.0.114.9".parse().expect("address")]).expect("valid").expect("rules")
    }

    fn run<T>(future: impl std::future::Future<Output = T>) -> T {
        tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime").block_on(future)
    }

    const RULES: &str = r#"
        rules = [
            { hosts = ["git.internal", "10.200.0.2/32"], ports = [80] },
            { hosts = ["*.mirror.internal"], ports = [80, 443] },
            { hosts = ["203.0.114.0/24"], ports = [443] },
            { hosts = ["sneaky.internal"], ports = [80] },
        ]
        [hosts]
        "git.internal" = ["10.200.0.2"]
        "sneaky.internal" = ["127.0.0.1"]
        "pkg.mirror.internal" = ["203.0.114.20", "10.9.9.9"]
        "meta.mirror.internal" = ["169.254.169.254"]
        "own.mirror.internal" = ["203.0.114.9"]
    "#;

    #[test]
    fn a_name_reaches_a_private_address_only_when_its_rule_lists_that_address() {
        let policy = policy(RULES);
        let resolved = run(policy.resolve("git.internal", 80)).expect("allowed");
        assert_eq!(resolved, vec!["10.200.0.2:80".parse().expect("address")]);
        let refused = run(policy.resolve("sneaky.internal", 80)).expect_err("loopback");
        assert!(matches!(refused, Refusal::ForbiddenAddress { why: Forbidden::Loopback, .. }), "{refused:?}");
        let metadata = run(policy.resolve("meta.mirror.internal", 443)).expect_err("metadata");
        assert!(matches!(metadata, Refusal::ForbiddenAddress { why: Forbidden::LinkLocal, .. }), "{metadata:?}");
    }

    #[test]
    fn forbidden_addresses_of_a_name_are_dropped_and_the_public_ones_kept() {
        let resolved = run(policy(RULES).resolve("PKG.Mirror.Internal.", 443)).expect("allowed");
        assert_eq!(resolved, vec!["203.0.114.20:443".parse().expect("address")]);
    }

    #[test]
    fn hosts_and_ports_off_the_list_are_refused() {
        let policy = policy(RULES);
        let not_listed = run(policy.resolve("other.internal", 80)).expect_err("not listed");
        assert_eq!(not_listed, Refusal::NotAllowed { host: "other.internal".into() });
        let port = run(policy.resolve("git.internal", 22)).expect_err("port");
        assert_eq!(port, Refusal::PortNotAllowed { host: "git.internal".into(), port: 22 });
        assert!(run(policy.resolve("mirror.internal", 80)).is_err(), "the wildcard is for names below it only");
        assert!(run(policy.resolve("evilmirror.internal", 80)).is_err());
        assert!(run(policy.resolve("10.200.0.3", 80)).is_err(), "a neighbour of the listed address");
    }

    #[test]
    fn address_literals_are_matched_by_networks_and_still_classified() {
        let policy = policy(RULES);
        assert!(run(policy.resolve("10.200.0.2", 80)).is_ok());
        assert!(run(policy.resolve("203.0.114.7", 443)).is_ok());
        // A network the operator wrote lists every address in it, the
        // host's own included.
        assert!(run(policy.resolve("203.0.114.9", 443)).is_ok());
        let own = run(policy.resolve("own.mirror.internal", 443)).expect_err("the host's own address");
        assert!(matches!(own, Refusal::ForbiddenAddress { why: Forbidden::Host, .. }), "{own:?}");
        assert!(matches!(run(policy.resolve("127.0.0.1", 80)), Err(Refusal::NotAllowed { .. })));
        assert!(matches!(run(policy.resolve("[::ffff:10.200.0.2]", 80)), Err(Refusal::NotAllowed { .. })));
    }

    #[test]
    fn a_network_in_a_rule_lists_the_addresses_it_contains() {
        let policy = policy(r#"rules = [{ hosts = ["0.0.0.0/0", "::/0"], ports = [80] }]"#);
        // `0.0.0.0/0` lists every address: an operator who writes it allows
        // private ones too, as the rule says.
        assert!(run(policy.resolve("10.1.1.1", 80)).is_ok());
        let listed = self::policy(r#"rules = [{ hosts = ["10.0.0.0/8"], ports = [80] }]"#);
        assert!(run(listed.resolve("10.1.1.1", 80)).is_ok());
        let own = run(listed.resolve("[::ffff:203.0.114.9]", 80)).expect_err("not listed");
        assert!(matches!(own, Refusal::NotAllowed { .. }), "{own:?}");
    }

    #[test]
    fn names_the_resolver_would_read_as_addresses_are_refused() {
        let policy = policy(r#"rules = [{ hosts = ["*.internal"], ports = [80] }]"#);
        assert!(matches!(run(policy.resolve("2130706433", 80)), Err(Refusal::BadHost(_))));
        assert!(matches!(run(policy.resolve("127.1", 80)), Err(Refusal::BadHost(_))));
        assert!(matches!(run(policy.resolve("a b", 80)), Err(Refusal::BadHost(_))));
        assert!(matches!(run(policy.resolve("[name]", 80)), Err(Refusal::BadHost(_))));
    }

    #[test]
    fn a_section_without_rules_allows_nothing_and_bad_entries_are_refused() {
        assert_eq!(EgressPolicy::new(&EgressConfig::default(), Vec::new()), Ok(None));
        let bad: EgressConfig = toml::from_str(r#"rules = [{ hosts = ["not a host"], ports = [80] }]"#).expect("toml");
        assert!(matches!(EgressPolicy::new(&bad, Vec::new()), Err(EgressConfigError::BadHost { .. })));
        let portless: EgressConfig =
            toml::from_str(r#"rules = [{ hosts = ["a.internal"], ports = [] }]"#).expect("toml");
        assert_eq!(EgressPolicy::new(&portless, Vec::new()), Err(EgressConfigError::EmptyRule { rule: 0 }));
        let numeric: EgressConfig = toml::from_str(
            "rules = [{ hosts = [\"a.internal\"], ports = [80] }]\n[hosts]\n\"127.1\" = [\"10.0.0.1\"]\n",
        )
        .expect("toml");
        assert_eq!(EgressPolicy::new(&numeric, Vec::new()), Err(EgressConfigError::BadName { name: "127.1".into() }));
    }
}
