//! Bans across sessions: a client address that fails too many logins within a window is
//! refused with `421` on every new connection for a while ([`crate::Server::ban`]). A client
//! that reconnects after each session's own limit of attempts
//! ([`crate::Server::max_login_attempts`]) is stopped this way. An address that opens
//! connections faster than [`crate::Server::connection_rate`] allows is refused with `421`
//! too, until its rate falls.

use std::collections::{HashMap, VecDeque};
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// When failed logins get a client address refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct BanPolicy {
    /// Failed logins from one address that start a ban...
    pub failures: u32,
    /// ...when they fall within this window.
    pub window: Duration,
    /// How long the address is then refused.
    pub ban_for: Duration,
}

impl BanPolicy {
    /// `failures` failed logins (at least 1) within `window` ban an address for `ban_for`.
    pub fn new(failures: u32, window: Duration, ban_for: Duration) -> Self {
        Self {
            failures: failures.max(1),
            window,
            ban_for,
        }
    }
}

/// How fast one client address may open connections: at most `connections` within any
/// `window`; the others are refused with `421` (and still count).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct ConnectionRate {
    /// Connections allowed within the window (at least 1).
    pub connections: u32,
    /// The sliding window they count in.
    pub window: Duration,
}

impl ConnectionRate {
    /// At most `connections` (at least 1) within any `window`.
    pub fn new(connections: u32, window: Duration) -> Self {
        Self {
            connections: connections.max(1),
            window,
        }
    }
}

/// The most client addresses tracked at once; past it, the least recently seen goes.
const MAX_ADDRESSES: usize = 65_536;

/// What one address did lately.
#[derive(Debug, Default)]
struct Record {
    /// The recent failures, oldest first; at most `policy.failures` of them.
    failures: VecDeque<Instant>,
    banned_until: Option<Instant>,
    last_seen: Option<Instant>,
    /// The recent connections, oldest first; at most `rate.connections` of them.
    connections: VecDeque<Instant>,
}

/// The failed logins and bans of every client address, bounded in memory.
#[derive(Debug)]
pub(crate) struct Bans {
    policy: Option<BanPolicy>,
    rate: Option<ConnectionRate>,
    records: Mutex<HashMap<IpAddr, Record>>,
}

impl Bans {
    pub(crate) fn new(policy: Option<BanPolicy>, rate: Option<ConnectionRate>) -> Self {
        Self {
            policy,
            rate,
            records: Mutex::new(HashMap::new()),
        }
    }

    /// Counts a connection from `ip` at `now`; false when it is one too many for the
    /// connection rate.
    pub(crate) fn connection_allowed(&self, ip: IpAddr, now: Instant) -> bool {
        let Some(rate) = self.rate else {
            return true;
        };
        let ip = ftp_proto::addr::canonical_ip(ip);
        let mut records = self.lock();
        if !records.contains_key(&ip) && records.len() >= MAX_ADDRESSES {
            make_room(&mut records, now, self.rate.map(|r| r.window));
        }
        let record = records.entry(ip).or_default();
        record.last_seen = Some(now);
        let recent = &mut record.connections;
        while recent
            .front()
            .is_some_and(|&at| now.duration_since(at) >= rate.window)
        {
            recent.pop_front();
        }
        let allowed = recent.len() < rate.connections as usize;
        if !allowed {
            recent.pop_front();
        }
        recent.push_back(now);
        allowed
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<IpAddr, Record>> {
        self.records.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Whether a connection from `ip` is refused at `now`.
    pub(crate) fn is_banned(&self, ip: IpAddr, now: Instant) -> bool {
        if self.policy.is_none() {
            return false;
        }
        let ip = ftp_proto::addr::canonical_ip(ip);
        self.lock()
            .get(&ip)
            .and_then(|record| record.banned_until)
            .is_some_and(|until| now < until)
    }

    /// Counts a failed login from `ip`; returns the ban's length when this failure starts
    /// one.
    pub(crate) fn login_failed(&self, ip: IpAddr, now: Instant) -> Option<Duration> {
        let policy = self.policy?;
        let ip = ftp_proto::addr::canonical_ip(ip);
        let mut records = self.lock();
        if !records.contains_key(&ip) && records.len() >= MAX_ADDRESSES {
            make_room(&mut records, now, self.rate.map(|r| r.window));
        }
        let record = records.entry(ip).or_default();
        record.last_seen = Some(now);
        if record.banned_until.is_some_and(|until| now < until) {
            return None;
        }
        record.banned_until = None;
        while record
            .failures
            .front()
            .is_some_and(|&at| now.duration_since(at) > policy.window)
        {
            record.failures.pop_front();
        }
        record.failures.push_back(now);
        if record.failures.len() < policy.failures as usize {
            return None;
        }
        record.failures.clear();
        record.banned_until = Some(now + policy.ban_for);
        Some(policy.ban_for)
    }
}

/// Drops every record with nothing left to remember (connections older than `window` are
/// forgotten), or else the least recently seen one.
fn make_room(records: &mut HashMap<IpAddr, Record>, now: Instant, window: Option<Duration>) {
    records.retain(|_, record| {
        let recent = |at: &Instant| window.is_some_and(|w| now.duration_since(*at) < w);
        record.connections.retain(recent);
        record.banned_until.is_some_and(|until| now < until)
            || !record.failures.is_empty()
            || !record.connections.is_empty()
    });
    if records.len() >= MAX_ADDRESSES {
        let oldest = records
            .iter()
            .min_by_key(|(_, record)| record.last_seen)
            .map(|(ip, _)| *ip);
        if let Some(ip) = oldest {
            records.remove(&ip);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const IP: IpAddr = IpAddr::V4(std::net::Ipv4Addr::LOCALHOST);

    fn bans() -> Bans {
        let policy = BanPolicy::new(3, Duration::from_secs(60), Duration::from_secs(10));
        Bans::new(Some(policy), None)
    }

    #[test]
    fn the_failure_that_reaches_the_count_within_the_window_starts_a_ban() {
        let bans = bans();
        let t0 = Instant::now();
        assert_eq!(bans.login_failed(IP, t0), None);
        assert_eq!(bans.login_failed(IP, t0 + Duration::from_secs(1)), None);
        assert!(!bans.is_banned(IP, t0 + Duration::from_secs(2)));
        let third = t0 + Duration::from_secs(2);
        assert_eq!(bans.login_failed(IP, third), Some(Duration::from_secs(10)));
        assert!(bans.is_banned(IP, third + Duration::from_secs(9)));
        assert!(!bans.is_banned(IP, third + Duration::from_secs(10)));
        // Another address is not touched; IPv4-mapped IPv6 is the same address.
        assert!(!bans.is_banned("127.0.0.2".parse().unwrap(), third));
        assert!(bans.is_banned("::ffff:127.0.0.1".parse().unwrap(), third));
    }

    #[test]
    fn failures_older_than_the_window_do_not_count() {
        let bans = bans();
        let t0 = Instant::now();
        bans.login_failed(IP, t0);
        bans.login_failed(IP, t0 + Duration::from_secs(1));
        let later = t0 + Duration::from_secs(62);
        assert_eq!(bans.login_failed(IP, later), None);
        assert!(!bans.is_banned(IP, later));
    }

    #[test]
    fn without_a_policy_nothing_is_counted() {
        let bans = Bans::new(None, None);
        let t0 = Instant::now();
        for _ in 0..10 {
            assert_eq!(bans.login_failed(IP, t0), None);
        }
        assert!(!bans.is_banned(IP, t0));
        assert!(bans.lock().is_empty());
    }

    #[test]
    fn connections_past_the_rate_are_refused_until_it_falls() {
        let bans = Bans::new(None, Some(ConnectionRate::new(3, Duration::from_secs(10))));
        let t0 = Instant::now();
        let at = |ms: u64| t0 + Duration::from_millis(ms);
        let allowed: Vec<bool> = [0, 100, 200, 300, 400]
            .iter()
            .map(|&ms| bans.connection_allowed(IP, at(ms)))
            .collect();
        assert_eq!(allowed, [true, true, true, false, false]);
        // Another address has its own count.
        let other = IpAddr::V4(std::net::Ipv4Addr::new(192, 0, 2, 1));
        assert!(bans.connection_allowed(other, at(500)));
        // Refused attempts count: the last three (200, 300, 400) are in the window until
        // 200 leaves it; then one more (this one, refused, replaces 200) until 300 leaves.
        assert!(!bans.connection_allowed(IP, at(10_150)));
        assert!(bans.connection_allowed(IP, at(10_350)));
        // Without a rate, everything is allowed.
        let none = Bans::new(None, None);
        assert!((0..100).all(|_| none.connection_allowed(IP, t0)));
    }

    #[test]
    fn the_table_stays_bounded() {
        let bans = bans();
        let t0 = Instant::now();
        for n in 0..(MAX_ADDRESSES as u32 + 10) {
            let ip = IpAddr::V4(std::net::Ipv4Addr::from(0x0a00_0000 + n));
            bans.login_failed(ip, t0 + Duration::from_millis(u64::from(n)));
        }
        assert!(bans.lock().len() <= MAX_ADDRESSES);
    }
}
