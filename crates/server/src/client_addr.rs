//! The client's address when the server sits behind reverse proxies.
//!
//! Behind a proxy every request comes from the proxy's address, so per-address limits would
//! lump all users together. A proxy reports the address it served in `X-Forwarded-For` or
//! RFC 7239 `Forwarded: for=`; each proxy appends to the list, so only the right-hand end was
//! written by proxies we trust; anything to its left may be made up by the client. The rule:
//! headers count only when the TCP peer is a trusted proxy (`--trusted-proxies`), and then the
//! client is the right-most address in the list that is not itself a trusted proxy.
//!
//! Plain data: it reaches no request handling (the HTTP edge makes an extractor of it), no
//! store and no session.

use axum::http::{HeaderMap, HeaderName};
use ipnet::IpNet;
use std::net::{IpAddr, SocketAddr};

const FORWARDED: HeaderName = HeaderName::from_static("forwarded");
const X_FORWARDED_FOR: HeaderName = HeaderName::from_static("x-forwarded-for");

/// The address ranges of trusted reverse proxies.
#[derive(Debug, Clone, Default)]
pub struct TrustedProxies(Vec<IpNet>);

impl TrustedProxies {
    /// Proxies in `nets`.
    pub fn new(nets: Vec<IpNet>) -> Self {
        TrustedProxies(nets)
    }

    /// Whether `ip` is a trusted proxy (an IPv4-mapped IPv6 address counts as its IPv4 one).
    pub fn contains(&self, ip: IpAddr) -> bool {
        let ip = ip.to_canonical();
        self.0.iter().any(|net| net.contains(&ip))
    }

    /// The client's address for a request from `peer` with `headers`: `peer` itself unless it
    /// is a trusted proxy; then the right-most forwarded address that is not a trusted proxy
    /// (`Forwarded` if present, else `X-Forwarded-For`). An entry that is not an address
    /// (`unknown`, an obfuscated name, garbage) stops the walk: the last trusted hop is the
    /// best that is known.
    ///
    /// Addresses are canonical: an IPv4-mapped IPv6 peer (a dual-stack listener) is its IPv4
    /// address, so it shares that address's limits.
    pub fn client_ip(&self, peer: IpAddr, headers: &HeaderMap) -> IpAddr {
        let peer = peer.to_canonical();
        if !self.contains(peer) {
            return peer;
        }
        let chain = forwarded_chain(headers);
        let mut client = peer;
        for entry in chain.iter().rev() {
            match entry {
                Some(ip) if self.contains(*ip) => client = *ip,
                Some(ip) => return *ip,
                None => return client,
            }
        }
        client
    }
}

/// The forwarded addresses, left (farthest) to right (nearest); `None` for an entry that is
/// not an address.
fn forwarded_chain(headers: &HeaderMap) -> Vec<Option<IpAddr>> {
    let forwarded: Vec<&str> = headers
        .get_all(FORWARDED)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .collect();
    if !forwarded.is_empty() {
        return forwarded
            .iter()
            .flat_map(|v| v.split(','))
            .filter_map(|element| {
                // An element without `for=` says nothing about the client; skip it.
                element.split(';').find_map(|pair| {
                    let (name, value) = pair.split_once('=')?;
                    name.trim()
                        .eq_ignore_ascii_case("for")
                        .then(|| parse_node(value.trim().trim_matches('"')))
                })
            })
            .collect();
    }
    headers
        .get_all(X_FORWARDED_FOR)
        .iter()
        .flat_map(|v| match v.to_str() {
            Ok(text) => text.split(',').map(|e| parse_node(e.trim())).collect(),
            Err(_) => vec![None],
        })
        .collect()
}

/// An address as proxies write it: `192.0.2.1`, `192.0.2.1:4711`, `2001:db8::1`,
/// `[2001:db8::1]`, `[2001:db8::1]:4711`.
fn parse_node(text: &str) -> Option<IpAddr> {
    if let Ok(ip) = text.parse::<IpAddr>() {
        return Some(ip.to_canonical());
    }
    if let Ok(addr) = text.parse::<SocketAddr>() {
        return Some(addr.ip().to_canonical());
    }
    let inner = text.strip_prefix('[')?.strip_suffix(']')?;
    inner.parse::<IpAddr>().ok().map(|ip| ip.to_canonical())
}

/// The client's address, as [`TrustedProxies::client_ip`] finds it, with the TCP peer's port
/// (through a proxy, the port of the proxy's connection: still what tells connections apart
/// in the logs). HTTP handlers get it as an extractor.
#[derive(Debug, Clone, Copy)]
pub struct ClientAddr(pub SocketAddr);

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    fn proxies(nets: &[&str]) -> TrustedProxies {
        TrustedProxies::new(nets.iter().map(|n| n.parse().expect("cidr")).collect())
    }

    fn headers(pairs: &[(&str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (name, value) in pairs {
            h.append(
                HeaderName::from_bytes(name.as_bytes()).expect("name"),
                HeaderValue::from_str(value).expect("value"),
            );
        }
        h
    }

    fn ip(text: &str) -> IpAddr {
        text.parse().expect("ip")
    }

    #[test]
    fn headers_from_an_untrusted_peer_are_ignored() {
        let trusted = proxies(&["10.0.0.0/8"]);
        let h = headers(&[("x-forwarded-for", "203.0.113.9")]);
        assert_eq!(
            trusted.client_ip(ip("198.51.100.1"), &h),
            ip("198.51.100.1")
        );
        assert_eq!(
            TrustedProxies::default().client_ip(ip("10.0.0.1"), &h),
            ip("10.0.0.1"),
            "no trusted proxies by default"
        );
    }

    #[test]
    fn spoofed_left_most_entries_are_ignored() {
        let trusted = proxies(&["10.0.0.0/8", "127.0.0.1/32"]);
        // The client wrote "1.2.3.4"; the outer proxy appended the real client, the inner
        // proxy appended the outer one.
        let h = headers(&[("x-forwarded-for", "1.2.3.4, 203.0.113.9, 10.0.0.2")]);
        assert_eq!(trusted.client_ip(ip("127.0.0.1"), &h), ip("203.0.113.9"));
        // Repeated headers are one list, in order.
        let h = headers(&[
            ("x-forwarded-for", "1.2.3.4"),
            ("x-forwarded-for", "203.0.113.9"),
        ]);
        assert_eq!(trusted.client_ip(ip("10.1.1.1"), &h), ip("203.0.113.9"));
    }

    #[test]
    fn forwarded_wins_and_understands_ipv6_brackets_and_ports() {
        let trusted = proxies(&["10.0.0.0/8"]);
        let h = headers(&[
            ("x-forwarded-for", "198.51.100.7"),
            (
                "forwarded",
                r#"for=1.2.3.4, for="[2001:db8:cafe::17]:4711";proto=https, for=10.0.0.3:80"#,
            ),
        ]);
        assert_eq!(
            trusted.client_ip(ip("10.0.0.1"), &h),
            ip("2001:db8:cafe::17")
        );
        let h = headers(&[(
            "forwarded",
            "proto=http;For=192.0.2.60:8080;by=203.0.113.43",
        )]);
        assert_eq!(trusted.client_ip(ip("10.0.0.1"), &h), ip("192.0.2.60"));
        let h = headers(&[("x-forwarded-for", "[2001:db8::1]:443, 2001:db8::2")]);
        assert_eq!(trusted.client_ip(ip("10.0.0.1"), &h), ip("2001:db8::2"));
    }

    #[test]
    fn an_unusable_entry_stops_at_the_last_trusted_hop() {
        let trusted = proxies(&["10.0.0.0/8"]);
        let h = headers(&[("forwarded", "for=unknown, for=10.0.0.5")]);
        assert_eq!(trusted.client_ip(ip("10.0.0.1"), &h), ip("10.0.0.5"));
        let h = headers(&[("x-forwarded-for", "not-an-address")]);
        assert_eq!(trusted.client_ip(ip("10.0.0.1"), &h), ip("10.0.0.1"));
        let h = headers(&[("x-forwarded-for", "10.0.0.9, 10.0.0.8")]);
        assert_eq!(
            trusted.client_ip(ip("10.0.0.1"), &h),
            ip("10.0.0.9"),
            "all proxies: the farthest one"
        );
    }

    #[test]
    fn ipv4_mapped_peers_match_ipv4_ranges() {
        let trusted = proxies(&["127.0.0.1/32"]);
        assert!(trusted.contains(ip("::ffff:127.0.0.1")));
        assert!(!trusted.contains(ip("::1")));
        assert_eq!(
            TrustedProxies::default().client_ip(ip("::ffff:192.0.2.1"), &HeaderMap::new()),
            ip("192.0.2.1")
        );
    }
}
