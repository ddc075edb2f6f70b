//! Logins that share a verification: when a login arrives while another with the same user
//! name and password is being verified, it waits for that verification's answer instead of
//! computing its own. Clients that open several connections at once with the same
//! credentials (parallel transfers, a fleet of jobs restarting together) then cost one
//! Argon2id computation per burst, not one each.
//!
//! Nothing outlives the verification: a login's fingerprint is in the table from the moment
//! its verification is asked for (it may wait for its turn) until it is answered, and every
//! login waiting on it holds its own password in memory then anyway. A wrong password is
//! shared as wrong. A verification that ends without an answer (its login left before its
//! hash began, or the blocking pool could not run it) lets its waiters start their own.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use super::verified::Fingerprint;

/// The verifications running now, by login fingerprint.
#[derive(Default)]
pub(super) struct InFlight {
    running: Mutex<HashMap<Fingerprint, Arc<Verification>>>,
}

/// One running verification: its answer, set before its waiters are woken.
struct Verification {
    answer: Mutex<Option<bool>>,
    /// Closed (its sender dropped) when the verification ends, with or without an answer.
    ended: async_channel::Receiver<()>,
}

/// What a login does: verify the password itself, or wait for the same login's verification.
pub(super) enum Turn {
    Verify(Verifying),
    Wait(Waiting),
}

impl InFlight {
    /// Joins the verification of `login` that is running, or starts one.
    pub(super) fn join(self: &Arc<Self>, login: Fingerprint) -> Turn {
        let mut running = self.running.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(verification) = running.get(&login) {
            return Turn::Wait(Waiting(Arc::clone(verification)));
        }
        let (end, ended) = async_channel::bounded(1);
        let verification = Arc::new(Verification {
            answer: Mutex::new(None),
            ended,
        });
        running.insert(login, Arc::clone(&verification));
        Turn::Verify(Verifying {
            in_flight: Arc::clone(self),
            login,
            verification,
            _end: end,
        })
    }

    #[cfg(test)]
    pub(super) fn len(&self) -> usize {
        self.running.lock().unwrap_or_else(|e| e.into_inner()).len()
    }
}

/// The login that verifies. Its verification ends when this is dropped: with the answer given
/// to [`Verifying::answer`], or with none if it was dropped before.
pub(super) struct Verifying {
    in_flight: Arc<InFlight>,
    login: Fingerprint,
    verification: Arc<Verification>,
    /// Dropped after `Drop::drop` took the verification out of the table: wakes the waiters.
    _end: async_channel::Sender<()>,
}

impl Verifying {
    /// Gives `verified` to every login waiting on this one.
    pub(super) fn answer(self, verified: bool) {
        *self
            .verification
            .answer
            .lock()
            .unwrap_or_else(|e| e.into_inner()) = Some(verified);
    }
}

impl Drop for Verifying {
    fn drop(&mut self) {
        let mut running = self
            .in_flight
            .running
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        if running
            .get(&self.login)
            .is_some_and(|v| Arc::ptr_eq(v, &self.verification))
        {
            running.remove(&self.login);
        }
    }
}

/// A login waiting for the same login's verification.
pub(super) struct Waiting(Arc<Verification>);

impl Waiting {
    /// The answer of the verification waited on; `None` if it ended without one (then the
    /// caller joins again, and verifies itself or waits for a newer verification).
    pub(super) async fn answer(self) -> Option<bool> {
        // The channel carries nothing: `recv` returns when the sender is dropped.
        let _ = self.0.ended.recv().await;
        *self.0.answer.lock().unwrap_or_else(|e| e.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use super::super::verified::FingerprintKey;
    use super::*;
    use futures_lite::future::block_on;

    fn logins() -> (Fingerprint, Fingerprint) {
        let key = FingerprintKey::random();
        (
            key.fingerprint(b"alice", "h", b"right"),
            key.fingerprint(b"alice", "h", b"wrong"),
        )
    }

    /// Two logins of `login` into an empty `in_flight`: the first verifies, the second waits.
    fn verifier_and_waiter(in_flight: &Arc<InFlight>, login: Fingerprint) -> (Verifying, Waiting) {
        let Turn::Verify(first) = in_flight.join(login) else {
            panic!("nothing was running");
        };
        let Turn::Wait(second) = in_flight.join(login) else {
            panic!("the same login verified twice");
        };
        (first, second)
    }

    #[test]
    fn the_same_login_waits_for_the_running_verification() {
        let in_flight = Arc::new(InFlight::default());
        let (right, wrong) = logins();
        let (first, second) = verifier_and_waiter(&in_flight, right);
        // Another password is another verification, answered on its own.
        let Turn::Verify(other) = in_flight.join(wrong) else {
            panic!("a different password waited");
        };
        other.answer(false);
        first.answer(true);
        assert_eq!(block_on(second.answer()), Some(true));
        assert_eq!(in_flight.len(), 0);
        // Once answered, the next such login verifies again: nothing is remembered.
        assert!(matches!(in_flight.join(right), Turn::Verify(_)));
    }

    #[test]
    fn a_wrong_password_is_shared_as_wrong() {
        let in_flight = Arc::new(InFlight::default());
        let (_, wrong) = logins();
        let (first, second) = verifier_and_waiter(&in_flight, wrong);
        first.answer(false);
        assert_eq!(block_on(second.answer()), Some(false));
    }

    #[test]
    fn an_abandoned_verification_lets_its_waiters_verify() {
        let in_flight = Arc::new(InFlight::default());
        let (right, _) = logins();
        let (first, second) = verifier_and_waiter(&in_flight, right);
        drop(first);
        assert_eq!(block_on(second.answer()), None);
        assert!(matches!(in_flight.join(right), Turn::Verify(_)));
    }
}
