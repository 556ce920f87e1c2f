//! The egress proxy: what lets a box reach the hosts an operator allows,
//! and nothing else (`docs/egress.md`).
//!
//! Boxes have no network. When a caller's plan has egress and `[egress]`
//! has rules, the server holds a TCP listener on `127.0.0.1:<port>` inside
//! the box's network namespace and serves it with [`EgressProxy::serve_box`]:
//! `CONNECT host:port` and absolute-form `http://` requests, each checked
//! against the allow list ([`EgressPolicy`]), resolved once, refused for
//! any address that is not public unicast unless its rule lists that
//! address ([`address::classify`]), and relayed with bounded time and
//! connections.

pub mod address;
mod host_addresses;
mod policy;
mod proxy;

pub use host_addresses::host_addresses;
pub use policy::{EgressConfig, EgressConfigError, EgressPolicy, Refusal, RuleConfig};
pub use proxy::{EgressCounters, EgressProxy};

/// The environment a box's programs get when it has the proxy listening
/// on `port`: the proxy for http and https in both spellings tools read,
/// and the box's own loopback left direct.
pub fn proxy_env(port: u16) -> Vec<(String, String)> {
    let url = format!("http://127.0.0.1:{port}");
    let mut env: Vec<(String, String)> = ["http_proxy", "https_proxy", "HTTP_PROXY", "HTTPS_PROXY"]
        .iter()
        .map(|key| (key.to_string(), url.clone()))
        .collect();
    for key in ["no_proxy", "NO_PROXY"] {
        env.push((key.to_string(), "localhost,127.0.0.1".to_string()));
    }
    env
}
