//! The async client, written once and generic over the runtime: [`AsyncClient`],
//! [`AsyncDownload`] and [`AsyncUpload`]. The `tokio` and `async_std` modules name them for
//! their runtime (`tokio::Client` is `AsyncClient<TokioRuntime>`) and add what differs: the
//! runtime's stream traits and the readers `store_from` and `append_from` take.

use std::future::poll_fn;
use std::io;
use std::task::{Context, Poll};

use ftp_proto::client::{ClientSession, Credentials, ListKind, OpId, StoreKind, TransferOutcome};
use ftp_proto::command::Command;
use ftp_proto::feat::Features;
use ftp_proto::listing::Entry;
use ftp_proto::transfer::{DataType, TransferMode};
use ftp_proto::{Reply, Timestamp};

use crate::async_driver::{self, Driver};
use crate::error::{Error, Result};
use crate::local::PartFile;
use crate::ops::{self, LISTING_LIMIT};
use crate::options::{parse_host_port, ConnectOptions};
use crate::url::FtpUrl;

/// A runtime an [`AsyncClient`] runs on: `tokio::TokioRuntime` (feature `tokio`) or
/// `async_std::AsyncIoRuntime` (feature `async-std`, for async-std and smol).
///
/// Sealed: its supertrait is the crate's runtime shim (ftp-client/src/runtime/mod.rs), which
/// only this crate can implement.
pub trait AsyncRuntime: crate::runtime::Runtime {}

/// An FTP or FTPS client on the async runtime `R`; `tokio::Client` and `async_std::Client`
/// name it for theirs. Every method sends its commands and awaits the replies (each within
/// the reply timeout); [`Error`] carries the server's reply when it refused. The session
/// stays usable after a refusal; [`Error::is_fatal`] says when it is not.
///
/// The client does its work while one of its futures (or a transfer stream) is polled; it
/// spawns no task. Dropping a call's future before it completes is safe: the operation's
/// result is dropped when it arrives, and a transfer not yet started is aborted.
pub struct AsyncClient<R: AsyncRuntime> {
    driver: Driver<R>,
}

impl<R: AsyncRuntime> std::fmt::Debug for AsyncClient<R> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Client")
            .field("session", &self.driver.core.session)
            .finish_non_exhaustive()
    }
}

impl<R: AsyncRuntime> AsyncClient<R> {
    /// Connects to `host:port` (or a bare host, port 21) in plain FTP and reads the
    /// greeting; [`login`](Self::login) comes next.
    pub async fn connect(target: &str) -> Result<Self> {
        let (host, port) = parse_host_port(target)?;
        Self::connect_with(&ConnectOptions::new(host, port)).await
    }

    /// Connects to what an `ftp://`, `ftps://` (implicit) or `ftpes://` (explicit FTPS) URL
    /// names and logs in with its user and password (`anonymous` without one). The URL's
    /// path is not visited: use [`FtpUrl`] to read it.
    pub async fn connect_url(url: &str) -> Result<Self> {
        Self::connect_with(&ConnectOptions::from_url(&FtpUrl::parse(url)?)).await
    }

    /// Connects as `options` say: TCP within the connect timeout, TLS (implicit, or AUTH TLS
    /// with PBSZ/PROT for explicit), the greeting, and the login when the options carry
    /// credentials.
    pub async fn connect_with(options: &ConnectOptions) -> Result<Self> {
        Ok(Self {
            driver: Driver::connect(options).await?,
        })
    }

    /// Logs in with `user` and `password` (USER, PASS; then FEAT and `OPTS UTF8 ON` when
    /// the server lists UTF8). With FTPS, log in after the TLS setup, which
    /// [`connect_with`](Self::connect_with) does first.
    pub async fn login(&mut self, user: impl AsRef<str>, password: impl AsRef<str>) -> Result<()> {
        let credentials = Credentials::new(user.as_ref().to_owned(), password.as_ref().to_owned());
        let op = self.driver.queue(|s| s.login(credentials.clone()))?;
        self.driver.wait(op).await?;
        self.driver.core.logged_in(credentials);
        Ok(())
    }

    /// Changes the working directory (CWD).
    pub async fn cwd(&mut self, path: impl AsRef<[u8]>) -> Result<()> {
        let op = self.driver.queue(|s| s.cwd(ops::bytes(path)))?;
        self.driver.wait(op).await.map(drop)
    }

    /// Goes to the parent directory (CDUP).
    pub async fn cdup(&mut self) -> Result<()> {
        let op = self.driver.queue(|s| s.cdup())?;
        self.driver.wait(op).await.map(drop)
    }

    /// The working directory (PWD), decoded as UTF-8 (invalid bytes replaced).
    pub async fn pwd(&mut self) -> Result<String> {
        let op = self.driver.queue(|s| s.pwd())?;
        ops::path(self.driver.wait(op).await?)
    }

    /// Creates a directory (MKD); returns its name as the server reports it.
    pub async fn mkdir(&mut self, path: impl AsRef<[u8]>) -> Result<String> {
        let op = self.driver.queue(|s| s.mkdir(ops::bytes(path)))?;
        ops::path(self.driver.wait(op).await?)
    }

    /// Removes an empty directory (RMD).
    pub async fn rmdir(&mut self, path: impl AsRef<[u8]>) -> Result<()> {
        let op = self.driver.queue(|s| s.rmdir(ops::bytes(path)))?;
        self.driver.wait(op).await.map(drop)
    }

    /// Deletes a file (DELE).
    pub async fn delete(&mut self, path: impl AsRef<[u8]>) -> Result<()> {
        let op = self.driver.queue(|s| s.delete(ops::bytes(path)))?;
        self.driver.wait(op).await.map(drop)
    }

    /// Renames `from` to `to` (RNFR, RNTO).
    pub async fn rename(&mut self, from: impl AsRef<[u8]>, to: impl AsRef<[u8]>) -> Result<()> {
        let (from, to) = (ops::bytes(from), ops::bytes(to));
        let op = self.driver.queue(|s| s.rename(from, to))?;
        self.driver.wait(op).await.map(drop)
    }

    /// The size of a file in bytes (SIZE, after `TYPE I` so every server counts bytes).
    pub async fn size(&mut self, path: impl AsRef<[u8]>) -> Result<u64> {
        let op = self.driver.queue(|s| s.size(ops::bytes(path)))?;
        ops::size(self.driver.wait(op).await?)
    }

    /// The modification time of a file, UTC (MDTM).
    pub async fn mdtm(&mut self, path: impl AsRef<[u8]>) -> Result<Timestamp> {
        let op = self.driver.queue(|s| s.mdtm(ops::bytes(path)))?;
        ops::modified(self.driver.wait(op).await?)
    }

    /// Sets the modification time of a file, UTC (MFMT).
    pub async fn set_modified(&mut self, path: impl AsRef<[u8]>, time: Timestamp) -> Result<()> {
        let op = self
            .driver
            .queue(|s| s.set_modified(ops::bytes(path), time))?;
        self.driver.wait(op).await.map(drop)
    }

    /// The facts of one file or directory (MLST; an empty path for the working
    /// directory), as a typed entry.
    pub async fn mlst(&mut self, path: impl AsRef<[u8]>) -> Result<Entry> {
        let op = self.driver.queue(|s| s.mlst(ops::opt_path(path)))?;
        ops::entry(self.driver.wait(op).await?)
    }

    /// CCC (RFC 4217 §6): the control connection goes back to plaintext after the
    /// server's 200 (close_notify both ways), so firewalls can read it; data connections
    /// stay protected.
    pub async fn ccc(&mut self) -> Result<()> {
        let op = self.driver.queue(|s| s.ccc())?;
        self.driver.wait(op).await.map(drop)
    }

    /// The features the server lists (FEAT). Login asks for them already; see
    /// [`features`](Self::features).
    pub async fn feat(&mut self) -> Result<Features> {
        let op = self.driver.queue(|s| s.feat())?;
        ops::features(self.driver.wait(op).await?)
    }

    /// NOOP: checks that the server answers.
    pub async fn noop(&mut self) -> Result<()> {
        let op = self.driver.queue(|s| s.noop())?;
        self.driver.wait(op).await.map(drop)
    }

    /// Sends a command line as given (`SITE CHMOD 644 f`, `HELP`, `SYST`) and returns the
    /// server's 2yz or 3yz reply; 4yz and 5yz are [`Error::Reply`].
    /// Verbs that change what the session tracks or need a data connection (AUTH, REIN,
    /// QUIT, ABOR, RETR, STOR, LIST, ...) are refused with
    /// [`Error::Usage`]: use their methods.
    pub async fn raw(&mut self, line: impl AsRef<[u8]>) -> Result<Reply> {
        let op = self.driver.queue(|s| s.raw_line(ops::bytes(line)))?;
        ops::done(self.driver.wait(op).await?)
    }

    /// SITE with `args` (`CHMOD 644 f`, `UMASK 022`, ...): the server's 2yz or 3yz reply;
    /// 4yz and 5yz are [`Error::Reply`].
    pub async fn site(&mut self, args: impl AsRef<[u8]>) -> Result<Reply> {
        let command = Command::Site(ops::bytes(args));
        let op = self.driver.queue(|s| s.raw(command))?;
        ops::done(self.driver.wait(op).await?)
    }

    /// Uploads under a name the server chooses (STOU; `hint` is sent as its argument
    /// when not empty, which some servers use as the base of the name): write the bytes
    /// into the returned upload, then `finish` it; the outcome's
    /// [`stored_as`](TransferOutcome::stored_as) is the name, when
    /// the server said it.
    pub async fn store_unique(&mut self, hint: impl AsRef<[u8]>) -> Result<AsyncUpload<'_, R>> {
        self.upload(hint, StoreKind::Unique, 0).await
    }

    /// Downloads `path` into memory, failing past `limit` bytes with [`Error::TooLarge`]
    /// (the transfer is then aborted, and the session goes on): the whole file, once the
    /// server confirmed it.
    pub async fn retrieve_to_vec(
        &mut self,
        path: impl AsRef<[u8]>,
        limit: usize,
    ) -> Result<Vec<u8>> {
        let mut stream = self.retrieve(path, 0).await?;
        let mut data = Vec::new();
        stream.read_all(&mut data, limit).await?;
        stream.finish().await?;
        Ok(data)
    }

    /// Downloads `path` into the local file `local` without ever losing what `local`
    /// held: the bytes go to a temporary file beside it (`.NAME.part-PID-N`), which
    /// replaces `local` only once the server confirmed the transfer. A refusal (550) or
    /// a transfer cut short leaves `local` as it was and removes the temporary file.
    /// Local writes are plain blocking `std::fs` calls, also in the async clients.
    /// Returns the transfer's outcome (byte count, final reply).
    pub async fn retrieve_to(
        &mut self,
        path: impl AsRef<[u8]>,
        local: impl AsRef<std::path::Path>,
    ) -> Result<TransferOutcome> {
        let mut stream = self.retrieve(path, 0).await?;
        let mut part = match PartFile::beside(local.as_ref()) {
            Ok(part) => part,
            Err(error) => {
                let _ = stream.abort().await;
                return Err(error);
            }
        };
        let mut buf = vec![0u8; 64 * 1024];
        loop {
            match stream.read_chunk(&mut buf).await {
                Ok(0) => break,
                Ok(n) => {
                    if let Err(error) = part.write(&buf[..n]) {
                        let _ = stream.abort().await;
                        return Err(error);
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => {
                    let verdict = stream.finish().await;
                    return Err(ops::stream_failed(Error::Io(e), verdict));
                }
            }
        }
        let outcome = stream.finish().await?;
        part.commit()?;
        Ok(outcome)
    }

    /// Ends the session politely (QUIT) and closes the connection. Returns the server's
    /// goodbye (221) when it sent one.
    pub async fn quit(mut self) -> Result<Reply> {
        let op = self.driver.queue(|s| s.quit())?;
        let reply = ops::done(self.driver.wait(op).await?);
        self.driver.shutdown().await;
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
    pub async fn list(&mut self, path: impl AsRef<[u8]>) -> Result<Vec<Entry>> {
        let listing = self.listing(path, ListKind::Auto).await?;
        Ok(ops::entries(listing))
    }

    /// The names in a directory (NLST; an empty path for the working directory), decoded
    /// as UTF-8 (invalid bytes replaced), without `.` and `..`. Servers differ in whether
    /// they prefix the directory.
    pub async fn nlst(&mut self, path: impl AsRef<[u8]>) -> Result<Vec<String>> {
        let listing = self.listing(path, ListKind::Nlst).await?;
        Ok(ops::names(&listing))
    }

    /// The bytes of a listing as the server sent them (line ends as `\n`): `kind` says
    /// which command ([`ListKind::Auto`] is MLSD when
    /// available, else LIST). At most [`LISTING_LIMIT`] bytes.
    pub async fn listing(&mut self, path: impl AsRef<[u8]>, kind: ListKind) -> Result<Vec<u8>> {
        let op = self
            .driver
            .queue_data(|s| s.list(ops::opt_path(path), kind))
            .await?;
        let mut stream = self.transfer_stream(op).await?;
        let mut data = Vec::new();
        stream.read_all(&mut data, LISTING_LIMIT).await?;
        stream.finish().await?;
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

    /// Downloads `path` from byte `offset` (REST when not 0): the returned [`AsyncDownload`]
    /// reads the file's bytes. Read it to the end, then call [`AsyncDownload::finish`] for
    /// the server's verdict.
    pub async fn retrieve(
        &mut self,
        path: impl AsRef<[u8]>,
        offset: u64,
    ) -> Result<AsyncDownload<'_, R>> {
        let op = self
            .driver
            .queue_data(|s| s.retrieve(ops::bytes(path), offset))
            .await?;
        self.transfer_stream(op).await
    }

    /// Uploads to `path`, replacing it (STOR): write the bytes into the returned
    /// [`AsyncUpload`], then call [`AsyncUpload::finish`].
    pub async fn store(&mut self, path: impl AsRef<[u8]>) -> Result<AsyncUpload<'_, R>> {
        self.upload(path, StoreKind::Replace, 0).await
    }

    /// Resumes an upload: the bytes written go to `path` from byte `offset` on (REST, STOR).
    pub async fn store_at(
        &mut self,
        path: impl AsRef<[u8]>,
        offset: u64,
    ) -> Result<AsyncUpload<'_, R>> {
        self.upload(path, StoreKind::Replace, offset).await
    }

    /// Appends to `path` (APPE): write the bytes into the returned [`AsyncUpload`], then call
    /// [`AsyncUpload::finish`].
    pub async fn append(&mut self, path: impl AsRef<[u8]>) -> Result<AsyncUpload<'_, R>> {
        self.upload(path, StoreKind::Append, 0).await
    }

    async fn upload(
        &mut self,
        path: impl AsRef<[u8]>,
        kind: StoreKind,
        offset: u64,
    ) -> Result<AsyncUpload<'_, R>> {
        let op = self
            .driver
            .queue_data(|s| s.store(ops::bytes(path), kind, offset))
            .await?;
        let upload = async_driver::Upload::start(&mut self.driver, op).await?;
        Ok(AsyncUpload(upload))
    }

    async fn transfer_stream(&mut self, op: OpId) -> Result<AsyncDownload<'_, R>> {
        let download = async_driver::Download::start(&mut self.driver, op).await?;
        Ok(AsyncDownload(download))
    }
}

/// A download in progress on the async runtime `R`: the file's bytes (decoded from TYPE A or
/// MODE B/C when those are in effect), read through the runtime's `AsyncRead`
/// (`tokio::io::AsyncRead` for `tokio::Download`, `futures_io::AsyncRead` for
/// `async_std::Download`).
///
/// Read to the end, then call [`finish`](Self::finish): the end of the data alone does not
/// prove the transfer complete, the server's final reply does. A read that stays without data
/// longer than the data idle timeout fails with `TimedOut`; a refusal or close from the
/// server while reading fails it at once. Dropping the download before the end aborts the
/// transfer (the data connection is reset, ABOR goes out with the client's next call);
/// [`abort`](Self::abort) does it at once.
pub struct AsyncDownload<'a, R: AsyncRuntime>(pub(crate) async_driver::Download<'a, R>);

impl<R: AsyncRuntime> AsyncDownload<'_, R> {
    /// Waits for the server's verdict once every byte was read: the outcome (final reply,
    /// byte count) or the error that ended the transfer. Called before the end, it aborts the
    /// transfer and returns [`Error::Aborted`].
    pub async fn finish(self) -> Result<TransferOutcome> {
        self.0.finish().await
    }

    /// Aborts the transfer (ABOR, and a reset of the data connection) and waits for the
    /// server to confirm. Succeeds when the transfer ended either way.
    pub async fn abort(self) -> Result<()> {
        self.0.abort().await
    }

    /// Bytes handed to the application so far.
    pub fn byte_count(&self) -> u64 {
        self.0.bytes()
    }

    pub(crate) async fn read_all(&mut self, out: &mut Vec<u8>, limit: usize) -> Result<()> {
        self.0.read_all(out, limit).await
    }

    /// Reads the next bytes into `buf` (`Ok(0)` at the end).
    pub(crate) async fn read_chunk(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        poll_fn(|cx| self.0.poll_read(cx, buf)).await
    }
}

/// An upload in progress on the async runtime `R`: bytes written through the runtime's
/// `AsyncWrite` (`tokio::io::AsyncWrite` for `tokio::Upload`, `futures_io::AsyncWrite` for
/// `async_std::Upload`) go to the server (encoded to TYPE A or MODE B/C when those are in
/// effect).
///
/// Call [`finish`](Self::finish) when everything is written: it ends the data (close_notify
/// under TLS, then the end of the connection) and waits for the server's verdict. Closing the
/// writer (`shutdown`/`close`) ends the data too. Dropping the upload without either aborts
/// the transfer (the data connection is reset so the server does not take a partial file for
/// a complete one; under TLS it ends with close_notify to keep the TLS session, see the crate
/// docs).
///
/// When the server breaks the data connection off (it refuses the upload, runs out of space,
/// refuses the data connection's TLS), a write fails with an I/O error; `finish` then returns
/// the server's reason, its final reply ([`Error::Reply`] with `426`, `552`, `522`, ...).
pub struct AsyncUpload<'a, R: AsyncRuntime>(pub(crate) async_driver::Upload<'a, R>);

impl<R: AsyncRuntime> AsyncUpload<'_, R> {
    /// Ends the upload and waits for the server's verdict: the outcome (final reply, bytes
    /// sent, the name chosen for STOU) or the error that ended the transfer.
    pub async fn finish(self) -> Result<TransferOutcome> {
        self.0.finish().await
    }

    /// Aborts the transfer (ABOR, and the end of the data connection) and waits for the
    /// server to confirm.
    pub async fn abort(self) -> Result<()> {
        self.0.abort().await
    }

    /// Bytes taken from the application so far.
    pub fn byte_count(&self) -> u64 {
        self.0.bytes()
    }

    /// Writes all of `data`.
    async fn write_all_bytes(&mut self, mut data: &[u8]) -> Result<()> {
        while !data.is_empty() {
            match poll_fn(|cx| self.0.poll_write(cx, data)).await {
                Ok(0) => {
                    let closed = io::Error::new(io::ErrorKind::WriteZero, "upload closed");
                    return Err(Error::Io(closed));
                }
                Ok(n) => data = &data[n..],
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(Error::Io(e)),
            }
        }
        Ok(())
    }
}

/// Uploads what `read` yields (a poll of the application's reader into a buffer), then waits
/// for the server's verdict: `store_from` and `append_from` of each runtime. A failed write
/// reports the verdict instead of the socket's error ([`ops::stream_failed`]); a failed read
/// aborts the upload.
pub(crate) async fn upload_from<R: AsyncRuntime>(
    mut upload: AsyncUpload<'_, R>,
    mut read: impl FnMut(&mut Context<'_>, &mut [u8]) -> Poll<io::Result<usize>>,
) -> Result<u64> {
    let mut buf = vec![0u8; 64 * 1024];
    let mut total = 0u64;
    loop {
        let n = match poll_fn(|cx| read(cx, &mut buf)).await {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => {
                drop(upload);
                return Err(Error::Io(e));
            }
        };
        if let Err(e) = upload.write_all_bytes(&buf[..n]).await {
            return Err(ops::stream_failed(e, upload.finish().await));
        }
        total += n as u64;
    }
    upload.finish().await?;
    Ok(total)
}
