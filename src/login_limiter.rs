//! The limit on failed logins, per client.
//!
//! Each client is allowed [`MAX_FAILURES`] failed attempts in any [`WINDOW_SECS`] seconds.
//! Once it has that many failures inside the window, every attempt, even with the right key,
//! is refused until the oldest of them leaves the window. Refused attempts are not counted,
//! so a client that keeps trying is released exactly when its window passes. A success clears
//! the client's failures. Clients are independent: failures of one never limit another.
//!
//! Clients are keyed by IP address, with IPv6 addresses grouped by their /64 prefix because a
//! single host usually controls a whole /64. The number of clients tracked is bounded: when
//! the table is full, the client whose latest failure is oldest is forgotten first.

use std::collections::{HashMap, VecDeque};
use std::net::IpAddr;

/// Failed attempts allowed in one window. The next attempt is refused.
pub const MAX_FAILURES: usize = 10;

/// The length of the window, in seconds.
pub const WINDOW_SECS: u64 = 300;

/// The maximum number of clients tracked at once.
pub const MAX_CLIENTS: usize = 4096;

/// The key a client is counted under: an IPv4 address, or an IPv6 /64 prefix.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ClientKey(u128);

impl From<IpAddr> for ClientKey {
    fn from(address: IpAddr) -> Self {
        match address {
            IpAddr::V4(v4) => Self(u128::from(u32::from(v4))),
            IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
                Some(v4) => Self(u128::from(u32::from(v4))),
                // The top bit marks IPv6 so that no IPv6 prefix collides with an IPv4 address.
                // The shifted prefix has its top 64 bits clear, so `|` here equals `^` and `+`.
                None => Self((u128::from(v6) >> 64) | 1 << 127),
            },
        }
    }
}

/// The wait imposed on a limited client: the seconds until it may try again.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryAfter(pub u64);

/// Failure records of recent clients. `now` is passed in, in Unix seconds, by every method.
#[derive(Debug, Default)]
pub struct LoginLimiter {
    failures: HashMap<ClientKey, VecDeque<u64>>,
}

impl LoginLimiter {
    /// Creates an empty limiter.
    pub fn new() -> Self {
        Self::default()
    }

    /// Returns `Err` with the wait if `client` may not try a key at `now`.
    pub fn check(&self, client: ClientKey, now: u64) -> Result<(), RetryAfter> {
        let Some(times) = self.failures.get(&client) else {
            return Ok(());
        };
        // The log is sorted, so the failures still inside the window are its tail.
        let expired = times.partition_point(|&t| !in_window(t, now));
        if times.len() - expired < MAX_FAILURES {
            return Ok(());
        }
        // The log keeps at most MAX_FAILURES entries, and here all of them are in the window.
        // The client is released when the oldest of them expires.
        let oldest = times[expired];
        Err(RetryAfter(
            (oldest + WINDOW_SECS).saturating_sub(now).max(1),
        ))
    }

    /// Records a failed attempt by `client` at `now`.
    pub fn record_failure(&mut self, client: ClientKey, now: u64) {
        if !self.failures.contains_key(&client) && self.failures.len() >= MAX_CLIENTS {
            self.forget_stale(now);
        }
        let times = self.failures.entry(client).or_default();
        times.retain(|&t| in_window(t, now));
        // The log stays sorted even when the clock steps back, so the oldest failure is first.
        // Only the newest MAX_FAILURES entries decide the limit, so only they are kept.
        let position = times.partition_point(|&t| t <= now);
        times.insert(position, now);
        if times.len() > MAX_FAILURES {
            times.pop_front();
        }
    }

    /// Clears the failures of `client` after a successful login.
    pub fn record_success(&mut self, client: ClientKey) {
        self.failures.remove(&client);
    }

    /// Returns how many clients are tracked.
    pub fn tracked_clients(&self) -> usize {
        self.failures.len()
    }

    /// Drops clients with no failure inside the window, and if the table is still full, the
    /// client whose latest failure is oldest.
    fn forget_stale(&mut self, now: u64) {
        self.failures
            .retain(|_, times| times.back().is_some_and(|&t| in_window(t, now)));
        if self.failures.len() < MAX_CLIENTS {
            return;
        }
        let stalest = self
            .failures
            .iter()
            .min_by_key(|(_, times)| times.back().copied().unwrap_or(0))
            .map(|(client, _)| *client);
        if let Some(client) = stalest {
            self.failures.remove(&client);
        }
    }
}

/// Returns true if a failure at `time` still counts at `now`. A failure dated in the future
/// (the clock went back) counts until the clock passes it by a window.
fn in_window(time: u64, now: u64) -> bool {
    now < time.saturating_add(WINDOW_SECS)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::{Ipv4Addr, Ipv6Addr};

    const NOW: u64 = 1_780_000_000;

    fn client(last: u8) -> ClientKey {
        ClientKey::from(IpAddr::V4(Ipv4Addr::new(192, 0, 2, last)))
    }

    fn fail(limiter: &mut LoginLimiter, who: ClientKey, count: usize, at: u64) {
        for _ in 0..count {
            limiter.record_failure(who, at);
        }
    }

    #[test]
    fn ten_failures_are_allowed() {
        let mut limiter = LoginLimiter::new();
        fail(&mut limiter, client(1), MAX_FAILURES - 1, NOW);
        assert_eq!(limiter.check(client(1), NOW), Ok(()));
        fail(&mut limiter, client(1), 1, NOW);
        assert_eq!(limiter.check(client(1), NOW), Err(RetryAfter(WINDOW_SECS)));
    }

    #[test]
    fn release_is_exact() {
        let mut limiter = LoginLimiter::new();
        fail(&mut limiter, client(1), MAX_FAILURES, NOW);
        let release = NOW + WINDOW_SECS;
        assert_eq!(limiter.check(client(1), release - 1), Err(RetryAfter(1)));
        assert_eq!(limiter.check(client(1), release), Ok(()));
    }

    #[test]
    fn release_follows_the_oldest_counted_failure() {
        let mut limiter = LoginLimiter::new();
        fail(&mut limiter, client(1), 1, NOW);
        fail(&mut limiter, client(1), MAX_FAILURES - 1, NOW + 100);
        assert_eq!(limiter.check(client(1), NOW + 100), Err(RetryAfter(200)));
        assert_eq!(limiter.check(client(1), NOW + WINDOW_SECS), Ok(()));
    }

    #[test]
    fn clock_stepping_back_keeps_the_wait_exact() {
        // One failure at NOW + 39, then the clock steps back and nine more land at NOW.
        let mut limiter = LoginLimiter::new();
        let who = client(9);
        limiter.record_failure(who, NOW + 39);
        fail(&mut limiter, who, MAX_FAILURES - 1, NOW);
        // The failures at NOW leave the window first, so they decide the release.
        assert_eq!(
            limiter.check(who, NOW + 39),
            Err(RetryAfter(WINDOW_SECS - 39))
        );
        assert_eq!(limiter.check(who, NOW + WINDOW_SECS), Ok(()));
    }

    #[test]
    fn full_log_keeps_the_newest_failures() {
        let mut limiter = LoginLimiter::new();
        let who = client(10);
        limiter.record_failure(who, NOW + 100);
        fail(&mut limiter, who, MAX_FAILURES - 1, NOW + 50);
        // The log is full: this failure must push out one from NOW + 50, the oldest, and keep
        // the one from NOW + 100.
        limiter.record_failure(who, NOW + 60);
        assert_eq!(limiter.check(who, NOW + 350), Ok(()));
        // Once the NOW + 50 failures have expired, eight more reach the limit again, because
        // NOW + 60 and NOW + 100 still count.
        fail(&mut limiter, who, MAX_FAILURES - 2, NOW + 351);
        assert_eq!(
            limiter.check(who, NOW + 351),
            Err(RetryAfter(60 + WINDOW_SECS - 351))
        );
    }

    #[test]
    fn other_clients_are_not_limited() {
        let mut limiter = LoginLimiter::new();
        fail(&mut limiter, client(1), MAX_FAILURES * 3, NOW);
        assert!(limiter.check(client(1), NOW).is_err());
        assert_eq!(limiter.check(client(2), NOW), Ok(()));
    }

    #[test]
    fn success_clears_failures() {
        let mut limiter = LoginLimiter::new();
        fail(&mut limiter, client(1), MAX_FAILURES - 1, NOW);
        limiter.record_success(client(1));
        fail(&mut limiter, client(1), MAX_FAILURES - 1, NOW);
        assert_eq!(limiter.check(client(1), NOW), Ok(()));
    }

    #[test]
    fn ipv6_clients_share_their_prefix() {
        let first = ClientKey::from(IpAddr::V6("2001:db8:1:2::1".parse::<Ipv6Addr>().unwrap()));
        let same_prefix = ClientKey::from(IpAddr::V6("2001:db8:1:2:ffff::9".parse().unwrap()));
        let other_prefix = ClientKey::from(IpAddr::V6("2001:db8:1:3::1".parse().unwrap()));
        assert_eq!(first, same_prefix);
        assert_ne!(first, other_prefix);
    }

    #[test]
    fn ipv6_prefix_never_equals_ipv4() {
        // The prefix 0:0:c000:201 has the same number as 192.0.2.1.
        let v6 = ClientKey::from(IpAddr::V6("0:0:c000:201::1".parse::<Ipv6Addr>().unwrap()));
        assert_ne!(v6, client(1));
    }

    #[test]
    fn known_client_failure_evicts_nobody() {
        let mut limiter = LoginLimiter::new();
        let limited = client(1);
        fail(&mut limiter, limited, MAX_FAILURES, NOW);
        for index in 1..MAX_CLIENTS as u32 {
            let other = ClientKey::from(IpAddr::V4(Ipv4Addr::from(0x0A00_0000 + index)));
            limiter.record_failure(other, NOW + 1);
        }
        assert_eq!(limiter.tracked_clients(), MAX_CLIENTS);

        // A full table only makes room for new clients; a tracked one just adds a failure.
        let known = ClientKey::from(IpAddr::V4(Ipv4Addr::from(0x0A00_0001)));
        limiter.record_failure(known, NOW + 2);
        assert_eq!(limiter.tracked_clients(), MAX_CLIENTS);
        assert!(limiter.check(limited, NOW + 2).is_err());
    }

    #[test]
    fn mapped_ipv4_counts_as_ipv4() {
        let mapped = ClientKey::from(IpAddr::V6("::ffff:192.0.2.1".parse().unwrap()));
        assert_eq!(mapped, client(1));
    }

    #[test]
    fn table_size_is_bounded() {
        let mut limiter = LoginLimiter::new();
        for index in 0..(MAX_CLIENTS as u32 + 10) {
            let address = IpAddr::V4(Ipv4Addr::from(0x0a00_0000 + index));
            limiter.record_failure(ClientKey::from(address), NOW);
        }
        assert_eq!(limiter.tracked_clients(), MAX_CLIENTS);
    }

    #[test]
    fn stale_clients_are_forgotten_first() {
        let mut limiter = LoginLimiter::new();
        fail(&mut limiter, client(1), MAX_FAILURES, NOW + WINDOW_SECS);
        for index in 1..MAX_CLIENTS as u32 {
            let address = IpAddr::V4(Ipv4Addr::from(0x0a00_0000 + index));
            limiter.record_failure(ClientKey::from(address), NOW);
        }
        limiter.record_failure(client(2), NOW + WINDOW_SECS);
        assert!(limiter.check(client(1), NOW + WINDOW_SECS).is_err());
        assert_eq!(limiter.tracked_clients(), 2);
    }
}
