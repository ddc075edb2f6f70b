//! The session's one timer table.
//!
//! Deadlines are not stored separately from the state they belong to: [`ServerSession::deadline`]
//! derives each timer's deadline from the state (when the command in flight began, when the
//! listener was bound, ...). `poll_timeout` is the earliest of them and `handle_timeout` acts on
//! exactly those that are due, so the two can never disagree, and
//! no transition can forget to arm or disarm a timer.

use std::time::{Duration, Instant};

use super::state::{Busy, DataChannel, ServerSession, Stage, TransferStage};

/// Each thing the session may wait for, in the order due timers are handled.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Timer {
    /// The 220 after a 120 greeting.
    Greeting,
    /// The pause before a failed login's reply.
    LoginDelay,
    /// A storage or authentication request that is not a running transfer.
    Request,
    /// Waiting for a listener, a data connection or a data close; an unused listener.
    Data,
    /// A running transfer whose data connection moves no byte.
    Stall,
    /// The end of the shutdown grace period.
    Shutdown,
    /// No command for `idle_timeout`.
    Idle,
    /// No login within `login_timeout`.
    Login,
}

impl Timer {
    const ALL: [Self; 8] = [
        Self::Greeting,
        Self::LoginDelay,
        Self::Request,
        Self::Data,
        Self::Stall,
        Self::Shutdown,
        Self::Idle,
        Self::Login,
    ];
}

/// `since + after`, at least one nanosecond after `since`, saturating far in the future.
fn after(since: Instant, after: Duration) -> Instant {
    let after = after.max(Duration::from_nanos(1));
    since
        .checked_add(after)
        .or_else(|| since.checked_add(Duration::from_secs(60 * 60 * 24 * 365)))
        .unwrap_or(since)
}

impl ServerSession {
    /// When `timer` is due, or `None` when the state does not wait for it.
    pub(super) fn deadline(&self, timer: Timer) -> Option<Instant> {
        let config = &self.config;
        match (timer, &self.stage) {
            (_, Stage::Closed) => None,
            (Timer::Greeting, Stage::Greeting { ready_at }) => Some(*ready_at),
            (_, Stage::Greeting { .. }) | (Timer::Greeting, _) => None,
            (Timer::LoginDelay, _) => match self.busy {
                Busy::LoginDelay { until, .. } => Some(until),
                _ => None,
            },
            (Timer::Request, _) => {
                let limit = config.request_timeout?;
                match &self.busy {
                    Busy::Storage { since, .. } | Busy::Auth { since, .. } => {
                        Some(after(*since, limit))
                    }
                    Busy::Transfer(t) if t.stage == TransferStage::Opening => {
                        Some(after(t.since, limit))
                    }
                    _ => None,
                }
            }
            (Timer::Data, _) => self.data_deadline(),
            (Timer::Stall, _) => {
                let limit = config.stall_timeout?;
                match &self.busy {
                    Busy::Transfer(t) if t.stage == TransferStage::Running && t.connected => {
                        Some(after(t.moved_at, limit))
                    }
                    _ => None,
                }
            }
            (Timer::Shutdown, _) => self.shutdown.as_ref().map(|s| s.deadline),
            (Timer::Idle, _) => {
                let limit = config.idle_timeout?;
                matches!(self.busy, Busy::Idle | Busy::TlsHandshake)
                    .then(|| after(self.last_activity, limit))
            }
            // A password check in flight is left to the request timeout.
            (Timer::Login, _) => {
                let limit = config.login_timeout?;
                let waiting = self.logged_in().is_none() && !matches!(self.busy, Busy::Auth { .. });
                waiting.then(|| after(self.login_since, limit))
            }
        }
    }

    fn data_deadline(&self) -> Option<Instant> {
        let limit = self.config.data_timeout;
        match &self.busy {
            Busy::Bind { since, .. } => Some(after(*since, limit)),
            Busy::Transfer(t) => match t.stage {
                TransferStage::Running if !t.connected => Some(after(t.since, limit)),
                TransferStage::Closing => Some(after(t.since, limit)),
                _ => None,
            },
            _ => match self.data {
                DataChannel::Passive { bound_at, .. } => Some(after(bound_at, limit)),
                _ => None,
            },
        }
    }

    /// The earliest deadline of all.
    pub(super) fn next_deadline(&self) -> Option<Instant> {
        Timer::ALL
            .into_iter()
            .filter_map(|t| self.deadline(t))
            .min()
    }

    /// The first timer (in table order) due at `self.now`.
    pub(super) fn due_timer(&self) -> Option<Timer> {
        Timer::ALL
            .into_iter()
            .find(|&t| self.deadline(t).is_some_and(|at| at <= self.now))
    }
}
