//! The client's protocol state machine: [`ClientSession`].
//!
//! One `ClientSession` per control connection. The application asks for operations (log in,
//! list, retrieve, store, rename, ...; each returns an [`OpId`]); the driver feeds it the bytes
//! read from the control connection and what it observed on data connections, TLS and the
//! timer; the session produces command bytes, data-connection intents ([`ClientDataIntent`]),
//! TLS start/stop, close, and events for the application ([`ClientEvent`]), among them exactly
//! one [`ClientEvent::Completed`] per operation. It opens no socket, reads no clock and touches
//! no file.
//!
//! # The contract
//!
//! The methods come in four kinds (quinn's `Connection` categories):
//!
//! * **Commands** from the application, which only queue work and return an [`OpId`] (or a
//!   [`UsageError`] at once): [`login`](ClientSession::login),
//!   [`auth_tls`](ClientSession::auth_tls), [`ccc`](ClientSession::ccc),
//!   [`feat`](ClientSession::feat), [`cwd`](ClientSession::cwd),
//!   [`cdup`](ClientSession::cdup), [`pwd`](ClientSession::pwd),
//!   [`mkdir`](ClientSession::mkdir), [`rmdir`](ClientSession::rmdir),
//!   [`delete`](ClientSession::delete), [`rename`](ClientSession::rename),
//!   [`size`](ClientSession::size), [`mdtm`](ClientSession::mdtm),
//!   [`set_modified`](ClientSession::set_modified), [`mlst`](ClientSession::mlst),
//!   [`stat`](ClientSession::stat), [`noop`](ClientSession::noop),
//!   [`raw`](ClientSession::raw), [`raw_line`](ClientSession::raw_line),
//!   [`list`](ClientSession::list), [`retrieve`](ClientSession::retrieve),
//!   [`store`](ClientSession::store), [`quit`](ClientSession::quit), and
//!   [`abort`](ClientSession::abort); plus the transfer settings
//!   ([`set_transfer_params`](ClientSession::set_transfer_params) and friends).
//! * **Inputs**, `handle_*(now, ..)`: [`handle_input`](ClientSession::handle_input) (control
//!   bytes, in chunks of any size), [`handle_eof`](ClientSession::handle_eof),
//!   [`handle_data_event`](ClientSession::handle_data_event),
//!   [`handle_tls_established`](ClientSession::handle_tls_established) and
//!   [`handle_timeout`](ClientSession::handle_timeout).
//! * **Outputs**: [`poll_output`](ClientSession::poll_output) and
//!   [`poll_timeout`](ClientSession::poll_timeout).
//! * **Getters** (`&self`), which change nothing.
//!
//! The driver MUST:
//!
//! 1. **Drain**: after every command and input call, call `poll_output` until it returns
//!    `None`, executing each output in order, then read `poll_timeout`. Only then wait for I/O.
//! 2. **Pass the current time**: `now` is `Instant::now()` when the input is handled, never the
//!    deadline it slept until. The session clamps `now` so it never goes backwards; an early
//!    `handle_timeout` does nothing; every deadline the session acts on is in `poll_timeout`.
//! 3. **Execute intents as documented** on [`ClientDataIntent`] and [`ClientOutput`], echoing
//!    the ids it was given. An event for an id the session no longer waits for (after an
//!    abort, a timeout or a failure) is ignored, so races are harmless.
//! 4. **Move bulk bytes itself**: on [`ClientDataIntent::Start`], copy between the data
//!    connection and the operation's reader or writer (applying the `transfer` transcoders the
//!    intent's `params` name), then report [`ClientDataEvent::Finished`]. File bytes never pass
//!    through the session.
//!
//! What the session guarantees, so no driver can get it wrong:
//!
//! * One command at a time (RFC 959 §4.2): operations run in the order asked, each as a plan
//!   of steps; only ABOR jumps the queue, for the transfer in flight.
//! * Nothing is sent before the 220 greeting (a 120 only moves the greeting deadline). HOST
//!   goes out before the first AUTH or USER when configured.
//! * A transfer completes only when **both** its final reply and the end of its data
//!   connection have arrived, in either order. The transfer command goes
//!   out only once the data connection is connected (passive) or listening (active); `Start`
//!   only once the server said 125/150 (or its final reply, when it skipped them).
//! * When the data connection fails in mid-transfer (a reset, a broken pipe, a refused TLS
//!   handshake), the final reply is still awaited, within the reply timeout, and decides: a
//!   4yz or 5yz (426, 425, 522, 552, ...) fails the operation with [`OpError::Reply`], since
//!   the server's reason says more than the socket's; a 2yz with
//!   [`OpError::DataConnection`] — except for a RETR the server announced as empty (its
//!   1yz's `(0 bytes)`, or SIZE 0 of the same path just before), which then completes with
//!   0 bytes: no byte can be missing. Drivers report that result, not their socket error.
//! * LIST of a folder goes into it and back (PWD, CWD, `LIST`, CWD), so a missing folder is
//!   CWD's 550 and never an empty listing; MLSD and NLST take the path as their argument.
//! * With TLS on the control connection, PBSZ and PROT are sent after AUTH's 234, or after
//!   the login with implicit FTPS (or when PBSZ before the login got 503).
//! * EPSV first, PASV after a 5yz to EPSV, for the rest of the session; a 227's address is
//!   replaced by the control peer's by default ([`PasvAddressPolicy`]); active listeners carry
//!   the control peer as `expect_peer`. EPRT first, PORT after EPRT is refused.
//! * TYPE, MODE and STRU are sent only when they differ from what the server is known to use;
//!   SIZE is always preceded by `TYPE I` unless TYPE I is known (servers refuse SIZE in
//!   ASCII mode or count CRLF bytes, RFC 3659 §4); REST goes immediately before
//!   RETR/STOR/APPE, and after a REST that may not have been consumed the next transfer
//!   sends `REST 0` (RFC 3659 §5).
//! * After `234`, `StartTls` follows, every byte already received is dropped (it came in
//!   plaintext), and input is ignored until
//!   [`handle_tls_established`](ClientSession::handle_tls_established). With PROT P in force,
//!   every data intent says `tls: true`, and the session says when each data connection's
//!   TLS handshake starts ([`ClientDataIntent::Handshake`]): at the transfer command's 1yz,
//!   or [`ClientConfig::data_tls_grace`] after connecting without one, never before
//!   `Connected` and never for a transfer refused first.
//! * A 4yz or 5yz at any step fails that operation with [`OpError::Reply`] carrying the reply;
//!   the session goes on. A 421 or end of stream at any time closes the session and fails every
//!   pending operation with [`OpError::ConnectionClosed`] (carrying the 421); a reply that is
//!   not a reply (or over the limits) closes it with [`OpError::Protocol`]; a reply that does
//!   not come within [`ClientConfig::reply_timeout`] closes it with [`OpError::Timeout`].
//! * Replies are read tolerantly (multi-line 220/230, glFTPd's mismatched final code, bare LF,
//!   200 where 250 is due, any 2yz to CDUP, 125 or 150, 226 or 250) and identically however
//!   the input is split.
//! * Bounded memory: replies are capped by [`ReplyConfig`](crate::reply::ReplyConfig); the
//!   output queue stops taking new replies at a small high-water mark and resumes as it is
//!   drained (beyond it grow only the completions of operations the application queued).
//! * Nothing panics on any input, from the server or from the driver.
//!
//! # ABOR
//!
//! [`abort`](ClientSession::abort) on a queued operation removes it. On a transfer whose command
//! went out it sends `IAC IP IAC DM ABOR` (the first bytes flagged [`Transmit::urgent`]) and
//! tears the data connection down, then reads the transfer's reply (426, or 226 when it had just
//! finished) and ABOR's own (226 or 225); a lone 225 ends it at once, and after a 2yz the second
//! reply is waited for only [`ClientConfig::abort_grace`]. Any other operation in flight sends
//! no further command: once the step in flight is answered it ends with its result if that
//! reply completed it, with [`OpError::Aborted`] otherwise.
//!
//! # A blocking run loop
//!
//! A real driver runs data connections on side tasks and feeds their events back through one
//! channel; this sketch does them inline, and downloads only.
//!
//! ```no_run
//! use std::collections::BTreeMap;
//! use std::io::{ErrorKind, Read, Write};
//! use std::net::TcpStream;
//! use std::time::{Duration, Instant};
//!
//! use ftp_proto::client::{
//!     ClientConfig, ClientDataEvent, ClientDataIntent, ClientEvent, ClientOutput, ClientSession,
//!     ClientControlInfo, Credentials, DataFailure, ListKind,
//! };
//!
//! fn main() -> std::io::Result<()> {
//!     let mut control = TcpStream::connect("127.0.0.1:21")?;
//!     let conn = ClientControlInfo::new(control.local_addr()?, control.peer_addr()?);
//!     let mut session = ClientSession::new(ClientConfig::default(), conn, Instant::now());
//!     session.login(Credentials::anonymous()).expect("a new session takes a login");
//!     let listing = session.list(None, ListKind::Auto).expect("queued behind the login");
//!     session.quit().expect("queued last");
//!
//!     let mut streams = BTreeMap::new();
//!     let mut received = Vec::new();
//!     let mut buf = [0u8; 4096];
//!     loop {
//!         // 1. Drain every output.
//!         while let Some(output) = session.poll_output() {
//!             match output {
//!                 ClientOutput::Transmit(transmit) => control.write_all(&transmit.bytes)?,
//!                 ClientOutput::Data(ClientDataIntent::Connect { id, addr, .. }) => {
//!                     let event = match TcpStream::connect(addr) {
//!                         Ok(stream) => {
//!                             streams.insert(id, stream);
//!                             ClientDataEvent::Connected { peer: addr }
//!                         }
//!                         Err(_) => ClientDataEvent::Failed(DataFailure::Refused),
//!                     };
//!                     session.handle_data_event(Instant::now(), id, event);
//!                 }
//!                 ClientOutput::Data(ClientDataIntent::Start { id, .. }) => {
//!                     // Apply the `transfer` decoders here when `params` asks for them.
//!                     let stream = streams.get_mut(&id).expect("connected before Start");
//!                     let event = match stream.read_to_end(&mut received) {
//!                         Ok(n) => ClientDataEvent::Finished { bytes: n as u64 },
//!                         Err(_) => ClientDataEvent::Failed(DataFailure::Reset),
//!                     };
//!                     session.handle_data_event(Instant::now(), id, event);
//!                 }
//!                 ClientOutput::Data(ClientDataIntent::Close { id }) => {
//!                     streams.remove(&id);
//!                     session.handle_data_event(Instant::now(), id, ClientDataEvent::Closed);
//!                 }
//!                 ClientOutput::Data(ClientDataIntent::Abort { id }) => {
//!                     streams.remove(&id);
//!                 }
//!                 ClientOutput::Event(ClientEvent::Completed { op, result }) if op == listing => {
//!                     println!("{result:?}: {}", String::from_utf8_lossy(&received));
//!                 }
//!                 ClientOutput::Close => return Ok(()),
//!                 _ => {}
//!             }
//!         }
//!         // 2. Wait for input or the next deadline.
//!         let wait = session
//!             .poll_timeout()
//!             .map(|at| at.saturating_duration_since(Instant::now()).max(Duration::from_millis(1)));
//!         control.set_read_timeout(wait)?;
//!         match control.read(&mut buf) {
//!             Ok(0) => session.handle_eof(Instant::now()),
//!             Ok(n) => session.handle_input(Instant::now(), &buf[..n]),
//!             Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {
//!                 session.handle_timeout(Instant::now())
//!             }
//!             Err(e) => return Err(e),
//!         }
//!     }
//! }
//! ```
//!
//! # What the client leaves to others
//!
//! * Listings are bytes: the operation's writer receives them as the server sent them (after
//!   the TYPE A / MODE B decoding `params` asks for) and [`TransferOutcome::kind`] says whether
//!   they are MLSD facts, LIST lines or NLST names. Parsing them is the `listing` module's job.
//! * TLS runs in the driver: the session says when ([`ClientOutput::StartTls`],
//!   [`ClientOutput::StopTls`], [`ClientDataIntent::Handshake`]), the driver does the handshakes
//!   and should resume the control connection's TLS session on data connections (vsftpd and
//!   ProFTPD require it by default) and send close_notify before every data close.
//! * STAT during a transfer, RFC 2228 protected replies (631-633), LPRT/LPSV and MODE B/C
//!   restart-marker recovery are not driven by the session; `raw` sends what it must.

mod config;
mod data;
mod ops;
mod replies;
mod state;
mod timer;
mod types;

use std::time::Instant;

use bytes::Bytes;

pub use config::{ClientConfig, ClientControlInfo, DataMode, PasvAddressPolicy};
pub use state::ClientSession;
pub use types::{
    ClientDataEvent, ClientDataIntent, ClientEvent, ClientOutput, CloseReason, Credentials,
    DataConnId, DataFailure, Direction, ListKind, OpError, OpId, OpOutput, ProtocolError, Secret,
    StoreKind, TransferKind, TransferOutcome, TransferParams, Transmit, UsageError,
};

use crate::command::Command;
use crate::feat::Features;
use crate::timestamp::Timestamp;
use crate::transfer::{DataType, FileStructure, TransferMode};
use state::{ControlTls, Finish, Request, Stage, TransferWhat};

/// Outputs queued before the session stops reading replies until the driver drains: one input
/// never produces more than about this many outputs beyond what the application asked for.
const OUTPUT_HIGH_WATER: usize = 32;

impl ClientSession {
    /// A session for a new control connection, waiting for the greeting. Performs no I/O.
    pub fn new(config: ClientConfig, conn: ClientControlInfo, now: Instant) -> Self {
        Self::build(config, conn, now)
    }

    // -- commands --------------------------------------------------------------------------

    /// Logs in: [`HOST`](ClientConfig::host) first if configured and not yet sent, then USER,
    /// PASS when asked (331), ACCT when asked (332); then, when TLS protects the control
    /// connection and data protection is not in force yet (implicit FTPS, or a server that
    /// answered `PBSZ` before login with 503), `PBSZ 0` and `PROT P` (after the login, as
    /// curl does: some servers refuse them before); then FEAT and `OPTS UTF8 ON` as
    /// configured. Completes with [`OpOutput::Done`] carrying the 230 once all of that is
    /// done.
    pub fn login(&mut self, credentials: Credentials) -> Result<OpId, UsageError> {
        self.check_host()?;
        self.check(&Command::User(credentials.user.clone()))?;
        self.check(&Command::Pass(credentials.password.expose().clone()))?;
        if let Some(account) = &credentials.account {
            self.check(&Command::Acct(account.expose().clone()))?;
        }
        self.request(Request::Login(credentials))
    }

    /// Explicit FTPS (RFC 4217): `AUTH TLS`, [`ClientOutput::StartTls`] after the 234, then
    /// `PBSZ 0` and `PROT P` (unless [`ClientConfig::protect_data`] is off; a 503 to PBSZ
    /// leaves both to the login). Call it before [`login`](Self::login): the server forgets
    /// the user at AUTH.
    pub fn auth_tls(&mut self) -> Result<OpId, UsageError> {
        self.auth_request()
    }

    /// CCC: the control connection goes back to plaintext ([`ClientOutput::StopTls`] after the
    /// 200); data connections keep their protection.
    pub fn ccc(&mut self) -> Result<OpId, UsageError> {
        self.ccc_request()
    }

    /// FEAT, remembered for the session: [`OpOutput::Features`].
    pub fn feat(&mut self) -> Result<OpId, UsageError> {
        self.request(Request::Feat)
    }

    /// CWD: any 2yz succeeds (bftpd answers 200).
    pub fn cwd(&mut self, path: impl Into<Bytes>) -> Result<OpId, UsageError> {
        self.simple(Command::Cwd(path.into()), Finish::Done)
    }

    /// CDUP: any 2yz succeeds (RFC 959 lists 200, servers send 250).
    pub fn cdup(&mut self) -> Result<OpId, UsageError> {
        self.simple(Command::Cdup, Finish::Done)
    }

    /// PWD: [`OpOutput::Path`] from the 257 reply.
    pub fn pwd(&mut self) -> Result<OpId, UsageError> {
        self.simple(Command::Pwd, Finish::Path(None))
    }

    /// MKD: [`OpOutput::Path`], the created directory as the 257 names it (the argument when
    /// the reply has no quoted name).
    pub fn mkdir(&mut self, path: impl Into<Bytes>) -> Result<OpId, UsageError> {
        let path = path.into();
        self.simple(Command::Mkd(path.clone()), Finish::Path(Some(path)))
    }

    /// RMD.
    pub fn rmdir(&mut self, path: impl Into<Bytes>) -> Result<OpId, UsageError> {
        self.simple(Command::Rmd(path.into()), Finish::Done)
    }

    /// DELE.
    pub fn delete(&mut self, path: impl Into<Bytes>) -> Result<OpId, UsageError> {
        self.simple(Command::Dele(path.into()), Finish::Done)
    }

    /// RNFR, then RNTO after the 350.
    pub fn rename(
        &mut self,
        from: impl Into<Bytes>,
        to: impl Into<Bytes>,
    ) -> Result<OpId, UsageError> {
        let (from, to) = (from.into(), to.into());
        self.check(&Command::Rnfr(from.clone()))?;
        self.check(&Command::Rnto(to.clone()))?;
        self.request(Request::Rename { from, to })
    }

    /// SIZE, after `TYPE I` unless TYPE I is known to be in force: [`OpOutput::Size`].
    pub fn size(&mut self, path: impl Into<Bytes>) -> Result<OpId, UsageError> {
        let path = path.into();
        self.check(&Command::Size(path.clone()))?;
        self.request(Request::Size(path))
    }

    /// MDTM: [`OpOutput::Modified`].
    pub fn mdtm(&mut self, path: impl Into<Bytes>) -> Result<OpId, UsageError> {
        self.simple(Command::Mdtm(path.into()), Finish::Modified)
    }

    /// MFMT: sets the modification time.
    pub fn set_modified(
        &mut self,
        path: impl Into<Bytes>,
        time: Timestamp,
    ) -> Result<OpId, UsageError> {
        let path = path.into();
        self.simple(Command::Mfmt { time, path }, Finish::Done)
    }

    /// MLST: [`OpOutput::Entry`], the fact line of `path` (the working directory for `None`).
    pub fn mlst(&mut self, path: Option<Bytes>) -> Result<OpId, UsageError> {
        self.simple(Command::Mlst(path), Finish::Entry)
    }

    /// STAT (of the server, or of `path`): [`OpOutput::Reply`].
    pub fn stat(&mut self, path: Option<Bytes>) -> Result<OpId, UsageError> {
        self.simple(Command::Stat(path), Finish::Reply)
    }

    /// NOOP.
    pub fn noop(&mut self) -> Result<OpId, UsageError> {
        self.simple(Command::Noop, Finish::Done)
    }

    /// Any other command (SITE, HELP, SYST, OPTS, ...): [`OpOutput::Reply`] for a 2yz or 3yz.
    /// Verbs whose effect the session must track are refused
    /// ([`UsageError::RawNotAllowed`]); TYPE, MODE, STRU and REST sent this way make the
    /// session forget what it knew, so the next transfer sends them again.
    pub fn raw(&mut self, command: Command) -> Result<OpId, UsageError> {
        self.raw_request(command)
    }

    /// A raw command line (without CRLF), sent as given. The same verbs are refused as for
    /// [`raw`](Self::raw).
    pub fn raw_line(&mut self, line: impl Into<Bytes>) -> Result<OpId, UsageError> {
        self.raw_line_request(line.into())
    }

    /// Downloads a listing of `path` (the working directory for `None`) into the operation's
    /// writer: [`OpOutput::Transfer`], whose `kind` says which command `kind` resolved to.
    ///
    /// MLSD and NLST take `path` as their argument (RFC 3659 §7.1). LIST lists a folder the
    /// way curl does: PWD, `CWD path`, `LIST` without an argument, then CWD back to where PWD
    /// said, whatever the LIST's outcome (the result waits for that reply). So a missing
    /// folder fails with CWD's reply (550) instead of the empty listing that servers which
    /// run `/bin/ls` send, and a path with spaces is not split into several. A file is not a
    /// folder: its LIST fails at CWD. Without a path from PWD, `LIST path` is sent instead.
    pub fn list(&mut self, path: Option<Bytes>, kind: ListKind) -> Result<OpId, UsageError> {
        self.transfer_request(TransferWhat::List(kind), path, 0)
    }

    /// RETR `path` into the operation's writer, from byte `offset` (REST) when it is not 0.
    pub fn retrieve(&mut self, path: impl Into<Bytes>, offset: u64) -> Result<OpId, UsageError> {
        self.transfer_request(TransferWhat::Retrieve, Some(path.into()), offset)
    }

    /// STOR, APPE or STOU `path` from the operation's reader, from byte `offset` (REST) when it
    /// is not 0 (not with STOU).
    pub fn store(
        &mut self,
        path: impl Into<Bytes>,
        kind: StoreKind,
        offset: u64,
    ) -> Result<OpId, UsageError> {
        self.transfer_request(TransferWhat::Store(kind), Some(path.into()), offset)
    }

    /// QUIT, after every operation queued before it. The session closes when it is answered
    /// (or the server closes); no operation is taken after it.
    pub fn quit(&mut self) -> Result<OpId, UsageError> {
        self.request(Request::Quit)
    }

    /// Aborts `op`: removed if still queued; for a running transfer, Telnet IP and Synch then
    /// ABOR (see the [module docs](self#abor)). Its [`ClientEvent::Completed`] follows, with
    /// [`OpError::Aborted`] unless it completed first.
    pub fn abort(&mut self, op: OpId) -> Result<(), UsageError> {
        if self.is_closed() {
            return Err(UsageError::Closed);
        }
        self.abort_request(op)
    }

    /// TYPE, MODE and STRU for the next file transfers (listings use their own: TYPE A for
    /// LIST and NLST, RFC 959 §4.1.3). Sent lazily, before the next transfer, only where they differ from what the
    /// server uses. Default: TYPE I, MODE S, STRU F.
    pub fn set_transfer_params(&mut self, params: TransferParams) -> Result<(), UsageError> {
        if !params.data_type.is_supported() || !params.structure.is_supported() {
            return Err(UsageError::UnsupportedParams);
        }
        self.params = params;
        Ok(())
    }

    /// Sets only the TYPE of [`set_transfer_params`](Self::set_transfer_params).
    pub fn set_type(&mut self, data_type: DataType) -> Result<(), UsageError> {
        self.set_transfer_params(TransferParams {
            data_type,
            ..self.params
        })
    }

    /// Sets only the MODE of [`set_transfer_params`](Self::set_transfer_params).
    pub fn set_mode(&mut self, mode: TransferMode) -> Result<(), UsageError> {
        self.set_transfer_params(TransferParams {
            mode,
            ..self.params
        })
    }

    /// Sets only the STRU of [`set_transfer_params`](Self::set_transfer_params).
    pub fn set_structure(&mut self, structure: FileStructure) -> Result<(), UsageError> {
        self.set_transfer_params(TransferParams {
            structure,
            ..self.params
        })
    }

    // -- inputs ----------------------------------------------------------------------------

    /// Bytes read from the control connection, in chunks of any size. Ignored after `Close`
    /// and while a TLS handshake runs.
    pub fn handle_input(&mut self, now: Instant, bytes: &[u8]) {
        self.advance(now);
        self.feed(bytes);
        self.pump();
    }

    /// The server closed the control connection (or a TLS handshake failed): every pending
    /// operation fails ([`OpError::ConnectionClosed`]; a QUIT in flight succeeds) and `Close`
    /// follows.
    pub fn handle_eof(&mut self, now: Instant) {
        self.advance(now);
        self.on_eof();
    }

    /// What the driver observed on data connection `id`.
    pub fn handle_data_event(&mut self, now: Instant, id: DataConnId, event: ClientDataEvent) {
        self.advance(now);
        if self.is_closed() {
            return;
        }
        self.on_data_event(id, event);
        self.pump();
    }

    /// The TLS handshake that [`ClientOutput::StartTls`] asked for succeeded.
    pub fn handle_tls_established(&mut self, now: Instant) {
        self.advance(now);
        if self.tls != ControlTls::Handshake || self.is_closed() {
            return;
        }
        self.tls_established();
        let step = self.current.as_ref().and_then(|op| op.step.clone());
        if step == Some(state::Step::Handshake) {
            self.end_step(Vec::new());
        }
        self.pump();
    }

    /// Acts on every deadline due at `now`. Calling it early is harmless. Afterwards
    /// [`poll_timeout`](Self::poll_timeout) is `None` or later than `now`.
    pub fn handle_timeout(&mut self, now: Instant) {
        self.advance(now);
        if self.is_closed() {
            return;
        }
        self.on_timeout();
        self.pump();
    }

    // -- outputs ---------------------------------------------------------------------------

    /// The next output, in order, or `None` when there is nothing to do until the next input,
    /// command or deadline. Changes after every call that takes input or a command, and after
    /// each output taken.
    #[must_use]
    pub fn poll_output(&mut self) -> Option<ClientOutput> {
        if self.out.is_empty() {
            self.read_replies(OUTPUT_HIGH_WATER);
            self.pump();
        }
        self.out.pop_front()
    }

    /// When to call [`handle_timeout`](Self::handle_timeout), or `None` for never. Changes after
    /// every input and command; read it after draining [`poll_output`](Self::poll_output).
    #[must_use]
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.next_deadline()
    }

    // -- getters ---------------------------------------------------------------------------

    /// True once `Close` was emitted: every later input is ignored and every command refused.
    pub fn is_closed(&self) -> bool {
        self.stage == Stage::Closed
    }

    /// True once the 220 greeting arrived (and until the session closes).
    pub fn is_ready(&self) -> bool {
        self.stage == Stage::Ready
    }

    /// True once a login succeeded (and until AUTH resets it).
    pub fn is_logged_in(&self) -> bool {
        self.known.logged_in
    }

    /// What FEAT said (empty, not [`advertised`](Features::advertised), until it was asked).
    pub fn features(&self) -> &Features {
        &self.known.features
    }

    /// True when the server accepted `OPTS UTF8 ON`.
    pub fn is_utf8(&self) -> bool {
        self.known.utf8
    }

    /// True while TLS protects the control connection.
    pub fn is_control_protected(&self) -> bool {
        self.tls == ControlTls::Protected
    }

    /// True when data connections use TLS (PROT P accepted).
    pub fn is_data_protected(&self) -> bool {
        self.known.data_protected
    }

    /// True once EPSV was refused: passive connections use PASV.
    pub fn is_epsv_refused(&self) -> bool {
        self.known.epsv_refused
    }

    /// TYPE, MODE and STRU asked for file transfers.
    pub fn transfer_params(&self) -> TransferParams {
        self.params
    }

    /// The operation in flight, if any (the keep-alive NOOP has none).
    pub fn current_op(&self) -> Option<OpId> {
        self.current.as_ref().and_then(|op| op.id)
    }

    /// Operations queued behind the one in flight.
    pub fn queued_ops(&self) -> usize {
        self.queue.len()
    }

    /// Bytes of control input held (a partial line, a multi-line reply not yet ended). Never
    /// more than [`ClientConfig::reply`]'s limits allow.
    pub fn buffered_input(&self) -> usize {
        self.decoder.buffered_len()
    }

    /// Outputs waiting in [`poll_output`](Self::poll_output).
    pub fn queued_outputs(&self) -> usize {
        self.out.len()
    }

    /// The configuration.
    pub fn config(&self) -> &ClientConfig {
        &self.config
    }

    /// The control connection's addresses.
    pub fn conn(&self) -> &ClientControlInfo {
        &self.conn
    }
}

// ---------------------------------------------------------------------------------------------
// Input plumbing

impl ClientSession {
    /// Decodes control bytes and acts on each reply as it completes. The input is fed one line
    /// end at a time, acting after each, so the outputs do not depend on how the driver's reads
    /// split the stream. Replies wait in the decoder while the output queue is at its
    /// high-water mark; [`poll_output`](Self::poll_output) reads on as it drains.
    fn feed(&mut self, mut bytes: &[u8]) {
        while !bytes.is_empty() && self.takes_input() {
            let cut = memchr::memchr(b'\n', bytes).map_or(bytes.len(), |at| at + 1);
            self.decoder.feed(&bytes[..cut]);
            bytes = &bytes[cut..];
            self.read_replies(OUTPUT_HIGH_WATER);
        }
    }

    /// Acts on complete replies while fewer than `room` outputs wait.
    fn read_replies(&mut self, room: usize) {
        while self.takes_input() && self.out.len() < room {
            match self.decoder.next_reply() {
                None => return,
                Some(Ok(reply)) => self.on_reply(reply),
                Some(Err(error)) => self.close(CloseReason::Protocol(ProtocolError::Reply(error))),
            }
            self.pump();
        }
    }

    fn takes_input(&self) -> bool {
        !self.is_closed() && self.tls != ControlTls::Handshake
    }

    fn on_eof(&mut self) {
        // Replies that arrived before the end count (a 221 before the close, say).
        self.read_replies(usize::MAX);
        if self.is_closed() {
            return;
        }
        let quitting =
            self.current.as_ref().and_then(|op| op.step.as_ref()) == Some(&state::Step::Quit);
        if quitting {
            self.complete(Ok(OpOutput::Quit(None)));
            return self.close(CloseReason::Quit);
        }
        self.close(CloseReason::Eof);
    }
}
