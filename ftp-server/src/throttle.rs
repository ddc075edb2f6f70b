//! Bandwidth limits: token buckets that pace transfers ([`crate::Server::upload_rate`],
//! [`crate::Server::download_rate`] for the whole server, [`crate::auth::UserLimits`] per
//! session of a user).
//!
//! Each limit is a bucket of the generic cell rate algorithm: a byte costs `1/rate` seconds of
//! a virtual clock, which may run ahead of the real one by at most [`BURST`]; a transfer that
//! moved bytes past that waits until the clock is back within it. Over any period longer than
//! [`BURST`], a limited transfer (or all transfers under the server's limit together) moves at
//! most `rate × period + rate × BURST` bytes.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// How far ahead of the real clock a bucket's virtual clock may run: the burst a limit allows.
pub(crate) const BURST: Duration = Duration::from_millis(100);

/// One limit: at most `bytes_per_second`, on average.
#[derive(Debug)]
pub(crate) struct RateLimiter {
    bytes_per_second: u64,
    /// The virtual clock: when the bytes moved so far would have finished at the rate.
    clock: Mutex<Option<Instant>>,
}

impl RateLimiter {
    pub(crate) fn new(bytes_per_second: u64) -> Arc<Self> {
        Arc::new(Self {
            bytes_per_second: bytes_per_second.max(1),
            clock: Mutex::new(None),
        })
    }

    /// Counts `bytes` moved at `now`; returns how long to wait before moving more.
    pub(crate) fn moved(&self, bytes: u64, now: Instant) -> Duration {
        let cost = Duration::from_secs_f64(bytes as f64 / self.bytes_per_second as f64);
        let mut clock = self.clock.lock().unwrap_or_else(|e| e.into_inner());
        let start = clock.map_or(now, |at| at.max(now));
        let done = start + cost;
        *clock = Some(done);
        done.saturating_duration_since(now).saturating_sub(BURST)
    }
}

/// The limits one transfer moves under (the server's and the user's), possibly none.
#[derive(Clone, Debug, Default)]
pub(crate) struct Throttle(Vec<Arc<RateLimiter>>);

impl Throttle {
    /// Every limit in `limits` that is set.
    pub(crate) fn new<'a>(limits: impl IntoIterator<Item = Option<&'a Arc<RateLimiter>>>) -> Self {
        Self(limits.into_iter().flatten().cloned().collect())
    }

    pub(crate) fn is_unlimited(&self) -> bool {
        self.0.is_empty()
    }

    /// The largest chunk a paced transfer should move at once: what the slowest limit allows
    /// in half of [`BURST`], at least 1 KiB, at most `chunk`.
    pub(crate) fn chunk(&self, chunk: usize) -> usize {
        let slowest = self.0.iter().map(|l| l.bytes_per_second).min();
        match slowest {
            None => chunk,
            Some(rate) => chunk.min(usize::try_from(rate / 20).unwrap_or(usize::MAX).max(1024)),
        }
    }

    /// Counts `bytes` moved now against every limit; returns how long to wait before moving
    /// more.
    pub(crate) fn moved(&self, bytes: u64) -> Duration {
        let now = Instant::now();
        self.0
            .iter()
            .map(|limit| limit.moved(bytes, now))
            .max()
            .unwrap_or(Duration::ZERO)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_bucket_allows_its_burst_then_paces_at_its_rate() {
        let limit = RateLimiter::new(1000);
        let t0 = Instant::now();
        // 100 bytes: 100 ms of the clock, within the burst.
        assert_eq!(limit.moved(100, t0), Duration::ZERO);
        // 500 more: the clock is 600 ms ahead; wait until it is 100 ms ahead.
        assert_eq!(limit.moved(500, t0), Duration::from_millis(500));
        // Later, after a pause longer than the clock's lead, nothing is owed.
        let later = t0 + Duration::from_secs(2);
        assert_eq!(limit.moved(50, later), Duration::ZERO);
    }

    #[test]
    fn a_throttle_waits_for_its_slowest_limit_and_caps_chunks() {
        let (fast, slow) = (RateLimiter::new(1_000_000), RateLimiter::new(10_000));
        let throttle = Throttle::new([Some(&fast), None, Some(&slow)]);
        assert!(!throttle.is_unlimited() && Throttle::new([None]).is_unlimited());
        assert_eq!(throttle.chunk(65_536), 1024);
        assert_eq!(Throttle::new([Some(&fast)]).chunk(65_536), 50_000);
        assert_eq!(Throttle::default().chunk(65_536), 65_536);
        let wait = throttle.moved(10_000);
        assert!(
            wait > Duration::from_millis(850) && wait <= Duration::from_millis(900),
            "{wait:?}"
        );
    }
}
