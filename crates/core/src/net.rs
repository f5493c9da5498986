//! Which client address counts, behind reverse proxies — one rule for the
//! API and every cluster gateway.
//!
//! The client is the peer, unless the peer is a trusted proxy: then it is
//! the rightmost address in `X-Forwarded-For` that is not a trusted proxy
//! (entries further left were written by whoever the client is, and may be
//! forged). An entry that is not an address stops the walk at the last good
//! one.

use std::net::{IpAddr, SocketAddr};

use ipnet::IpNet;

/// The client's address, from the peer's address, the `X-Forwarded-For`
/// header values (in order; `None` for a value that is not text) and the
/// trusted proxies.
pub fn client_address<'a>(
    peer: IpAddr,
    forwarded_for: impl IntoIterator<Item = Option<&'a str>>,
    trusted: &[IpNet],
) -> IpAddr {
    let peer = peer.to_canonical();
    let is_trusted = |ip: &IpAddr| trusted.iter().any(|net| net.contains(ip));
    if trusted.is_empty() || !is_trusted(&peer) {
        return peer;
    }
    let mut hops: Vec<&str> = Vec::new();
    for value in forwarded_for {
        let Some(value) = value else {
            return peer;
        };
        hops.extend(value.split(','));
    }
    let mut client = peer;
    for hop in hops.iter().rev() {
        let Some(ip) = parse_hop(hop) else {
            // Garbage: believe nothing further left.
            return client;
        };
        client = ip;
        if !is_trusted(&ip) {
            return ip;
        }
    }
    client
}

/// A network given as a CIDR (`10.0.0.0/8`) or a single address
/// (`10.0.0.9`, which is `/32` or `/128`).
pub fn parse_network(value: &str) -> Result<IpNet, String> {
    let value = value.trim();
    value
        .parse::<IpNet>()
        .or_else(|_| value.parse::<IpAddr>().map(IpNet::from))
        .map_err(|_| format!("{value:?} is neither an IP address nor a CIDR network"))
}

/// Serde for lists of networks written as CIDRs or single addresses
/// (`#[serde(with = "slipway_core::net::networks")]`).
pub mod networks {
    use ipnet::IpNet;
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(nets: &[IpNet], s: S) -> Result<S::Ok, S::Error> {
        s.collect_seq(nets.iter().map(|n| n.to_string()))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<IpNet>, D::Error> {
        Vec::<String>::deserialize(d)?
            .iter()
            .map(|n| super::parse_network(n).map_err(serde::de::Error::custom))
            .collect()
    }
}

/// An `X-Forwarded-For` entry: an address, possibly with a port or brackets.
fn parse_hop(hop: &str) -> Option<IpAddr> {
    let hop = hop.trim();
    hop.parse::<IpAddr>()
        .ok()
        .or_else(|| hop.parse::<SocketAddr>().ok().map(|s| s.ip()))
        .or_else(|| {
            hop.strip_prefix('[')
                .and_then(|h| h.strip_suffix(']'))
                .and_then(|h| h.parse().ok())
        })
        .map(|ip: IpAddr| ip.to_canonical())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    fn client(peer: &str, header: Option<&str>, trusted: &[&str]) -> IpAddr {
        let trusted: Vec<IpNet> = trusted
            .iter()
            .map(|t| {
                t.parse()
                    .or_else(|_| t.parse::<IpAddr>().map(IpNet::from))
                    .unwrap()
            })
            .collect();
        client_address(ip(peer), header.map(Some), &trusted)
    }

    #[test]
    fn forwarded_for_is_believed_only_from_trusted_proxies() {
        let chain = Some("198.51.100.1, 203.0.113.9, 10.1.1.1");
        // Untrusted peer: its header is ignored.
        assert_eq!(client("192.0.2.1", chain, &["10.0.0.0/8"]), ip("192.0.2.1"));
        assert_eq!(client("10.0.0.5", chain, &[]), ip("10.0.0.5"));
        // Trusted peer: the rightmost untrusted hop, not the forgeable left.
        assert_eq!(
            client("10.0.0.5", chain, &["10.0.0.0/8"]),
            ip("203.0.113.9")
        );
        // Single trusted addresses work like /32 networks.
        assert_eq!(
            client(
                "10.0.0.9",
                Some("6.6.6.6, 1.2.3.4, 10.0.0.8"),
                &["10.0.0.9", "10.0.0.8"]
            ),
            ip("1.2.3.4")
        );
        // A mapped peer address counts as IPv4.
        assert_eq!(
            client("::ffff:10.0.0.5", chain, &["10.0.0.0/8"]),
            ip("203.0.113.9")
        );
        // Garbage stops the walk at the last good hop.
        assert_eq!(
            client("10.0.0.5", Some("junk, 10.2.2.2"), &["10.0.0.0/8"]),
            ip("10.2.2.2")
        );
        // Ports and brackets are tolerated.
        assert_eq!(
            client(
                "10.0.0.5",
                Some("[2001:db8::1]:443, 198.51.100.7:80"),
                &["10.0.0.0/8"]
            ),
            ip("198.51.100.7")
        );
        // No header: the peer.
        assert_eq!(client("10.0.0.5", None, &["10.0.0.0/8"]), ip("10.0.0.5"));
        // A header value that is not text: the peer.
        let trusted: Vec<IpNet> = vec!["10.0.0.0/8".parse().unwrap()];
        assert_eq!(
            client_address(ip("10.0.0.5"), [None], &trusted),
            ip("10.0.0.5")
        );
    }
}
