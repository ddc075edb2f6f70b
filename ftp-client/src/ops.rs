//! Results of operations as typed values, shared by every style: the blocking `Client`
//! (blocking/mod.rs) and the async one (async_client.rs) turn each operation's output into
//! its typed result here.

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

/// A transfer read into memory passed `limit` and was aborted: [`Error::TooLarge`], unless
/// the abort's outcome (`aborted`, its error if any) ended the session, which is then what
/// the caller must hear.
pub(crate) fn past_the_limit(aborted: Option<Error>, limit: usize) -> Error {
    match aborted {
        Some(error) if error.is_fatal() => error,
        _ => Error::TooLarge { limit },
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
