//! Which hosts the server answers to and which origins may act through a
//! browser: the guards against DNS rebinding and cross-site requests.
//!
//! A DNS-rebinding page is served from a name its author controls
//! (`attacker.example`), then points that name at this server: the browser
//! then sends `Host: attacker.example` and `Origin: http://attacker.example`,
//! both naming the attacker, and treats the answers as same-origin. So
//! neither header can vouch for the other: a host name is trusted only
//! when it cannot be rebound by someone else (`localhost`, an IP address)
//! or the administrator listed it (the public URL and the allowed origins,
//! see `docs/security.md`).

use std::net::IpAddr;

use axum::http::header::{HOST, ORIGIN};
use axum::http::{HeaderMap, Uri};

/// Whether the request's `Host` is one this server answers to: absent (a
/// client that is not a browser: browsers always send it), `localhost`, an
/// IP address (no name to rebind), or the host of an origin in `allowed`
/// (which holds the configured public URL's origin). The port does not
/// matter: a rebinding page must use the server's own port anyway.
pub fn host_allowed(headers: &HeaderMap, allowed: &[String]) -> bool {
    let Some(host) = headers.get(HOST) else { return true };
    let Some(name) = host.to_str().ok().and_then(host_name) else { return false };
    if name.eq_ignore_ascii_case("localhost") || name.parse::<IpAddr>().is_ok() {
        return true;
    }
    allowed
        .iter()
        .filter_map(|origin| origin_authority(origin).and_then(host_name))
        .any(|listed| listed.eq_ignore_ascii_case(name))
}

/// Whether the request's `Origin` is acceptable: absent (not a browser, or
/// a same-origin GET), listed in `allowed`, or the server's own — its host
/// and port equal `Host`, and that host is one [`host_allowed`] trusts, so
/// a rebound name never makes its own origin acceptable. The literal
/// `null` origin (sandboxed frames, `file:` pages) is never acceptable.
pub fn origin_allowed(headers: &HeaderMap, allowed: &[String]) -> bool {
    let Some(origin) = headers.get(ORIGIN) else { return true };
    let Ok(origin) = origin.to_str() else { return false };
    if allowed.iter().any(|entry| entry.trim_end_matches('/').eq_ignore_ascii_case(origin)) {
        return true;
    }
    let Some(host) = headers.get(HOST).and_then(|host| host.to_str().ok()) else { return false };
    let same_as_host = origin_authority(origin).is_some_and(|authority| authority.eq_ignore_ascii_case(host));
    same_as_host && host_allowed(headers, allowed)
}

/// `scheme://host[:port]` of an `http` or `https` URL (any path is
/// dropped), lowercased: what a browser sends as `Origin` for its pages.
/// For `[accounts] public_url`.
pub fn origin_of_url(url: &str) -> Result<String, String> {
    let uri: Uri = url.trim().parse().map_err(|e| format!("{url:?} is not a URL: {e}"))?;
    let scheme = uri.scheme_str().map(str::to_ascii_lowercase);
    let Some(scheme @ ("http" | "https")) = scheme.as_deref() else {
        return Err(format!("{url:?} must start with http:// or https://"));
    };
    let authority = uri.authority().ok_or_else(|| format!("{url:?} has no host"))?;
    if authority.as_str().contains('@') {
        return Err(format!("{url:?} must not hold a user name or password"));
    }
    Ok(format!("{scheme}://{}", authority.as_str().to_ascii_lowercase()))
}

/// The `host[:port]` of an `http(s)://host[:port]` origin.
fn origin_authority(origin: &str) -> Option<&str> {
    let rest = origin.strip_prefix("https://").or_else(|| origin.strip_prefix("http://"))?;
    Some(rest.trim_end_matches('/'))
}

/// The host name of a `host[:port]` authority (an IPv6 address without
/// its brackets); `None` when it is malformed.
fn host_name(authority: &str) -> Option<&str> {
    if let Some(bracketed) = authority.strip_prefix('[') {
        let (address, after) = bracketed.split_once(']')?;
        return (after.is_empty() || after.starts_with(':')).then_some(address);
    }
    let name = match authority.rsplit_once(':') {
        Some((name, port)) if port.bytes().all(|b| b.is_ascii_digit()) => name,
        Some(_) => return None,
        None => authority,
    };
    (!name.is_empty() && !name.contains(['/', '@', ' '])).then_some(name)
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    fn headers(origin: Option<&'static str>, host: &'static str) -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert(HOST, HeaderValue::from_static(host));
        if let Some(origin) = origin {
            headers.insert(ORIGIN, HeaderValue::from_static(origin));
        }
        headers
    }

    #[test]
    fn own_origin_and_absent_origin_pass_others_do_not() {
        assert!(origin_allowed(&headers(None, "localhost:8080"), &[]));
        assert!(origin_allowed(&headers(Some("http://localhost:8080"), "localhost:8080"), &[]));
        assert!(origin_allowed(&headers(Some("https://LOCALHOST:8080"), "localhost:8080"), &[]));
        assert!(origin_allowed(&headers(Some("http://127.0.0.1:8080"), "127.0.0.1:8080"), &[]));
        assert!(origin_allowed(&headers(Some("http://[::1]:8080"), "[::1]:8080"), &[]));
        assert!(origin_allowed(&headers(Some("http://192.0.2.7:8080"), "192.0.2.7:8080"), &[]));
        assert!(!origin_allowed(&headers(Some("http://evil.example"), "localhost:8080"), &[]));
        assert!(!origin_allowed(&headers(Some("http://localhost:8081"), "localhost:8080"), &[]));
        assert!(!origin_allowed(&headers(Some("null"), "localhost:8080"), &[]));
        assert!(!origin_allowed(&headers(Some("http://localhost:8080.evil.example"), "localhost:8080"), &[]));
    }

    #[test]
    fn a_rebound_name_is_not_trusted_by_its_own_origin() {
        // The rebinding page: Host and Origin agree, and both are the attacker's.
        let rebound = headers(Some("http://attacker.example:8080"), "attacker.example:8080");
        assert!(!host_allowed(&rebound, &[]));
        assert!(!origin_allowed(&rebound, &[]));
        // Same without a port, with a trailing dot, or with a name that
        // merely starts like a trusted one.
        for host in ["attacker.example", "localhost.", "localhost.attacker.example", "127.0.0.1.nip.io:8080"] {
            let mut rebound = HeaderMap::new();
            rebound.insert(HOST, HeaderValue::from_str(host).unwrap());
            assert!(!host_allowed(&rebound, &[]), "{host}");
        }
        // Names the administrator listed are trusted, at any port.
        let allowed = vec!["https://ide.example.com".to_string()];
        assert!(host_allowed(&headers(None, "ide.example.com"), &allowed));
        assert!(host_allowed(&headers(None, "IDE.example.com:8443"), &allowed));
        assert!(origin_allowed(&headers(Some("https://ide.example.com"), "ide.example.com"), &allowed));
        assert!(!host_allowed(&rebound, &allowed));
    }

    #[test]
    fn loopback_and_addresses_are_trusted_hosts_malformed_ones_are_not() {
        for host in ["localhost", "localhost:8080", "127.0.0.1:80", "127.1.2.3", "[::1]:8080", "[::1]", "10.0.0.5:8080"]
        {
            assert!(host_allowed(&headers(None, host), &[]), "{host}");
        }
        for host in ["", ":8080", "[::1", "[::1]x", "localhost:80a", "user@localhost", "a b"] {
            let mut map = HeaderMap::new();
            map.insert(HOST, HeaderValue::from_str(host).unwrap());
            assert!(!host_allowed(&map, &[]), "{host:?}");
        }
        assert!(host_allowed(&HeaderMap::new(), &[]), "no Host: not a browser");
    }

    #[test]
    fn listed_origins_pass() {
        let allowed = vec!["https://app.example.com/".to_string()];
        assert!(origin_allowed(&headers(Some("https://app.example.com"), "127.0.0.1:8080"), &allowed));
        assert!(!origin_allowed(&headers(Some("https://app.example.com.evil"), "127.0.0.1:8080"), &allowed));
    }

    #[test]
    fn public_urls_become_origins() {
        assert_eq!(origin_of_url("https://IDE.example.com/").unwrap(), "https://ide.example.com");
        assert_eq!(origin_of_url("http://ide.example.com:8080/bytesbox").unwrap(), "http://ide.example.com:8080");
        assert_eq!(origin_of_url("http://[2001:db8::1]:8080").unwrap(), "http://[2001:db8::1]:8080");
        for bad in ["ide.example.com", "ftp://ide.example.com", "https://", "https://user:pw@ide.example.com", "x y"] {
            assert!(origin_of_url(bad).is_err(), "{bad}");
        }
    }
}
