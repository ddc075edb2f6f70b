//! What a reply means: for the greeting, and for the step of the operation that waits for it
//! (RFC 959 §6 transition tables, with the tolerance real servers need).
//! The transfer command's replies are read in `data.rs`, beside the data connection they are
//! joined with.

use std::net::SocketAddr;
use std::time::Duration;

use bytes::Bytes;

use crate::addr::{parse_epsv_reply, parse_pasv_reply};
use crate::feat::Features;
use crate::reply::{Reply, ReplyCode};

use super::ops::epsv_target;
use super::state::{ClientSession, Finish, Request, Stage, Step};
use super::types::{CloseReason, OpError, OpOutput, ProtocolError};

/// What a reply does to the step that waited for it.
#[derive(Debug)]
pub(super) enum Flow {
    /// The step succeeded: run `first`, then the rest of the plan.
    Next(Vec<Step>),
    /// A preliminary reply: keep waiting.
    Stay,
    /// The operation is complete.
    Done(OpOutput),
    /// The operation failed; the session goes on.
    Fail(OpError),
}

/// The failure a reply that does not fit means: the server's refusal (4yz, 5yz), or an
/// out-of-place reply.
pub(super) fn refused(reply: &Reply) -> Flow {
    if reply.code().is_failure() {
        Flow::Fail(OpError::Reply(reply.clone()))
    } else {
        Flow::Fail(OpError::UnexpectedReply(reply.clone()))
    }
}

/// `then` for a 2yz, [`refused`] otherwise.
fn on_completion(reply: &Reply, then: impl FnOnce() -> Flow) -> Flow {
    if reply.code().is_completion() {
        then()
    } else {
        refused(reply)
    }
}

fn next() -> Flow {
    Flow::Next(Vec::new())
}

impl ClientSession {
    /// One complete reply from the server.
    pub(super) fn on_reply(&mut self, reply: Reply) {
        self.last_activity = self.now;
        if reply.code() == ReplyCode::SERVICE_NOT_AVAILABLE {
            return self.service_closing(reply);
        }
        match self.stage {
            Stage::Greeting { .. } => self.on_greeting(reply),
            Stage::Ready => self.on_ready_reply(reply),
            Stage::Closed => {}
        }
    }

    /// 421 at any time: the server is closing. A QUIT waiting for its 221 is satisfied.
    fn service_closing(&mut self, reply: Reply) {
        if self.current.as_ref().and_then(|op| op.step.as_ref()) == Some(&Step::Quit) {
            self.complete(Ok(OpOutput::Quit(Some(reply))));
            return self.close(CloseReason::Quit);
        }
        self.close(CloseReason::ServiceClosing(reply));
    }

    /// S13: a 120 moves the deadline by the minutes it announces; 220 (any 2yz) opens the
    /// session; a refusal closes it.
    fn on_greeting(&mut self, reply: Reply) {
        let code = reply.code();
        if code.is_preliminary() {
            let minutes = announced_minutes(reply.first_line());
            let wait = Duration::from_secs(minutes * 60).saturating_add(self.config.reply_timeout);
            let deadline = super::timer::after(self.now, wait);
            return self.delay_greeting(reply, deadline);
        }
        if code.is_completion() {
            self.become_ready(reply);
            return self.pump();
        }
        if code.is_failure() {
            return self.close(CloseReason::ServiceClosing(reply));
        }
        self.close(CloseReason::Protocol(ProtocolError::UnexpectedGreeting(
            reply,
        )));
    }

    fn on_ready_reply(&mut self, reply: Reply) {
        let step = self.current.as_ref().and_then(|op| op.step.clone());
        match step {
            Some(Step::Transfer) => self.on_transfer_reply(reply),
            Some(Step::Handshake | Step::Listen | Step::Connect(_)) | None => {
                self.event(super::types::ClientEvent::UnexpectedReply { reply })
            }
            Some(step) => {
                let flow = self.judge(&step, &reply);
                self.apply(flow);
                if step == Step::Quit && !reply.code().is_preliminary() {
                    self.close(CloseReason::Quit);
                }
            }
        }
    }

    /// Carries out what a reply decided.
    pub(super) fn apply(&mut self, flow: Flow) {
        let cancelled = self.current.as_ref().is_some_and(|op| op.cancel);
        match flow {
            Flow::Stay => self.extend_step(),
            Flow::Next(_) if cancelled => self.complete(Err(OpError::Aborted { reply: None })),
            Flow::Next(first) => self.end_step(first),
            Flow::Done(output) => self.complete(Ok(output)),
            Flow::Fail(error) => self.complete(Err(error)),
        }
    }

    /// The meaning of `reply` to `step`. Records what it teaches about the server.
    fn judge(&mut self, step: &Step, reply: &Reply) -> Flow {
        let code = reply.code();
        // At most one 1yz precedes a final reply; for a command without data it only delays.
        if code.is_preliminary() {
            return Flow::Stay;
        }
        match step {
            Step::Host if matches!(code.get(), 500 | 502) => next(), // HOST unknown: go on
            Step::Pbsz if code == ReplyCode::BAD_SEQUENCE && !self.known.logged_in => {
                self.defer_protection()
            }
            Step::Host | Step::Pbsz => on_completion(reply, next),
            Step::Rnfr if code.is_intermediate() => next(),
            Step::Rnfr => refused(reply),
            Step::Auth => on_completion(reply, || {
                self.known.reset_for_auth();
                self.set_result_reply(reply.clone());
                next()
            }),
            Step::Prot => on_completion(reply, || {
                self.known.data_protected = true;
                next()
            }),
            Step::User | Step::Pass | Step::Acct => self.judge_login(step, reply),
            Step::Feat => self.judge_feat(reply),
            Step::OptsUtf8 => {
                // Pure-FTPd lists UTF8 in FEAT and answers OPTS UTF8 ON with 504: not an error.
                self.known.utf8 = code.is_completion();
                next()
            }
            Step::Type(t) => on_completion(reply, || {
                self.known.data_type = Some(*t);
                next()
            }),
            Step::Mode(m) => on_completion(reply, || {
                self.known.mode = Some(*m);
                next()
            }),
            Step::Stru(s) => on_completion(reply, || {
                self.known.structure = Some(*s);
                next()
            }),
            Step::Epsv => self.judge_epsv(reply),
            Step::Pasv => self.judge_pasv(reply),
            Step::Eprt(addr) => self.judge_eprt(*addr, reply),
            Step::Port(_) => on_completion(reply, next),
            Step::Rest(offset) => self.judge_rest(*offset, reply),
            Step::Rnto => on_completion(reply, || Flow::Done(OpOutput::Done(reply.clone()))),
            Step::Main => self.judge_main(reply),
            Step::Ccc => on_completion(reply, || {
                self.stop_tls();
                Flow::Done(OpOutput::Done(reply.clone()))
            }),
            Step::SaveDir => self.judge_save_dir(reply),
            Step::EnterDir(_) => on_completion(reply, || {
                if let Some(op) = self.current.as_mut() {
                    op.return_dir = op.saved_dir.take();
                }
                next()
            }),
            Step::LeaveDir(_) => self.release_result(),
            Step::Quit => Flow::Done(OpOutput::Quit(Some(reply.clone()))),
            Step::Noop => Flow::Done(OpOutput::Reply(reply.clone())),
            Step::Handshake | Step::Listen | Step::Connect(_) | Step::Transfer => Flow::Stay,
        }
    }

    /// PWD before listing a folder from inside: the folder to come back to. Without one (PWD
    /// refused, or no quoted path), LIST takes the folder as its argument instead.
    fn judge_save_dir(&mut self, reply: &Reply) -> Flow {
        let saved = reply
            .code()
            .is_completion()
            .then(|| reply.quoted_path())
            .flatten();
        let Some(op) = self.current.as_mut() else {
            return next();
        };
        if saved.is_none() {
            op.plan.retain(|step| !matches!(step, Step::EnterDir(_)));
            if let Some(transfer) = op.transfer.as_deref_mut() {
                transfer.list_here = false;
            }
        }
        op.saved_dir = saved;
        next()
    }

    /// CWD back after a listing was answered (whatever it says): the listing's own result.
    fn release_result(&mut self) -> Flow {
        let held = self.current.as_mut().and_then(|op| op.held.take());
        match held {
            Some(Ok(output)) => Flow::Done(output),
            Some(Err(error)) => Flow::Fail(error),
            None => next(),
        }
    }

    /// SIZE's answer, for a RETR of the same path that follows (see `try_complete`).
    fn remember_size(&mut self, size: u64) {
        if let Some(Request::Size(path)) = self.current.as_ref().map(|op| &op.request) {
            self.known.last_size = Some((path.clone(), size));
        }
    }

    /// PBSZ before login answered 503 ("log in first"): PROT is left out here, and the
    /// login sends both once the user is in (see [`ClientSession::login`]).
    fn defer_protection(&mut self) -> Flow {
        if let Some(op) = self.current.as_mut() {
            op.plan.retain(|step| *step != Step::Prot);
        }
        next()
    }

    /// USER → 230 | 331 → PASS → 230 | 332 → ACCT → 230 (RFC 959 §6). 202 to PASS or
    /// ACCT means "already logged in": success.
    fn judge_login(&mut self, step: &Step, reply: &Reply) -> Flow {
        let code = reply.code();
        if code.is_completion() {
            self.known.logged_in = true;
            self.set_result_reply(reply.clone());
            return next();
        }
        let has_account = matches!(
            self.current.as_ref().map(|op| &op.request),
            Some(Request::Login(c)) if c.account.is_some()
        );
        match (step, code.get()) {
            (Step::User | Step::Pass, 332) if has_account => Flow::Next(vec![Step::Acct]),
            (Step::User | Step::Pass, 332) => Flow::Fail(OpError::AccountRequired(reply.clone())),
            (Step::User, _) if code.is_intermediate() => Flow::Next(vec![Step::Pass]),
            _ => refused(reply),
        }
    }

    /// FEAT: a 211 is remembered for the session; anything else means "no list" (which does
    /// not mean "no extensions", RFC 2389 §3.2).
    fn judge_feat(&mut self, reply: &Reply) -> Flow {
        let listed = reply.code().is_completion();
        self.known.features = if listed {
            Features::from_reply(reply)
        } else {
            Features::default()
        };
        let explicit = matches!(
            self.current.as_ref().map(|op| &op.request),
            Some(Request::Feat)
        );
        match (explicit, listed) {
            (true, true) => Flow::Done(OpOutput::Features(self.known.features.clone())),
            (true, false) => refused(reply),
            (false, _) if self.config.utf8 && self.known.features.utf8() => {
                Flow::Next(vec![Step::OptsUtf8])
            }
            (false, _) => next(),
        }
    }

    /// 229 → connect to the control peer at its port; a 5yz → PASV, for the whole session.
    fn judge_epsv(&mut self, reply: &Reply) -> Flow {
        let code = reply.code();
        if code.is_permanent_failure() {
            self.known.epsv_refused = true;
            return Flow::Next(vec![Step::Pasv]);
        }
        on_completion(reply, || {
            match parse_epsv_reply(reply.last_line(), self.config.address_leniency) {
                Ok(port) => Flow::Next(vec![Step::Connect(epsv_target(self.conn.peer, port))]),
                Err(_) => Flow::Fail(OpError::UnexpectedReply(reply.clone())),
            }
        })
    }

    /// 227 → the address the policy picks (the control peer's by default).
    fn judge_pasv(&mut self, reply: &Reply) -> Flow {
        on_completion(reply, || {
            let text = reply.lines().concat();
            match parse_pasv_reply(&text, self.config.address_leniency) {
                Ok(addr) => {
                    let target = self.config.pasv_address.choose(addr, self.conn.peer.ip());
                    Flow::Next(vec![Step::Connect(target)])
                }
                Err(_) => Flow::Fail(OpError::UnexpectedReply(reply.clone())),
            }
        })
    }

    /// EPRT refused as unknown (500, 501, 502) → PORT, for the whole session (IPv4 only).
    fn judge_eprt(&mut self, addr: SocketAddr, reply: &Reply) -> Flow {
        match (addr, reply.code().get()) {
            (SocketAddr::V4(v4), 500..=502) => {
                self.known.eprt_refused = true;
                Flow::Next(vec![Step::Port(v4)])
            }
            _ => on_completion(reply, next),
        }
    }

    /// REST → 350. `REST 0` that fails is ignored (the server keeps no REST, then).
    fn judge_rest(&mut self, offset: u64, reply: &Reply) -> Flow {
        let code = reply.code();
        if code.is_intermediate() || code.is_completion() {
            self.known.rest_pending = offset > 0;
            return next();
        }
        if offset == 0 && code.is_failure() {
            self.known.rest_pending = false;
            return next();
        }
        refused(reply)
    }

    /// The request's own command, read as its [`Finish`] says.
    fn judge_main(&mut self, reply: &Reply) -> Flow {
        let finish = match self.current.as_ref().map(|op| &op.request) {
            Some(Request::Simple(_, finish)) => finish.clone(),
            Some(Request::Size(_)) => Finish::Size,
            _ => Finish::Done,
        };
        if finish == Finish::Raw {
            self.forget_for_raw();
        }
        if finish == Finish::Raw && reply.code().is_intermediate() {
            return Flow::Done(OpOutput::Reply(reply.clone()));
        }
        on_completion(reply, || {
            let output = match finish {
                Finish::Done => Some(OpOutput::Done(reply.clone())),
                Finish::Path(fallback) => reply.quoted_path().or(fallback).map(OpOutput::Path),
                Finish::Size => reply.size().map(|size| {
                    self.remember_size(size);
                    OpOutput::Size(size)
                }),
                Finish::Modified => reply.modification_time().map(OpOutput::Modified),
                Finish::Entry => entry_line(reply).map(|line| OpOutput::Entry {
                    line,
                    reply: reply.clone(),
                }),
                Finish::Reply | Finish::Raw => Some(OpOutput::Reply(reply.clone())),
            };
            match output {
                Some(output) => Flow::Done(output),
                None => Flow::Fail(OpError::UnexpectedReply(reply.clone())),
            }
        })
    }
}

/// The entry of an MLST reply: the first inner line that starts with a space, without it
/// (RFC 3659 §7.2). A single-line reply whose text starts with a fact list is accepted too.
fn entry_line(reply: &Reply) -> Option<Bytes> {
    let lines = reply.lines();
    let inner = lines
        .get(1..lines.len().saturating_sub(1))
        .unwrap_or_default();
    inner
        .iter()
        .find(|line| line.first() == Some(&b' '))
        .map(|line| line.slice(1..))
}

/// The minutes a 120 reply announces (`Service ready in 5 minutes.`): its first number, at
/// most a day; 1 when it names none.
fn announced_minutes(text: &[u8]) -> u64 {
    let digits: Vec<u8> = text
        .iter()
        .skip_while(|b| !b.is_ascii_digit())
        .take_while(|b| b.is_ascii_digit())
        .take(6)
        .copied()
        .collect();
    digits
        .iter()
        .fold(0u64, |acc, d| acc * 10 + u64::from(d - b'0'))
        .clamp(1, 24 * 60)
}

impl ClientSession {
    /// A raw TYPE, MODE, STRU or REST changed the server's state behind the session's back:
    /// the next transfer sends them again. Judged by the verb alone, whatever the argument.
    fn forget_for_raw(&mut self) {
        let Some(Request::Simple(command, _)) = self.current.as_ref().map(|op| &op.request) else {
            return;
        };
        let verb = command.verb().to_ascii_uppercase();
        match &verb[..] {
            b"TYPE" => self.known.data_type = None,
            b"MODE" => self.known.mode = None,
            b"STRU" => self.known.structure = None,
            b"REST" => self.known.rest_pending = true,
            _ => {}
        }
    }
}
