//! Results of operations as typed values, shared by every style, and the one list of client
//! methods the three `Client` types expand from ([`client_methods!`]).

use bytes::Bytes;
use ftp_proto::client::{OpOutput, TransferOutcome};
use ftp_proto::feat::Features;
use ftp_proto::listing::{parse_listing, Entry, MlsxEntry, ParseContext, Strictness};
use ftp_proto::reply::Reply;
use ftp_proto::Timestamp;

use crate::error::{Error, Result};

/// The most bytes a listing ([`list`](crate::blocking::Client::list),
/// [`nlst`](crate::blocking::Client::nlst)) may take in memory.
pub const LISTING_LIMIT: usize = 64 * 1024 * 1024;

pub(crate) fn bytes(path: impl AsRef<[u8]>) -> Bytes {
    Bytes::copy_from_slice(path.as_ref())
}

pub(crate) fn opt_path(path: impl AsRef<[u8]>) -> Option<Bytes> {
    let path = path.as_ref();
    (!path.is_empty()).then(|| Bytes::copy_from_slice(path))
}

fn unexpected(output: OpOutput) -> Error {
    let reply = match output {
        OpOutput::Done(reply) | OpOutput::Reply(reply) => reply,
        OpOutput::Transfer(outcome) => outcome.reply,
        _ => Reply::new(ftp_proto::ReplyCode::COMMAND_OK, "unexpected result"),
    };
    Error::UnexpectedReply(reply)
}

pub(crate) fn done(output: OpOutput) -> Result<Reply> {
    match output {
        OpOutput::Done(reply) | OpOutput::Reply(reply) => Ok(reply),
        OpOutput::Quit(reply) => Ok(
            reply.unwrap_or_else(|| Reply::new(ftp_proto::ReplyCode::CLOSING_CONTROL, "closed"))
        ),
        other => Err(unexpected(other)),
    }
}

pub(crate) fn path(output: OpOutput) -> Result<String> {
    match output {
        OpOutput::Path(path) => Ok(String::from_utf8_lossy(&path).into_owned()),
        other => Err(unexpected(other)),
    }
}

pub(crate) fn size(output: OpOutput) -> Result<u64> {
    match output {
        OpOutput::Size(size) => Ok(size),
        other => Err(unexpected(other)),
    }
}

pub(crate) fn modified(output: OpOutput) -> Result<Timestamp> {
    match output {
        OpOutput::Modified(time) => Ok(time),
        other => Err(unexpected(other)),
    }
}

pub(crate) fn features(output: OpOutput) -> Result<Features> {
    match output {
        OpOutput::Features(features) => Ok(features),
        other => Err(unexpected(other)),
    }
}

pub(crate) fn entry(output: OpOutput) -> Result<Entry> {
    match output {
        OpOutput::Entry { line, reply } => MlsxEntry::parse_mlsd_line(&line, Strictness::Lenient)
            .map(Entry::from_mlsx)
            .map_err(|_| Error::UnexpectedReply(reply)),
        other => Err(unexpected(other)),
    }
}

pub(crate) fn transfer(output: OpOutput) -> Result<TransferOutcome> {
    match output {
        OpOutput::Transfer(outcome) => Ok(outcome),
        other => Err(unexpected(other)),
    }
}

/// What a transfer whose data stream failed reports, in every style: the session's verdict
/// when it is an error, else the stream's own error.
///
/// A reset, a broken pipe or a refused TLS handshake on the data connection usually means the
/// server gave up on the transfer, and its final reply says why (`426`, `425`, `522`,
/// `552`); the session waits for that reply (within the reply timeout) and reports it,
/// failing the transfer with the data failure only when the server claims success. So
/// `verdict` is the transfer's result, collected after the failure: its error explains the
/// failure better than the socket does (curl and lftp report the reply too). Without a reply
/// within the reply timeout, the verdict is [`Error::Timeout`] and the session is closed.
pub(crate) fn stream_failed(stream: Error, verdict: Result<TransferOutcome>) -> Error {
    match verdict {
        Err(error) => {
            tracing::debug!(%stream, %error, "data stream failed; the session's verdict is reported");
            error
        }
        Ok(_) => stream,
    }
}

/// The entries of a LIST or MLSD listing: lines that do not parse and the directory's own
/// `.`/`..` (`cdir`/`pdir`) entries are left out.
pub(crate) fn entries(listing: Vec<u8>) -> Vec<Entry> {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX));
    let now = Timestamp::from_unix_seconds(now)
        .unwrap_or_else(|_| Timestamp::new(2000, 1, 1, 0, 0, 0).expect("a valid date"));
    parse_listing(Bytes::from(listing), ParseContext::new(now))
        .filter_map(|entry| match entry {
            Ok(entry) => Some(entry),
            Err(error) => {
                tracing::debug!(%error, "listing line skipped");
                None
            }
        })
        .filter(|entry| !entry.is_self_or_parent())
        .collect()
}

/// NLST names, one per line, without `.` and `..` (which some servers list).
pub(crate) fn names(listing: &[u8]) -> Vec<String> {
    listing
        .split(|&b| b == b'\n')
        .map(|line| line.strip_suffix(b"\r").unwrap_or(line))
        .filter(|line| !line.is_empty() && *line != b"." && *line != b"..")
        .map(|line| String::from_utf8_lossy(line).into_owned())
        .collect()
}

/// The methods every `Client` has, written once. `$($await)*` is `.await` for the async
/// clients and nothing for the blocking one; `$($async)?` is `async` or nothing.
///
/// The expanding type has a `driver` field with `core: Core`, `fn queue(&mut self, f) ->
/// Result<OpId>` and `[async] fn wait(&mut self, op) -> Result<OpOutput>`, and the stream
/// methods `retrieve`/`store_kind` (per style).
macro_rules! client_methods {
    ($($async:ident)?, [$($await:tt)*]) => {
        /// Logs in with `user` and `password` (USER, PASS; then FEAT and `OPTS UTF8 ON` when
        /// the server lists UTF8). With FTPS, log in after the TLS setup, which
        /// [`connect_with`](Self::connect_with) does first.
        pub $($async)? fn login(
            &mut self,
            user: impl AsRef<str>,
            password: impl AsRef<str>,
        ) -> $crate::Result<()> {
            let credentials = ftp_proto::client::Credentials::new(
                user.as_ref().to_owned(),
                password.as_ref().to_owned(),
            );
            let op = self.driver.queue(|s| s.login(credentials.clone()))?;
            self.driver.wait(op) $($await)* ?;
            self.driver.core.logged_in(credentials);
            Ok(())
        }

        /// Changes the working directory (CWD).
        pub $($async)? fn cwd(&mut self, path: impl AsRef<[u8]>) -> $crate::Result<()> {
            let op = self.driver.queue(|s| s.cwd($crate::ops::bytes(path)))?;
            self.driver.wait(op) $($await)* .map(drop)
        }

        /// Goes to the parent directory (CDUP).
        pub $($async)? fn cdup(&mut self) -> $crate::Result<()> {
            let op = self.driver.queue(|s| s.cdup())?;
            self.driver.wait(op) $($await)* .map(drop)
        }

        /// The working directory (PWD), decoded as UTF-8 (invalid bytes replaced).
        pub $($async)? fn pwd(&mut self) -> $crate::Result<String> {
            let op = self.driver.queue(|s| s.pwd())?;
            $crate::ops::path(self.driver.wait(op) $($await)* ?)
        }

        /// Creates a directory (MKD); returns its name as the server reports it.
        pub $($async)? fn mkdir(&mut self, path: impl AsRef<[u8]>) -> $crate::Result<String> {
            let op = self.driver.queue(|s| s.mkdir($crate::ops::bytes(path)))?;
            $crate::ops::path(self.driver.wait(op) $($await)* ?)
        }

        /// Removes an empty directory (RMD).
        pub $($async)? fn rmdir(&mut self, path: impl AsRef<[u8]>) -> $crate::Result<()> {
            let op = self.driver.queue(|s| s.rmdir($crate::ops::bytes(path)))?;
            self.driver.wait(op) $($await)* .map(drop)
        }

        /// Deletes a file (DELE).
        pub $($async)? fn delete(&mut self, path: impl AsRef<[u8]>) -> $crate::Result<()> {
            let op = self.driver.queue(|s| s.delete($crate::ops::bytes(path)))?;
            self.driver.wait(op) $($await)* .map(drop)
        }

        /// Renames `from` to `to` (RNFR, RNTO).
        pub $($async)? fn rename(
            &mut self,
            from: impl AsRef<[u8]>,
            to: impl AsRef<[u8]>,
        ) -> $crate::Result<()> {
            let (from, to) = ($crate::ops::bytes(from), $crate::ops::bytes(to));
            let op = self.driver.queue(|s| s.rename(from, to))?;
            self.driver.wait(op) $($await)* .map(drop)
        }

        /// The size of a file in bytes (SIZE, after `TYPE I` so every server counts bytes).
        pub $($async)? fn size(&mut self, path: impl AsRef<[u8]>) -> $crate::Result<u64> {
            let op = self.driver.queue(|s| s.size($crate::ops::bytes(path)))?;
            $crate::ops::size(self.driver.wait(op) $($await)* ?)
        }

        /// The modification time of a file, UTC (MDTM).
        pub $($async)? fn mdtm(
            &mut self,
            path: impl AsRef<[u8]>,
        ) -> $crate::Result<ftp_proto::Timestamp> {
            let op = self.driver.queue(|s| s.mdtm($crate::ops::bytes(path)))?;
            $crate::ops::modified(self.driver.wait(op) $($await)* ?)
        }

        /// Sets the modification time of a file, UTC (MFMT).
        pub $($async)? fn set_modified(
            &mut self,
            path: impl AsRef<[u8]>,
            time: ftp_proto::Timestamp,
        ) -> $crate::Result<()> {
            let op = self
                .driver
                .queue(|s| s.set_modified($crate::ops::bytes(path), time))?;
            self.driver.wait(op) $($await)* .map(drop)
        }

        /// The facts of one file or directory (MLST; an empty path for the working
        /// directory), as a typed entry.
        pub $($async)? fn mlst(
            &mut self,
            path: impl AsRef<[u8]>,
        ) -> $crate::Result<ftp_proto::listing::Entry> {
            let op = self.driver.queue(|s| s.mlst($crate::ops::opt_path(path)))?;
            $crate::ops::entry(self.driver.wait(op) $($await)* ?)
        }

        /// CCC (RFC 4217 §6): the control connection goes back to plaintext after the
        /// server's 200 (close_notify both ways), so firewalls can read it; data connections
        /// stay protected.
        pub $($async)? fn ccc(&mut self) -> $crate::Result<()> {
            let op = self.driver.queue(|s| s.ccc())?;
            self.driver.wait(op) $($await)* .map(drop)
        }

        /// The features the server lists (FEAT). Login asks for them already; see
        /// [`features`](Self::features).
        pub $($async)? fn feat(&mut self) -> $crate::Result<ftp_proto::feat::Features> {
            let op = self.driver.queue(|s| s.feat())?;
            $crate::ops::features(self.driver.wait(op) $($await)* ?)
        }

        /// NOOP: checks that the server answers.
        pub $($async)? fn noop(&mut self) -> $crate::Result<()> {
            let op = self.driver.queue(|s| s.noop())?;
            self.driver.wait(op) $($await)* .map(drop)
        }

        /// Sends a command line as given (`SITE CHMOD 644 f`, `HELP`, `SYST`) and returns the
        /// server's 2yz or 3yz reply; 4yz and 5yz are [`Error::Reply`](crate::Error::Reply).
        /// Verbs that change what the session tracks or need a data connection (AUTH, REIN,
        /// QUIT, ABOR, RETR, STOR, LIST, ...) are refused with
        /// [`Error::Usage`](crate::Error::Usage): use their methods.
        pub $($async)? fn raw(
            &mut self,
            line: impl AsRef<[u8]>,
        ) -> $crate::Result<ftp_proto::Reply> {
            let op = self.driver.queue(|s| s.raw_line($crate::ops::bytes(line)))?;
            $crate::ops::done(self.driver.wait(op) $($await)* ?)
        }

        /// SITE with `args` (`CHMOD 644 f`, `UMASK 022`, ...): the server's 2yz or 3yz reply;
        /// 4yz and 5yz are [`Error::Reply`](crate::Error::Reply).
        pub $($async)? fn site(&mut self, args: impl AsRef<[u8]>) -> $crate::Result<ftp_proto::Reply> {
            let command = ftp_proto::command::Command::Site($crate::ops::bytes(args));
            let op = self.driver.queue(|s| s.raw(command))?;
            $crate::ops::done(self.driver.wait(op) $($await)* ?)
        }

        /// Uploads under a name the server chooses (STOU; `hint` is sent as its argument
        /// when not empty, which some servers use as the base of the name): write the bytes
        /// into the returned upload, then `finish` it; the outcome's
        /// [`stored_as`](ftp_proto::client::TransferOutcome::stored_as) is the name, when
        /// the server said it.
        pub $($async)? fn store_unique(&mut self, hint: impl AsRef<[u8]>) -> $crate::Result<Upload<'_>> {
            self.upload(hint, ftp_proto::client::StoreKind::Unique, 0) $($await)*
        }

        /// Downloads `path` into memory, failing past `limit` bytes (the transfer is then
        /// aborted): the whole file, once the server confirmed it.
        pub $($async)? fn retrieve_to_vec(
            &mut self,
            path: impl AsRef<[u8]>,
            limit: usize,
        ) -> $crate::Result<Vec<u8>> {
            let mut stream = self.retrieve(path, 0) $($await)* ?;
            let mut data = Vec::new();
            stream.read_all(&mut data, limit) $($await)* ?;
            stream.finish() $($await)* ?;
            Ok(data)
        }

        /// Downloads `path` into the local file `local` without ever losing what `local`
        /// held: the bytes go to a temporary file beside it (`.NAME.part-PID-N`), which
        /// replaces `local` only once the server confirmed the transfer. A refusal (550) or
        /// a transfer cut short leaves `local` as it was and removes the temporary file.
        /// Local writes are plain blocking `std::fs` calls, also in the async clients.
        /// Returns the transfer's outcome (byte count, final reply).
        pub $($async)? fn retrieve_to(
            &mut self,
            path: impl AsRef<[u8]>,
            local: impl AsRef<std::path::Path>,
        ) -> $crate::Result<ftp_proto::client::TransferOutcome> {
            let mut stream = self.retrieve(path, 0) $($await)* ?;
            let mut part = match $crate::local::PartFile::beside(local.as_ref()) {
                Ok(part) => part,
                Err(error) => {
                    let _ = stream.abort() $($await)*;
                    return Err(error);
                }
            };
            let mut buf = vec![0u8; 64 * 1024];
            loop {
                match stream.read_chunk(&mut buf) $($await)* {
                    Ok(0) => break,
                    Ok(n) => {
                        if let Err(error) = part.write(&buf[..n]) {
                            let _ = stream.abort() $($await)*;
                            return Err(error);
                        }
                    }
                    Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                    Err(e) => {
                        let verdict = stream.finish() $($await)*;
                        return Err($crate::ops::stream_failed($crate::Error::Io(e), verdict));
                    }
                }
            }
            let outcome = stream.finish() $($await)* ?;
            part.commit()?;
            Ok(outcome)
        }

        /// Ends the session politely (QUIT) and closes the connection. Returns the server's
        /// goodbye (221) when it sent one.
        pub $($async)? fn quit(mut self) -> $crate::Result<ftp_proto::Reply> {
            let op = self.driver.queue(|s| s.quit())?;
            let reply = $crate::ops::done(self.driver.wait(op) $($await)* ?);
            self.driver.shutdown() $($await)*;
            reply
        }

        /// The entries of a directory (an empty path for the working directory): MLSD when
        /// the server lists MLST in FEAT, LIST otherwise, parsed into typed entries (Unix
        /// `ls -l`, DOS/IIS, EPLF and MLSx formats). Lines that do not parse and the `.`/`..`
        /// entries are left out; every [`Entry`](ftp_proto::listing::Entry) keeps its raw line.
        ///
        /// A directory that does not exist is an error (the server's 550), never an empty
        /// list: LIST is sent from inside the directory after a CWD into it (and a CWD back),
        /// as curl does ([`ClientSession::list`](ftp_proto::client::ClientSession::list)).
        pub $($async)? fn list(
            &mut self,
            path: impl AsRef<[u8]>,
        ) -> $crate::Result<Vec<ftp_proto::listing::Entry>> {
            let listing = self
                .listing(path, ftp_proto::client::ListKind::Auto) $($await)* ?;
            Ok($crate::ops::entries(listing))
        }

        /// The names in a directory (NLST; an empty path for the working directory), decoded
        /// as UTF-8 (invalid bytes replaced), without `.` and `..`. Servers differ in whether
        /// they prefix the directory.
        pub $($async)? fn nlst(&mut self, path: impl AsRef<[u8]>) -> $crate::Result<Vec<String>> {
            let listing = self
                .listing(path, ftp_proto::client::ListKind::Nlst) $($await)* ?;
            Ok($crate::ops::names(&listing))
        }

        /// The bytes of a listing as the server sent them (line ends as `\n`): `kind` says
        /// which command ([`ListKind::Auto`](ftp_proto::client::ListKind::Auto) is MLSD when
        /// available, else LIST). At most [`LISTING_LIMIT`](crate::LISTING_LIMIT) bytes.
        pub $($async)? fn listing(
            &mut self,
            path: impl AsRef<[u8]>,
            kind: ftp_proto::client::ListKind,
        ) -> $crate::Result<Vec<u8>> {
            let op = self
                .driver
                .queue_data(|s| s.list($crate::ops::opt_path(path), kind)) $($await)* ?;
            let mut stream = self.transfer_stream(op) $($await)* ?;
            let mut data = Vec::new();
            stream.read_all(&mut data, $crate::LISTING_LIMIT) $($await)* ?;
            stream.finish() $($await)* ?;
            Ok(data)
        }

        /// Sets the representation of file transfers (TYPE): `DataType::Image` (binary, the
        /// default) or `DataType::Ascii(..)`, whose line ends are converted (CRLF on the wire,
        /// `\n` locally). Sent before the next transfer.
        pub fn set_type(
            &mut self,
            data_type: ftp_proto::transfer::DataType,
        ) -> $crate::Result<()> {
            Ok(self.driver.core.session.set_type(data_type)?)
        }

        /// Sets the transfer mode (MODE): stream (the default), block or compressed, decoded
        /// on the data path. Sent before the next transfer.
        pub fn set_mode(&mut self, mode: ftp_proto::transfer::TransferMode) -> $crate::Result<()> {
            Ok(self.driver.core.session.set_mode(mode)?)
        }

        /// What the server listed in FEAT at login (empty before login, or when FEAT was
        /// refused).
        pub fn features(&self) -> &ftp_proto::feat::Features {
            self.driver.core.session.features()
        }

        /// The server's 220 greeting.
        pub fn greeting(&self) -> Option<&ftp_proto::Reply> {
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
        pub fn session(&self) -> &ftp_proto::client::ClientSession {
            &self.driver.core.session
        }
    };
}

pub(crate) use client_methods;
