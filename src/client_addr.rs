//! Which address a request comes from, for the login limit and for logs.
//!
//! The TCP peer is the client unless the peer is a trusted proxy. Then `X-Forwarded-For` is
//! read from the right, skipping trusted proxies, and the first address that is not one is
//! the client. An entry that is not an IP address stops the walk at the last trusted hop, so a
//! forged or garbled header can never name an address the proxy did not see.

use std::fmt;
use std::net::IpAddr;
use std::str::FromStr;

/// An IP network written as `address/prefix`, or a single address.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IpNetwork {
    address: IpAddr,
    prefix_len: u8,
}

impl IpNetwork {
    /// Returns true if `candidate` lies inside this network.
    pub fn contains(&self, candidate: IpAddr) -> bool {
        match (self.address, unmap(candidate)) {
            (IpAddr::V4(net), IpAddr::V4(ip)) => prefix_matches(
                u32::from(net).into(),
                u32::from(ip).into(),
                32,
                self.prefix_len,
            ),
            (IpAddr::V6(net), IpAddr::V6(ip)) => {
                prefix_matches(u128::from(net), u128::from(ip), 128, self.prefix_len)
            }
            _ => false,
        }
    }
}

fn prefix_matches(network: u128, address: u128, width: u8, prefix_len: u8) -> bool {
    let shift = u32::from(width - prefix_len);
    network.checked_shr(shift).unwrap_or(0) == address.checked_shr(shift).unwrap_or(0)
}

/// Treats an IPv4-mapped IPv6 address as the IPv4 address it carries.
fn unmap(address: IpAddr) -> IpAddr {
    match address {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(address, IpAddr::V4),
        IpAddr::V4(_) => address,
    }
}

impl FromStr for IpNetwork {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let (address_text, prefix_text) = match text.split_once('/') {
            Some((address, prefix)) => (address, Some(prefix)),
            None => (text, None),
        };
        let address = unmap(
            address_text
                .parse::<IpAddr>()
                .map_err(|_| format!("'{text}' is not an IP address or network"))?,
        );
        let width = if address.is_ipv4() { 32 } else { 128 };
        let prefix_len = match prefix_text {
            None => width,
            Some(prefix) => prefix
                .parse::<u8>()
                .ok()
                .filter(|&len| len <= width)
                .ok_or_else(|| format!("'{text}' has an invalid prefix length"))?,
        };
        Ok(Self {
            address,
            prefix_len,
        })
    }
}

impl fmt::Display for IpNetwork {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.address, self.prefix_len)
    }
}

/// The proxies whose forwarding headers are believed. Empty by default: no header is.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TrustedProxies(Vec<IpNetwork>);

impl TrustedProxies {
    /// Parses a comma-separated list of addresses and networks; blanks are skipped.
    pub fn parse(list: &str) -> Result<Self, String> {
        let networks = list
            .split(',')
            .map(str::trim)
            .filter(|entry| !entry.is_empty())
            .map(IpNetwork::from_str)
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Self(networks))
    }

    /// Returns true if `address` is a trusted proxy.
    pub fn contains(&self, address: IpAddr) -> bool {
        self.0.iter().any(|network| network.contains(address))
    }

    /// Returns true if no proxy is trusted.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

/// Returns the client's address given the TCP `peer` and the request's `X-Forwarded-For`.
pub fn client_address(
    peer: IpAddr,
    forwarded_for: Option<&str>,
    trusted: &TrustedProxies,
) -> IpAddr {
    let peer = unmap(peer);
    if !trusted.contains(peer) {
        return peer;
    }
    let Some(header) = forwarded_for else {
        return peer;
    };

    let mut client = peer;
    for entry in header.rsplit(',').map(str::trim) {
        match entry.parse::<IpAddr>() {
            Ok(address) if trusted.contains(address) => client = unmap(address),
            Ok(address) => return unmap(address),
            Err(_) => return client,
        }
    }
    client
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(text: &str) -> IpAddr {
        text.parse().unwrap()
    }

    #[test]
    fn untrusted_peer_is_the_client() {
        let trusted = TrustedProxies::parse("10.0.0.1").unwrap();
        assert_eq!(
            client_address(ip("192.0.2.7"), Some("203.0.113.9"), &trusted),
            ip("192.0.2.7")
        );
        let nobody = TrustedProxies::default();
        assert_eq!(
            client_address(ip("10.0.0.1"), Some("203.0.113.9"), &nobody),
            ip("10.0.0.1")
        );
    }

    #[test]
    fn trusted_peer_forwards_the_client() {
        let trusted = TrustedProxies::parse("10.0.0.1").unwrap();
        assert_eq!(
            client_address(ip("10.0.0.1"), Some("203.0.113.9"), &trusted),
            ip("203.0.113.9")
        );
    }

    #[test]
    fn forged_left_entries_are_ignored() {
        let trusted = TrustedProxies::parse("10.0.0.0/8").unwrap();
        let header = "198.51.100.1, 203.0.113.9, 10.0.0.2";
        assert_eq!(
            client_address(ip("10.0.0.1"), Some(header), &trusted),
            ip("203.0.113.9")
        );
    }

    #[test]
    fn garbage_entry_stops_at_last_trusted_hop() {
        let trusted = TrustedProxies::parse("10.0.0.0/8").unwrap();
        let header = "203.0.113.9, not-an-ip, 10.0.0.2";
        assert_eq!(
            client_address(ip("10.0.0.1"), Some(header), &trusted),
            ip("10.0.0.2")
        );
        assert_eq!(
            client_address(ip("10.0.0.1"), Some(""), &trusted),
            ip("10.0.0.1")
        );
    }

    #[test]
    fn networks_parse_and_match() {
        let trusted = TrustedProxies::parse(" 10.0.0.0/8 , ::1, 2001:db8::/32,").unwrap();
        assert!(trusted.contains(ip("10.200.0.1")));
        assert!(trusted.contains(ip("::1")));
        assert!(trusted.contains(ip("2001:db8:ffff::1")));
        assert!(trusted.contains(ip("::ffff:10.1.2.3")));
        assert!(!trusted.contains(ip("11.0.0.1")));
        assert!(!trusted.contains(ip("2001:db9::1")));
    }

    #[test]
    fn zero_prefix_matches_everything_of_its_family() {
        let trusted = TrustedProxies::parse("0.0.0.0/0").unwrap();
        assert!(trusted.contains(ip("203.0.113.9")));
        assert!(!trusted.contains(ip("2001:db8::1")));
    }

    #[test]
    fn invalid_networks_are_rejected() {
        assert!(TrustedProxies::parse("10.0.0.0/33").is_err());
        assert!(TrustedProxies::parse("proxy.local").is_err());
        assert!(TrustedProxies::parse("10.0.0.1/").is_err());
        assert!(TrustedProxies::parse("").unwrap().is_empty());
    }
}
