//! The session's one timer table.
//!
//! As in the server, deadlines are derived from the state (when the step in flight began, when
//! the data connection's wait began, when the last command went out), never stored apart from
//! it: `poll_timeout` is the earliest of them and `handle_timeout` acts on exactly those that
//! are due, so the two cannot disagree, and no transition can
//! forget to arm or disarm a timer.

use std::time::{Duration, Instant};

use super::state::{Abort, ClientSession, LinkState, Op, Stage, Step};
use super::types::CloseReason;

/// Each thing the session may wait for, in the order due timers are handled.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Timer {
    /// The 220 (after a 120, later).
    Greeting,
    /// The TLS handshake after AUTH TLS.
    Tls,
    /// The reply to the command in flight.
    Reply,
    /// A data connection being bound, connected or closed.
    Data,
    /// PROT P: the grace a connected data connection gives the transfer command's 1yz before
    /// its TLS handshake starts anyway.
    DataTls,
    /// ABOR's own reply after a 2yz that may have been the transfer's.
    AbortGrace,
    /// The keep-alive NOOP while idle.
    KeepAlive,
}

impl Timer {
    const ALL: [Self; 7] = [
        Self::Greeting,
        Self::Tls,
        Self::Reply,
        Self::Data,
        Self::DataTls,
        Self::AbortGrace,
        Self::KeepAlive,
    ];
}

/// `since + after`, at least one nanosecond after `since`, saturating far in the future.
pub(super) fn after(since: Instant, after: Duration) -> Instant {
    let after = after.max(Duration::from_nanos(1));
    since
        .checked_add(after)
        .or_else(|| since.checked_add(Duration::from_secs(60 * 60 * 24 * 365)))
        .unwrap_or(since)
}

impl ClientSession {
    /// When `timer` is due, or `None` when the state does not wait for it.
    fn deadline(&self, timer: Timer) -> Option<Instant> {
        match (timer, self.stage) {
            (_, Stage::Closed) => None,
            (Timer::Greeting, Stage::Greeting { deadline }) => Some(deadline),
            (_, Stage::Greeting { .. }) | (Timer::Greeting, _) => None,
            (Timer::KeepAlive, _) => {
                let every = self.config.keepalive?;
                (self.current.is_none() && self.queue.is_empty())
                    .then(|| after(self.last_activity, every))
            }
            (timer, Stage::Ready) => {
                let op = self.current.as_ref()?;
                self.op_deadline(timer, op)
            }
        }
    }

    fn op_deadline(&self, timer: Timer, op: &Op) -> Option<Instant> {
        let config = &self.config;
        if timer == Timer::DataTls {
            // Whatever the step (REST may still be answered): counted from the connection.
            let link = op.transfer.as_deref()?.link.as_ref()?;
            return (link.state == LinkState::Open && link.tls_pending)
                .then(|| after(link.since, config.data_tls_grace));
        }
        let waits_for = match op.step.as_ref()? {
            Step::Transfer => return self.transfer_deadline(timer, op),
            Step::Handshake => Timer::Tls,
            Step::Listen | Step::Connect(_) => Timer::Data,
            _ => Timer::Reply,
        };
        let limit = match waits_for {
            Timer::Data => config.data_timeout,
            _ => config.reply_timeout,
        };
        (waits_for == timer).then(|| after(op.since, limit))
    }

    /// A transfer waits for its reply except while the driver moves bytes (or waits for the
    /// server to connect); for its data connection while it is to connect or close; for
    /// nothing while the driver is busy and the reply is in.
    fn transfer_deadline(&self, timer: Timer, op: &Op) -> Option<Instant> {
        let config = &self.config;
        let transfer = op.transfer.as_deref()?;
        let link = transfer.link.as_ref()?;
        let has_final = transfer.final_reply.is_some();
        match (timer, transfer.abort) {
            (Timer::AbortGrace, Some(Abort::AwaitAborReply { grace: true })) => {
                Some(after(op.since, config.abort_grace))
            }
            (Timer::Reply, Some(Abort::AwaitAborReply { grace: true })) => None,
            (Timer::Reply, Some(_)) => Some(after(op.since, config.reply_timeout)),
            (Timer::Reply, None) => {
                let busy = match link.state {
                    LinkState::Running => true,
                    LinkState::Listening => transfer.prelim,
                    _ => false,
                };
                (!busy && !has_final).then(|| after(op.since, config.reply_timeout))
            }
            (Timer::Data, None) => {
                let waiting = match link.state {
                    LinkState::Listening => transfer.prelim || has_final,
                    LinkState::Closing => true,
                    _ => false,
                };
                waiting.then(|| after(link.since, config.data_timeout))
            }
            _ => None,
        }
    }

    /// The earliest deadline of all.
    pub(super) fn next_deadline(&self) -> Option<Instant> {
        Timer::ALL
            .into_iter()
            .filter_map(|t| self.deadline(t))
            .min()
    }

    fn due_timer(&self) -> Option<Timer> {
        Timer::ALL
            .into_iter()
            .find(|&t| self.deadline(t).is_some_and(|at| at <= self.now))
    }

    /// Acts on every timer due at `self.now`. Each action moves the state so that its timer is
    /// no longer due, so the loop ends; the bound is a second line of defence.
    pub(super) fn on_timeout(&mut self) {
        for _ in 0..16 {
            let Some(timer) = self.due_timer() else {
                return;
            };
            self.fire(timer);
            self.pump();
        }
    }

    fn fire(&mut self, timer: Timer) {
        match timer {
            Timer::Greeting | Timer::Tls | Timer::Reply => self.close(CloseReason::Timeout),
            Timer::Data => self.data_timeout(),
            Timer::DataTls => self.secure_link(),
            Timer::AbortGrace => self.finish_abort(),
            Timer::KeepAlive => self.begin_keepalive(),
        }
    }
}
