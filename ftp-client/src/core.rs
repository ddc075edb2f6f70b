//! What every driver does the same way: owning the [`ClientSession`], draining its outputs
//! into control bytes to write, I/O actions to execute and results to hand to the waiting
//! call, and turning results into typed values.
//!
//! The drivers (blocking, and the one async driver over the runtime shim) only execute the
//! [`Action`]s this module hands them and feed back what they observe.

use std::collections::{HashMap, HashSet, VecDeque};
use std::io;
use std::net::{IpAddr, SocketAddr};
use std::time::Instant;

use ftp_proto::client::{
    ClientDataEvent, ClientDataIntent, ClientEvent, ClientOutput, ClientSession, CloseReason,
    Credentials, DataConnId, Direction, OpError, OpId, OpOutput, TransferParams,
};
use ftp_proto::reply::Reply;

use crate::error::Error;
#[cfg(feature = "tls")]
use crate::options::ConnectOptions;

/// An I/O action for the driver, in the order the session asked for it.
#[derive(Debug)]
pub(crate) enum Action {
    /// Passive: connect to `addr` (then a TLS handshake when `tls`), report
    /// [`ClientDataEvent::Connected`] or `Failed`.
    Connect {
        id: DataConnId,
        addr: SocketAddr,
        tls: bool,
    },
    /// Active: bind near `ip`, report `Listening`, accept one connection from `expect_peer`.
    Listen {
        id: DataConnId,
        ip: IpAddr,
        expect_peer: IpAddr,
        tls: bool,
    },
    /// PROT P: start the data connection's TLS handshake now (the session chose the moment:
    /// see [`ClientDataIntent::Handshake`]); it is finished before the bytes move.
    Handshake { id: DataConnId },
    /// Close the data connection gracefully and report `Closed`.
    Close { id: DataConnId },
    /// Tear the data connection (or listener) down.
    Abort { id: DataConnId },
    /// Flush, then run a TLS handshake on the control connection.
    StartTls,
    /// Flush, then shut TLS down on the control connection (CCC).
    StopTls,
    /// Flush, then close the control connection.
    CloseControl,
}

/// A transfer whose bytes may move: the session said `Start`.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Started {
    pub(crate) id: DataConnId,
    pub(crate) direction: Direction,
    pub(crate) params: TransferParams,
}

/// The session and what the drivers share about it.
#[derive(Debug)]
pub(crate) struct Core {
    pub(crate) session: ClientSession,
    /// Control bytes to write, in order.
    pub(crate) wbuf: Vec<u8>,
    actions: VecDeque<Action>,
    completions: HashMap<OpId, Result<OpOutput, OpError>>,
    /// Operations whose result nobody waits for any more (a dropped transfer stream).
    discarded: HashSet<OpId>,
    started: HashMap<OpId, Started>,
    /// Data connections lent to a transfer stream that has already closed them: `Close`
    /// for them is answered at once.
    pub(crate) closed_by_stream: HashSet<DataConnId>,
    /// Data connections torn down by the session while a stream held them.
    pub(crate) aborted: HashSet<DataConnId>,
    pub(crate) greeting: Option<Reply>,
    pub(crate) close_reason: Option<CloseReason>,
    /// The I/O error that ended the control connection, reported instead of a bare
    /// "connection closed".
    fatal: Option<Fatal>,
    /// The TLS session store's ticket count, to tell a data connection refused for want of
    /// a TLS 1.3 ticket ([`Error::TlsSessionsExhausted`]).
    #[cfg(feature = "tls")]
    tickets: Option<std::sync::Arc<crate::tls::TicketCounter>>,
    /// How to connect again over TLS 1.2 when the TLS 1.3 tickets run dry
    /// ([`Core::tls12_switch`]); taken when used, so it is tried once.
    #[cfg(feature = "tls")]
    tls12: Option<ConnectOptions>,
}

/// The control connection's I/O error, kept in a form that can be reported more than once.
#[derive(Debug)]
struct Fatal {
    kind: io::ErrorKind,
    message: String,
    #[cfg(feature = "tls")]
    tls: Option<rustls::Error>,
}

impl Core {
    pub(crate) fn new(session: ClientSession) -> Self {
        Self {
            session,
            wbuf: Vec::new(),
            actions: VecDeque::new(),
            completions: HashMap::new(),
            discarded: HashSet::new(),
            started: HashMap::new(),
            closed_by_stream: HashSet::new(),
            aborted: HashSet::new(),
            greeting: None,
            close_reason: None,
            fatal: None,
            #[cfg(feature = "tls")]
            tickets: None,
            #[cfg(feature = "tls")]
            tls12: None,
        }
    }

    /// The core of a connection made as `options` say with `tls`: it watches the TLS 1.3
    /// tickets, to switch to TLS 1.2 when they run dry and to explain refusals.
    #[cfg(feature = "tls")]
    pub(crate) fn with_tickets(
        session: ClientSession,
        tls: Option<&crate::tls::TlsSetup>,
        options: &ConnectOptions,
    ) -> Self {
        let mut core = Self::new(session);
        core.tickets = tls.and_then(|tls| tls.tickets.clone());
        if core.tickets.is_some() {
            core.tls12 = options.tls.tls12_fallback().map(|tls| {
                let mut options = options.clone();
                options.tls = tls;
                options
            });
        }
        core
    }

    /// A login succeeded with `credentials`: a TLS 1.2 switch logs in with them too.
    pub(crate) fn logged_in(&mut self, credentials: Credentials) {
        #[cfg(feature = "tls")]
        if let Some(options) = &mut self.tls12 {
            options.credentials = Some(credentials);
        }
        #[cfg(not(feature = "tls"))]
        drop(credentials);
    }

    /// The options of a new control connection over TLS 1.2, once, when this one must not
    /// open another data connection: the server has given TLS 1.3 tickets but none is left
    /// (rustls presents each ticket once, RFC 8446 C.4), so the next data connection could
    /// not resume, and a server that requires reuse would refuse it. Only with PROT P on a
    /// logged-in TLS control connection, and a configuration that allows TLS 1.2. The
    /// driver then moves the session there before the transfer (see
    /// [`TlsConfig`](crate::TlsConfig), "When TLS 1.3 tickets run dry").
    #[cfg(feature = "tls")]
    pub(crate) fn tls12_switch(&mut self) -> Option<ConnectOptions> {
        let dry = self.tickets.as_ref().is_some_and(|t| t.dry());
        let session = &self.session;
        let protected = session.is_data_protected() && session.is_control_protected();
        if !dry
            || !protected
            || !session.is_logged_in()
            || self.tls12.as_ref()?.credentials.is_none()
        {
            return None;
        }
        self.tls12.take()
    }

    /// Drains the session's outputs: control bytes into `wbuf`, results and events recorded,
    /// and returns the next I/O action, if any. The driver executes it before asking again, so
    /// actions keep their order relative to the control bytes before them.
    pub(crate) fn next_action(&mut self) -> Option<Action> {
        if let Some(action) = self.actions.pop_front() {
            return Some(action);
        }
        while let Some(output) = self.session.poll_output() {
            if let Some(action) = self.apply(output) {
                return Some(action);
            }
        }
        None
    }

    /// True when the session has outputs or actions waiting.
    pub(crate) fn has_work(&self) -> bool {
        !self.actions.is_empty() || self.session.queued_outputs() > 0
    }

    fn apply(&mut self, output: ClientOutput) -> Option<Action> {
        match output {
            ClientOutput::Transmit(transmit) => {
                tracing::trace!(command = %printable(&transmit.bytes), "ftp >");
                self.wbuf.extend_from_slice(&transmit.bytes);
                None
            }
            ClientOutput::Data(intent) => self.intent(intent),
            ClientOutput::StartTls => Some(Action::StartTls),
            ClientOutput::StopTls => Some(Action::StopTls),
            ClientOutput::Close => Some(Action::CloseControl),
            ClientOutput::Event(event) => {
                self.event(event);
                None
            }
            other => {
                tracing::debug!(?other, "unknown session output ignored");
                None
            }
        }
    }

    fn intent(&mut self, intent: ClientDataIntent) -> Option<Action> {
        match intent {
            ClientDataIntent::Connect { id, addr, tls } => Some(Action::Connect { id, addr, tls }),
            ClientDataIntent::Listen {
                id,
                ip,
                expect_peer,
                tls,
            } => Some(Action::Listen {
                id,
                ip,
                expect_peer,
                tls,
            }),
            ClientDataIntent::Handshake { id } => Some(Action::Handshake { id }),
            ClientDataIntent::Start {
                id,
                op,
                direction,
                params,
            } => {
                self.started.insert(
                    op,
                    Started {
                        id,
                        direction,
                        params,
                    },
                );
                None
            }
            ClientDataIntent::Close { id } => {
                if self.closed_by_stream.remove(&id) {
                    // The stream closed it before reporting the end of its bytes.
                    self.session
                        .handle_data_event(Instant::now(), id, ClientDataEvent::Closed);
                    None
                } else {
                    Some(Action::Close { id })
                }
            }
            ClientDataIntent::Abort { id } => {
                self.closed_by_stream.remove(&id);
                self.aborted.insert(id);
                Some(Action::Abort { id })
            }
            other => {
                tracing::debug!(?other, "unknown data intent ignored");
                None
            }
        }
    }

    fn event(&mut self, event: ClientEvent) {
        match event {
            ClientEvent::Completed { op, result } => {
                self.started.remove(&op);
                if self.discarded.remove(&op) {
                    tracing::debug!(%op, ?result, "result of an abandoned operation");
                } else {
                    self.completions.insert(op, result);
                }
            }
            ClientEvent::Greeted { reply } => {
                tracing::debug!(greeting = %crate::error::reply_text(&reply), "ftp <");
                self.greeting = Some(reply);
            }
            ClientEvent::Closed { reason } => {
                tracing::debug!(?reason, "session closed");
                self.close_reason = Some(reason);
            }
            ClientEvent::UnexpectedReply { reply } => {
                tracing::debug!(reply = %crate::error::reply_text(&reply), "unexpected reply ignored");
            }
            other => tracing::trace!(?other, "session event"),
        }
    }

    /// Reports a data-connection event to the session.
    pub(crate) fn data_event(&mut self, id: DataConnId, event: ClientDataEvent) {
        self.session.handle_data_event(Instant::now(), id, event);
    }

    /// The control connection failed with `error`: the session ends as at end of stream, and
    /// the error is kept to explain the failures.
    pub(crate) fn control_failed(&mut self, error: &io::Error) {
        if self.fatal.is_none() {
            tracing::debug!(%error, "control connection failed");
            self.fatal = Some(Fatal {
                kind: error.kind(),
                message: error.to_string(),
                #[cfg(feature = "tls")]
                tls: error
                    .get_ref()
                    .and_then(|e| e.downcast_ref::<rustls::Error>())
                    .cloned(),
            });
        }
        self.session.handle_eof(Instant::now());
    }

    /// The operation's result, once it completed.
    pub(crate) fn take_result(&mut self, op: OpId) -> Option<Result<OpOutput, Error>> {
        let result = self.completions.remove(&op)?;
        Some(result.map_err(|e| self.explain(e)))
    }

    /// Whether `op`'s result, once in (and not yet taken), is a success.
    pub(crate) fn peek_ok(&self, op: OpId) -> Option<bool> {
        self.completions.get(&op).map(Result::is_ok)
    }

    /// True once `op`'s result is in (and not yet taken).
    #[cfg(any(feature = "tokio", feature = "async-std"))]
    pub(crate) fn is_complete(&self, op: OpId) -> bool {
        self.completions.contains_key(&op)
    }

    /// The transfer's `Start`, once the session gave it.
    pub(crate) fn take_started(&mut self, op: OpId) -> Option<Started> {
        self.started.remove(&op)
    }

    /// Nobody waits for `op` any more: its result is dropped when it comes.
    pub(crate) fn discard(&mut self, op: OpId) {
        if self.completions.remove(&op).is_none() {
            self.discarded.insert(op);
        }
        self.started.remove(&op);
    }

    /// An operation error, with the control connection's I/O error in place of a bare
    /// "closed" when there was one.
    pub(crate) fn explain(&self, error: OpError) -> Error {
        #[cfg(feature = "tls")]
        if self.tickets.as_ref().is_some_and(|t| t.ran_out()) && refused_data(&error) {
            let reply = match error {
                OpError::Reply(reply) => Some(reply),
                _ => None,
            };
            return Error::TlsSessionsExhausted { reply };
        }
        match (&error, &self.fatal) {
            (OpError::ConnectionClosed { reply: None }, Some(fatal)) => {
                #[cfg(feature = "tls")]
                if let Some(tls) = &fatal.tls {
                    return Error::Tls(tls.clone());
                }
                Error::Io(io::Error::new(fatal.kind, fatal.message.clone()))
            }
            _ => error.into(),
        }
    }

    /// The error for a call made after the session closed.
    pub(crate) fn closed_error(&self) -> Error {
        let error = self
            .close_reason
            .as_ref()
            .map_or(OpError::ConnectionClosed { reply: None }, |r| r.op_error());
        self.explain(error)
    }
}

/// A failure a server that requires TLS session reuse gives a data connection that did not
/// resume: 425, 426, 450 or 522, or the connection's TLS or a reset.
#[cfg(feature = "tls")]
fn refused_data(error: &OpError) -> bool {
    match error {
        OpError::Reply(reply) => matches!(reply.code().get(), 425 | 426 | 450 | 522),
        OpError::DataConnection(failure) => matches!(
            failure,
            ftp_proto::client::DataFailure::Tls | ftp_proto::client::DataFailure::Reset
        ),
        _ => false,
    }
}

/// A command line for logs: `PASS` arguments hidden, non-printable bytes escaped.
fn printable(bytes: &[u8]) -> String {
    let text = String::from_utf8_lossy(bytes);
    let text = text.trim_end();
    if text.len() >= 5 && text[..5].eq_ignore_ascii_case("PASS ") {
        return "PASS ***".to_string();
    }
    text.escape_debug().to_string()
}
