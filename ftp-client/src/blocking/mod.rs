//! The blocking client, on `std::net`: no runtime, no extra thread.
//!
//! [`Client`] runs the protocol session on the calling thread in a poll-style loop with socket
//! timeouts. [`Download`] is a [`std::io::Read`] and [`Upload`] a [`std::io::Write`]; both
//! borrow the client, so nothing else can be sent while a transfer is open. Dropping either
//! early aborts the transfer: the data connection is reset and ABOR goes out with the next
//! call, which reads its replies before doing anything else.
//!
//! Every call blocks its thread until the server answers. From async code, run the client
//! on a thread of its own (`tokio::task::spawn_blocking`, `std::thread::spawn`): called
//! inside an async task it stalls that runtime thread, and a server on the same
//! single-threaded runtime then never answers (the call fails after its reply timeout).
//!
//! ```no_run
//! use std::io::Read;
//! use ftp_client::blocking::Client;
//!
//! # fn main() -> ftp_client::Result<()> {
//! let mut client = Client::connect_url("ftp://anonymous:guest@ftp.example.com/")?;
//! for entry in client.list("pub")? {
//!     println!("{:?} {}", entry.kind, String::from_utf8_lossy(&entry.name));
//! }
//! let mut text = String::new();
//! let mut download = client.retrieve("pub/README", 0)?;
//! download.read_to_string(&mut text)?;
//! download.finish()?;
//! client.quit()?;
//! # Ok(())
//! # }
//! ```

mod driver;
mod stream;

use std::io::{self, Read, Write};

use ftp_proto::client::{
    ClientDataEvent, ClientSession, Credentials, DataConnId, Direction, ListKind, OpId, StoreKind,
    TransferOutcome,
};
use ftp_proto::command::Command;
use ftp_proto::feat::Features;
use ftp_proto::listing::Entry;
use ftp_proto::transfer::{DataType, TransferMode};
use ftp_proto::{Reply, Timestamp};

use self::driver::Driver;
use self::stream::Stream;
use crate::error::{data_failure, Error, Result};
use crate::local::PartFile;
use crate::ops::{self, LISTING_LIMIT};
use crate::options::{parse_host_port, ConnectOptions};
use crate::transcode::{Decoder, Encoder};
use crate::url::FtpUrl;

/// Buffer for wire bytes when transcoding.
const WIRE_LEN: usize = 64 * 1024;

/// An FTP or FTPS client on blocking `std::net` sockets.
///
/// Every method sends its commands, waits for the replies (each within the reply timeout) and
/// returns the typed result; [`Error`] carries the server's reply when it refused. The
/// session stays usable after a refusal; [`Error::is_fatal`] says when it is not.
pub struct Client {
    driver: Driver,
}

impl std::fmt::Debug for Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Client")
            .field("session", &self.driver.core.session)
            .finish_non_exhaustive()
    }
}

impl Client {
    /// Connects to `host:port` (or a bare host, port 21) in plain FTP and reads the greeting;
    /// [`login`](Self::login) comes next.
    pub fn connect(target: &str) -> Result<Self> {
        let (host, port) = parse_host_port(target)?;
        Self::connect_with(&ConnectOptions::new(host, port))
    }

    /// Connects to what an `ftp://`, `ftps://` (implicit) or `ftpes://` (explicit FTPS) URL
    /// names and logs in with its user and password (`anonymous` without one). The URL's path
    /// is not visited: use [`FtpUrl`] to read it.
    pub fn connect_url(url: &str) -> Result<Self> {
        Self::connect_with(&ConnectOptions::from_url(&FtpUrl::parse(url)?))
    }

    /// Connects as `options` say: TCP within the connect timeout, TLS (implicit, or AUTH TLS
    /// with PBSZ/PROT for explicit), the greeting, and the login when the options carry
    /// credentials.
    pub fn connect_with(options: &ConnectOptions) -> Result<Self> {
        Ok(Self {
            driver: Driver::connect(options)?,
        })
    }

    /// Logs in with `user` and `password` (USER, PASS; then FEAT and `OPTS UTF8 ON` when
    /// the server lists UTF8). With FTPS, log in after the TLS setup, which
    /// [`connect_with`](Self::connect_with) does first.
    pub fn login(&mut self, user: impl AsRef<str>, password: impl AsRef<str>) -> Result<()> {
        let credentials = Credentials::new(user.as_ref().to_owned(), password.as_ref().to_owned());
        let op = self.driver.queue(|s| s.login(credentials.clone()))?;
        self.driver.wait(op)?;
        self.driver.core.logged_in(credentials);
        Ok(())
    }

    /// Changes the working directory (CWD).
    pub fn cwd(&mut self, path: impl AsRef<[u8]>) -> Result<()> {
        let op = self.driver.queue(|s| s.cwd(ops::bytes(path)))?;
        self.driver.wait(op).map(drop)
    }

    /// Goes to the parent directory (CDUP).
    pub fn cdup(&mut self) -> Result<()> {
        let op = self.driver.queue(|s| s.cdup())?;
        self.driver.wait(op).map(drop)
    }

    /// The working directory (PWD), decoded as UTF-8 (invalid bytes replaced).
    pub fn pwd(&mut self) -> Result<String> {
        let op = self.driver.queue(|s| s.pwd())?;
        ops::path(self.driver.wait(op)?)
    }

    /// Creates a directory (MKD); returns its name as the server reports it.
    pub fn mkdir(&mut self, path: impl AsRef<[u8]>) -> Result<String> {
        let op = self.driver.queue(|s| s.mkdir(ops::bytes(path)))?;
        ops::path(self.driver.wait(op)?)
    }

    /// Removes an empty directory (RMD).
    pub fn rmdir(&mut self, path: impl AsRef<[u8]>) -> Result<()> {
        let op = self.driver.queue(|s| s.rmdir(ops::bytes(path)))?;
        self.driver.wait(op).map(drop)
    }

    /// Deletes a file (DELE).
    pub fn delete(&mut self, path: impl AsRef<[u8]>) -> Result<()> {
        let op = self.driver.queue(|s| s.delete(ops::bytes(path)))?;
        self.driver.wait(op).map(drop)
    }

    /// Renames `from` to `to` (RNFR, RNTO).
    pub fn rename(&mut self, from: impl AsRef<[u8]>, to: impl AsRef<[u8]>) -> Result<()> {
        let (from, to) = (ops::bytes(from), ops::bytes(to));
        let op = self.driver.queue(|s| s.rename(from, to))?;
        self.driver.wait(op).map(drop)
    }

    /// The size of a file in bytes (SIZE, after `TYPE I` so every server counts bytes).
    pub fn size(&mut self, path: impl AsRef<[u8]>) -> Result<u64> {
        let op = self.driver.queue(|s| s.size(ops::bytes(path)))?;
        ops::size(self.driver.wait(op)?)
    }

    /// The modification time of a file, UTC (MDTM).
    pub fn mdtm(&mut self, path: impl AsRef<[u8]>) -> Result<Timestamp> {
        let op = self.driver.queue(|s| s.mdtm(ops::bytes(path)))?;
        ops::modified(self.driver.wait(op)?)
    }

    /// Sets the modification time of a file, UTC (MFMT).
    pub fn set_modified(&mut self, path: impl AsRef<[u8]>, time: Timestamp) -> Result<()> {
        let op = self
            .driver
            .queue(|s| s.set_modified(ops::bytes(path), time))?;
        self.driver.wait(op).map(drop)
    }

    /// The facts of one file or directory (MLST; an empty path for the working
    /// directory), as a typed entry.
    pub fn mlst(&mut self, path: impl AsRef<[u8]>) -> Result<Entry> {
        let op = self.driver.queue(|s| s.mlst(ops::opt_path(path)))?;
        ops::entry(self.driver.wait(op)?)
    }

    /// CCC (RFC 4217 §6): the control connection goes back to plaintext after the
    /// server's 200 (close_notify both ways), so firewalls can read it; data connections
    /// stay protected.
    pub fn ccc(&mut self) -> Result<()> {
        let op = self.driver.queue(|s| s.ccc())?;
        self.driver.wait(op).map(drop)
    }

    /// The features the server lists (FEAT). Login asks for them already; see
    /// [`features`](Self::features).
    pub fn feat(&mut self) -> Result<Features> {
        let op = self.driver.queue(|s| s.feat())?;
        ops::features(self.driver.wait(op)?)
    }

    /// NOOP: checks that the server answers.
    pub fn noop(&mut self) -> Result<()> {
        let op = self.driver.queue(|s| s.noop())?;
        self.driver.wait(op).map(drop)
    }

    /// Sends a command line as given (`SITE CHMOD 644 f`, `HELP`, `SYST`) and returns the
    /// server's 2yz or 3yz reply; 4yz and 5yz are [`Error::Reply`].
    /// Verbs that change what the session tracks or need a data connection (AUTH, REIN,
    /// QUIT, ABOR, RETR, STOR, LIST, ...) are refused with
    /// [`Error::Usage`]: use their methods.
    pub fn raw(&mut self, line: impl AsRef<[u8]>) -> Result<Reply> {
        let op = self.driver.queue(|s| s.raw_line(ops::bytes(line)))?;
        ops::done(self.driver.wait(op)?)
    }

    /// SITE with `args` (`CHMOD 644 f`, `UMASK 022`, ...): the server's 2yz or 3yz reply;
    /// 4yz and 5yz are [`Error::Reply`].
    pub fn site(&mut self, args: impl AsRef<[u8]>) -> Result<Reply> {
        let command = Command::Site(ops::bytes(args));
        let op = self.driver.queue(|s| s.raw(command))?;
        ops::done(self.driver.wait(op)?)
    }

    /// Uploads under a name the server chooses (STOU; `hint` is sent as its argument
    /// when not empty, which some servers use as the base of the name): write the bytes
    /// into the returned upload, then `finish` it; the outcome's
    /// [`stored_as`](TransferOutcome::stored_as) is the name, when
    /// the server said it.
    pub fn store_unique(&mut self, hint: impl AsRef<[u8]>) -> Result<Upload<'_>> {
        self.upload(hint, StoreKind::Unique, 0)
    }

    /// Downloads `path` into memory, failing past `limit` bytes with [`Error::TooLarge`]
    /// (the transfer is then aborted, and the session goes on): the whole file, once the
    /// server confirmed it.
    pub fn retrieve_to_vec(&mut self, path: impl AsRef<[u8]>, limit: usize) -> Result<Vec<u8>> {
        let mut stream = self.retrieve(path, 0)?;
        let mut data = Vec::new();
        stream.read_all(&mut data, limit)?;
        stream.finish()?;
        Ok(data)
    }

    /// Downloads `path` into the local file `local` without ever losing what `local`
    /// held: the bytes go to a temporary file beside it (`.NAME.part-PID-N`), which
    /// replaces `local` only once the server confirmed the transfer. A refusal (550) or
    /// a transfer cut short leaves `local` as it was and removes the temporary file.
    /// Local writes are plain blocking `std::fs` calls, also in the async clients.
    /// Returns the transfer's outcome (byte count, final reply).
    pub fn retrieve_to(
        &mut self,
        path: impl AsRef<[u8]>,
        local: impl AsRef<std::path::Path>,
    ) -> Result<TransferOutcome> {
        let mut stream = self.retrieve(path, 0)?;
        let mut part = match PartFile::beside(local.as_ref()) {
            Ok(part) => part,
            Err(error) => {
                let _ = stream.abort();
                return Err(error);
            }
        };
        let mut buf = vec![0u8; 64 * 1024];
        loop {
            match stream.read_chunk(&mut buf) {
                Ok(0) => break,
                Ok(n) => {
                    if let Err(error) = part.write(&buf[..n]) {
                        let _ = stream.abort();
                        return Err(error);
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => {
                    let verdict = stream.finish();
                    return Err(ops::stream_failed(Error::Io(e), verdict));
                }
            }
        }
        let outcome = stream.finish()?;
        part.commit()?;
        Ok(outcome)
    }

    /// Ends the session politely (QUIT) and closes the connection. Returns the server's
    /// goodbye (221) when it sent one.
    pub fn quit(mut self) -> Result<Reply> {
        let op = self.driver.queue(|s| s.quit())?;
        let reply = ops::done(self.driver.wait(op)?);
        self.driver.shutdown();
        reply
    }

    /// The entries of a directory (an empty path for the working directory): MLSD when
    /// the server lists MLST in FEAT, LIST otherwise, parsed into typed entries (Unix
    /// `ls -l`, DOS/IIS, EPLF and MLSx formats). Lines that do not parse and the `.`/`..`
    /// entries are left out; every [`Entry`] keeps its raw line.
    ///
    /// A directory that does not exist is an error (the server's 550), never an empty
    /// list: LIST is sent from inside the directory after a CWD into it (and a CWD back),
    /// as curl does ([`ClientSession::list`]).
    pub fn list(&mut self, path: impl AsRef<[u8]>) -> Result<Vec<Entry>> {
        let listing = self.listing(path, ListKind::Auto)?;
        Ok(ops::entries(listing))
    }

    /// The names in a directory (NLST; an empty path for the working directory), decoded
    /// as UTF-8 (invalid bytes replaced), without `.` and `..`. Servers differ in whether
    /// they prefix the directory.
    pub fn nlst(&mut self, path: impl AsRef<[u8]>) -> Result<Vec<String>> {
        let listing = self.listing(path, ListKind::Nlst)?;
        Ok(ops::names(&listing))
    }

    /// The bytes of a listing as the server sent them (line ends as `\n`): `kind` says
    /// which command ([`ListKind::Auto`] is MLSD when
    /// available, else LIST). At most [`LISTING_LIMIT`] bytes.
    pub fn listing(&mut self, path: impl AsRef<[u8]>, kind: ListKind) -> Result<Vec<u8>> {
        let op = self
            .driver
            .queue_data(|s| s.list(ops::opt_path(path), kind))?;
        let mut stream = self.transfer_stream(op)?;
        let mut data = Vec::new();
        stream.read_all(&mut data, LISTING_LIMIT)?;
        stream.finish()?;
        Ok(data)
    }

    /// Sets the representation of file transfers (TYPE): `DataType::Image` (binary, the
    /// default) or `DataType::Ascii(..)`, whose line ends are converted (CRLF on the wire,
    /// `\n` locally). Sent before the next transfer.
    pub fn set_type(&mut self, data_type: DataType) -> Result<()> {
        Ok(self.driver.core.session.set_type(data_type)?)
    }

    /// Sets the transfer mode (MODE): stream (the default), block or compressed, decoded
    /// on the data path. Sent before the next transfer.
    pub fn set_mode(&mut self, mode: TransferMode) -> Result<()> {
        Ok(self.driver.core.session.set_mode(mode)?)
    }

    /// What the server listed in FEAT at login (empty before login, or when FEAT was
    /// refused).
    pub fn features(&self) -> &Features {
        self.driver.core.session.features()
    }

    /// The server's 220 greeting.
    pub fn greeting(&self) -> Option<&Reply> {
        self.driver.core.greeting.as_ref()
    }

    /// True once a login succeeded.
    pub fn is_logged_in(&self) -> bool {
        self.driver.core.session.is_logged_in()
    }

    /// True while TLS protects the control connection; data connections are protected
    /// too when [`is_data_protected`](Self::is_data_protected).
    pub fn is_secure(&self) -> bool {
        self.driver.core.session.is_control_protected()
    }

    /// True when data connections use TLS (PROT P accepted).
    pub fn is_data_protected(&self) -> bool {
        self.driver.core.session.is_data_protected()
    }

    /// The protocol session, for what has no method here (read-only).
    pub fn session(&self) -> &ClientSession {
        &self.driver.core.session
    }

    /// Downloads `path` from byte `offset` (REST when not 0): the returned [`Download`] reads
    /// the file's bytes. Read it to the end, then call [`Download::finish`] for the server's
    /// verdict.
    pub fn retrieve(&mut self, path: impl AsRef<[u8]>, offset: u64) -> Result<Download<'_>> {
        let op = self
            .driver
            .queue_data(|s| s.retrieve(ops::bytes(path), offset))?;
        self.transfer_stream(op)
    }

    /// Uploads to `path`, replacing it (STOR): write the bytes into the returned [`Upload`],
    /// then call [`Upload::finish`].
    pub fn store(&mut self, path: impl AsRef<[u8]>) -> Result<Upload<'_>> {
        self.upload(path, StoreKind::Replace, 0)
    }

    /// Resumes an upload: the bytes written go to `path` from byte `offset` on (REST, STOR).
    pub fn store_at(&mut self, path: impl AsRef<[u8]>, offset: u64) -> Result<Upload<'_>> {
        self.upload(path, StoreKind::Replace, offset)
    }

    /// Appends to `path` (APPE): write the bytes into the returned [`Upload`], then call
    /// [`Upload::finish`].
    pub fn append(&mut self, path: impl AsRef<[u8]>) -> Result<Upload<'_>> {
        self.upload(path, StoreKind::Append, 0)
    }

    /// Uploads everything `reader` yields to `path` (STOR); returns the bytes sent. When the
    /// server breaks the data connection, the error is its final reply (`426`, `552`, ...).
    pub fn store_from(&mut self, path: impl AsRef<[u8]>, reader: &mut impl Read) -> Result<u64> {
        upload_from(self.store(path)?, reader)
    }

    /// Appends everything `reader` yields to `path` (APPE); returns the bytes sent.
    pub fn append_from(&mut self, path: impl AsRef<[u8]>, reader: &mut impl Read) -> Result<u64> {
        upload_from(self.append(path)?, reader)
    }

    fn upload(
        &mut self,
        path: impl AsRef<[u8]>,
        kind: StoreKind,
        offset: u64,
    ) -> Result<Upload<'_>> {
        let op = self
            .driver
            .queue_data(|s| s.store(ops::bytes(path), kind, offset))?;
        let (started, stream) = self.driver.wait_started(op)?;
        let encoder = Encoder::new(started.params);
        let wire = if encoder.is_plain() {
            Vec::new()
        } else {
            vec![0; WIRE_LEN]
        };
        Ok(Upload {
            transfer: Transfer::new(&mut self.driver, Direction::Upload, op, started.id, stream),
            encoder,
            wire,
        })
    }

    fn transfer_stream(&mut self, op: OpId) -> Result<Download<'_>> {
        let (started, stream) = self.driver.wait_started(op)?;
        if started.direction != Direction::Download {
            self.driver.core.discard(op);
            return Err(Error::DataConnection(ftp_proto::client::DataFailure::Other));
        }
        let decoder = Decoder::new(started.params);
        let wire = if decoder.is_plain() {
            Vec::new()
        } else {
            vec![0; WIRE_LEN]
        };
        Ok(Download {
            transfer: Transfer::new(
                &mut self.driver,
                Direction::Download,
                op,
                started.id,
                stream,
            ),
            decoder,
            wire,
            wire_start: 0,
            wire_end: 0,
            phase: Phase::Reading,
        })
    }
}

/// Uploads what `reader` yields, with a buffer the size of the upload's wire buffer, then
/// waits for the server's verdict. A failed write reports the verdict instead of the
/// socket's error ([`stream_failed`](ops::stream_failed)); a failed read of `reader`
/// aborts the upload.
fn upload_from(mut upload: Upload<'_>, reader: &mut impl Read) -> Result<u64> {
    let mut buf = vec![0u8; WIRE_LEN];
    let mut total = 0u64;
    loop {
        let n = match reader.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => {
                drop(upload);
                return Err(Error::Io(e));
            }
        };
        if let Err(e) = upload.write_all(&buf[..n]) {
            return Err(ops::stream_failed(unwrap_io(e), upload.finish()));
        }
        total += n as u64;
    }
    upload.finish()?;
    Ok(total)
}

/// An error from a transfer stream: the client's own error when it is one.
fn unwrap_io(error: io::Error) -> Error {
    if !error.get_ref().is_some_and(|e| e.is::<Error>()) {
        return Error::Io(error);
    }
    let kind = error.kind();
    match error.into_inner().map(|inner| inner.downcast::<Error>()) {
        Some(Ok(inner)) => *inner,
        Some(Err(other)) => Error::Io(io::Error::new(kind, other)),
        None => Error::Io(io::Error::from(kind)),
    }
}

/// A socket timeout as the `TimedOut` it is.
fn idle_timeout(error: &io::Error) -> io::Error {
    if error.kind() == io::ErrorKind::WouldBlock {
        io::Error::new(
            io::ErrorKind::TimedOut,
            "the data connection was idle too long",
        )
    } else {
        io::Error::new(error.kind(), error.to_string())
    }
}

/// The part of a transfer both directions share: the borrowed driver, the operation, the
/// data connection and how it ended.
struct Transfer<'a> {
    driver: &'a mut Driver,
    /// Read when aborting: an upload under TLS ends with close_notify.
    #[cfg_attr(not(feature = "tls"), allow(dead_code))]
    direction: Direction,
    op: OpId,
    id: DataConnId,
    stream: Option<Stream>,
    bytes: u64,
    /// `Finished` or `Failed` was reported: the data connection is done with.
    ended: bool,
    /// The operation's result was collected (or deliberately dropped).
    settled: bool,
}

impl<'a> Transfer<'a> {
    fn new(
        driver: &'a mut Driver,
        direction: Direction,
        op: OpId,
        id: DataConnId,
        stream: Stream,
    ) -> Self {
        Self {
            driver,
            direction,
            op,
            id,
            stream: Some(stream),
            bytes: 0,
            ended: false,
            settled: false,
        }
    }

    /// The data went through: close the connection gracefully (close_notify, FIN, wait for
    /// the server's end), then report the end of the bytes; `Close` is answered at once.
    fn end(&mut self) {
        if self.ended {
            return;
        }
        self.ended = true;
        if let Some(stream) = self.stream.take() {
            let _ = stream.close_gracefully(self.driver.net.data_timeout);
        }
        self.driver.core.closed_by_stream.insert(self.id);
        self.driver
            .core
            .data_event(self.id, ClientDataEvent::Finished { bytes: self.bytes });
    }

    /// The data connection failed: reset it and report the failure. A socket timeout (which
    /// Unix reports as `WouldBlock`) is the data idle timeout: `TimedOut`.
    fn fail(&mut self, error: &io::Error) -> io::Error {
        let error = &idle_timeout(error);
        if !self.ended {
            self.ended = true;
            if let Some(stream) = self.stream.take() {
                stream.abort();
            }
            self.driver
                .core
                .data_event(self.id, ClientDataEvent::Failed(data_failure(error)));
        }
        io::Error::new(error.kind(), error.to_string())
    }

    /// Queues ABOR (it goes out with the next driver run) and ends the data connection: a
    /// reset, so the server sees the transfer cut short; but an upload under TLS ends with
    /// close_notify, because a server that sees its TLS stream cut drops the TLS session
    /// (OpenSSL), and servers that require session reuse (vsftpd) would then refuse every
    /// later data connection. The server may then take the partial upload as complete; it
    /// keeps the partial file either way.
    fn abort(&mut self) {
        match self.stream.take() {
            #[cfg(feature = "tls")]
            Some(stream @ Stream::Tls(..)) if self.direction == Direction::Upload => {
                let _ = stream.close_gracefully(self.driver.net.data_timeout);
            }
            Some(stream) => stream.abort(),
            None => {}
        }
        self.ended = true;
        let _ = self.driver.core.session.abort(self.op);
    }

    fn result(&mut self) -> Result<TransferOutcome> {
        self.settled = true;
        ops::transfer(self.driver.wait(self.op)?)
    }
}

impl Drop for Transfer<'_> {
    fn drop(&mut self) {
        if self.settled {
            return;
        }
        if !self.ended {
            tracing::debug!(op = %self.op, "transfer stream dropped early: aborting");
            self.abort();
        }
        // Nobody will ask for the result; the next call reads the replies.
        self.driver.core.discard(self.op);
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Phase {
    Reading,
    /// The connection ended; the decoders still hold bytes.
    Flushing,
    Done,
}

/// A download in progress: a [`Read`] of the file's bytes (decoded from TYPE A or MODE B/C
/// when those are in effect).
///
/// Read to the end (`Ok(0)`), then call [`finish`](Self::finish): the end of the data alone
/// does not prove the transfer complete, the server's final reply does. A read that stays
/// without data longer than the data idle timeout fails with `TimedOut`. Dropping the download
/// before the end aborts the transfer; [`abort`](Self::abort) does it at once.
pub struct Download<'a> {
    transfer: Transfer<'a>,
    decoder: Decoder,
    wire: Vec<u8>,
    wire_start: usize,
    wire_end: usize,
    phase: Phase,
}

impl Download<'_> {
    /// Waits for the server's verdict once every byte was read: the outcome (final reply,
    /// byte count) or the error that ended the transfer. Called before the end, it aborts the
    /// transfer and returns [`Error::Aborted`].
    pub fn finish(mut self) -> Result<TransferOutcome> {
        if !self.transfer.ended {
            self.transfer.abort();
            let result = self.transfer.result();
            return match result {
                Err(e) => Err(e),
                Ok(_) => Err(Error::Aborted { reply: None }),
            };
        }
        self.transfer.result()
    }

    /// Aborts the transfer (ABOR, and a reset of the data connection) and waits for the
    /// server to confirm. Succeeds when the transfer ended either way (aborted, or it had
    /// just completed).
    pub fn abort(mut self) -> Result<()> {
        self.transfer.abort();
        match self.transfer.result() {
            Ok(_) | Err(Error::Aborted { .. }) => Ok(()),
            Err(e) => Err(e),
        }
    }

    /// Bytes handed to the application so far. (Not `bytes()`: that name is taken by
    /// [`Read::bytes`].)
    pub fn byte_count(&self) -> u64 {
        self.transfer.bytes
    }

    /// Reads the next bytes into `buf` (`Ok(0)` at the end).
    pub(crate) fn read_chunk(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.read(buf)
    }

    /// Reads everything into `out`, failing past `limit` bytes with [`Error::TooLarge`] once
    /// the transfer is aborted (or with what ended the session, if the abort did).
    pub(crate) fn read_all(&mut self, out: &mut Vec<u8>, limit: usize) -> Result<()> {
        let mut buf = vec![0u8; 16 * 1024];
        loop {
            let n = match self.read(&mut buf) {
                Ok(0) => return Ok(()),
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => {
                    let verdict = self.transfer.result();
                    return Err(ops::stream_failed(unwrap_io(e), verdict));
                }
            };
            if out.len() + n > limit {
                self.transfer.abort();
                return Err(ops::past_the_limit(self.transfer.result().err(), limit));
            }
            out.extend_from_slice(&buf[..n]);
        }
    }

    fn read_plain(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let Some(stream) = self.transfer.stream.as_mut() else {
            return Ok(0);
        };
        match stream.read(buf) {
            Ok(0) => {
                self.transfer.end();
                self.phase = Phase::Done;
                Ok(0)
            }
            Ok(n) => {
                self.transfer.bytes += n as u64;
                Ok(n)
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => Err(e),
            Err(e) => self.failed_read(&e),
        }
    }

    /// A read failed. When not a byte came yet and the connection broke (a reset, a TLS
    /// failure), the transfer's result decides: an empty file the server confirmed (the
    /// session accepts a transfer only when no byte can be missing) ends the data; anything
    /// else is the error.
    fn failed_read(&mut self, error: &io::Error) -> io::Result<usize> {
        use io::ErrorKind::*;
        let error = self.transfer.fail(error);
        let broke = matches!(
            error.kind(),
            ConnectionReset | ConnectionAborted | BrokenPipe | UnexpectedEof | InvalidData
        );
        if !broke || self.transfer.bytes > 0 {
            return Err(error);
        }
        let op = self.transfer.op;
        match self.transfer.driver.run(|core| core.peek_ok(op)) {
            Ok(true) => {
                self.phase = Phase::Done;
                Ok(0)
            }
            _ => Err(error),
        }
    }

    fn read_decoded(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        loop {
            match self.phase {
                Phase::Done => return Ok(0),
                Phase::Flushing => {
                    let (written, done) = self.decoder.finish(buf).map_err(|e| {
                        self.transfer
                            .fail(&io::Error::new(io::ErrorKind::InvalidData, e))
                    })?;
                    self.transfer.bytes += written as u64;
                    if done {
                        self.transfer.end();
                        self.phase = Phase::Done;
                    }
                    if written > 0 || done {
                        return Ok(written);
                    }
                }
                Phase::Reading => {
                    if self.wire_start < self.wire_end {
                        let (consumed, written) = self
                            .decoder
                            .decode(&self.wire[self.wire_start..self.wire_end], buf)
                            .map_err(|e| {
                                self.transfer
                                    .fail(&io::Error::new(io::ErrorKind::InvalidData, e))
                            })?;
                        self.wire_start += consumed;
                        if self.decoder.at_end_of_file() {
                            // MODE B/C: the end-of-file mark ends the file, whether or not
                            // the server closes the connection.
                            self.wire_start = self.wire_end;
                            self.phase = Phase::Flushing;
                        }
                        if written > 0 {
                            self.transfer.bytes += written as u64;
                            return Ok(written);
                        }
                        if consumed > 0 || self.phase == Phase::Flushing {
                            continue;
                        }
                    }
                    let Some(stream) = self.transfer.stream.as_mut() else {
                        self.phase = Phase::Flushing;
                        continue;
                    };
                    match stream.read(&mut self.wire) {
                        Ok(0) => self.phase = Phase::Flushing,
                        Ok(n) => {
                            self.wire_start = 0;
                            self.wire_end = n;
                        }
                        Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                        Err(e) => return self.failed_read(&e),
                    }
                }
            }
        }
    }
}

impl Read for Download<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if buf.is_empty() {
            return Ok(0);
        }
        if self.phase == Phase::Done {
            return Ok(0);
        }
        if self.transfer.ended {
            return Err(io::Error::new(
                io::ErrorKind::ConnectionAborted,
                "the transfer failed; finish() reports why",
            ));
        }
        if self.decoder.is_plain() {
            self.read_plain(buf)
        } else {
            self.read_decoded(buf)
        }
    }
}

/// An upload in progress: a [`Write`] whose bytes go to the server (encoded to TYPE A or
/// MODE B/C when those are in effect).
///
/// Call [`finish`](Self::finish) when everything is written: it ends the data (close_notify
/// under TLS, then the end of the connection) and waits for the server's verdict. Dropping the
/// upload without `finish` aborts the transfer (the data connection is reset so the server
/// does not take a partial file for a complete one, though it may keep what it received).
///
/// When the server breaks the data connection off (it refuses the upload, runs out of space,
/// refuses the data connection's TLS), a write fails with the socket's error (`BrokenPipe`,
/// `ConnectionReset`); `finish` then returns the server's reason, its final reply
/// ([`Error::Reply`] with `426`, `552`, `522`, ...).
pub struct Upload<'a> {
    transfer: Transfer<'a>,
    encoder: Encoder,
    wire: Vec<u8>,
}

impl Upload<'_> {
    /// Ends the upload and waits for the server's verdict: the outcome (final reply, bytes
    /// sent, the name chosen for STOU) or the error that ended the transfer.
    pub fn finish(mut self) -> Result<TransferOutcome> {
        if !self.transfer.ended {
            if let Err(e) = self.write_tail() {
                let _ = self.transfer.fail(&e);
            } else {
                self.transfer.end();
            }
        }
        self.transfer.result()
    }

    /// Aborts the transfer (ABOR, and a reset of the data connection) and waits for the
    /// server to confirm.
    pub fn abort(mut self) -> Result<()> {
        self.transfer.abort();
        match self.transfer.result() {
            Ok(_) | Err(Error::Aborted { .. }) => Ok(()),
            Err(e) => Err(e),
        }
    }

    /// Bytes taken from the application so far.
    pub fn byte_count(&self) -> u64 {
        self.transfer.bytes
    }

    /// The encoders' tails (a MODE B end-of-file block), then a flush.
    fn write_tail(&mut self) -> io::Result<()> {
        let Some(stream) = self.transfer.stream.as_mut() else {
            return Err(io::Error::new(
                io::ErrorKind::ConnectionAborted,
                "transfer ended",
            ));
        };
        if !self.encoder.is_plain() {
            loop {
                let (written, done) = self.encoder.finish(&mut self.wire);
                stream.write_all(&self.wire[..written])?;
                if done {
                    break;
                }
            }
        }
        stream.flush()
    }
}

impl Write for Upload<'_> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let Some(stream) = self.transfer.stream.as_mut() else {
            return Err(io::Error::new(
                io::ErrorKind::ConnectionAborted,
                "the transfer failed; finish() reports why",
            ));
        };
        if buf.is_empty() {
            return Ok(0);
        }
        let result = if self.encoder.is_plain() {
            stream.write(buf)
        } else {
            let (consumed, written) = self.encoder.encode(buf, &mut self.wire);
            stream.write_all(&self.wire[..written]).map(|()| consumed)
        };
        match result {
            Ok(n) => {
                self.transfer.bytes += n as u64;
                Ok(n)
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => Err(e),
            Err(e) => Err(self.transfer.fail(&e)),
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        match self.transfer.stream.as_mut() {
            Some(stream) => stream.flush(),
            None => Ok(()),
        }
    }
}
