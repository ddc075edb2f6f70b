//! SIZE under TYPE A (RFC 3659 §4): the octets a TYPE A download of a file would send, found
//! by reading the file through the same encoder a download uses. The session asks only for
//! files up to `ServerConfig::ascii_size_limit`, with the size it checked as the request's
//! `max`: a count reads at most one byte more than that, whatever the file became since.

use ftp_proto::server::{StorageError, StorageErrorKind, TransferParams};
use ftp_proto::transfer::TypeEncoder;

use super::data::LOCAL_LINE_ENDING;
use crate::storage::{storage_error, Storage, StorageContext, VirtualPath};

/// The bytes read from storage at a time.
const CHUNK: usize = 64 << 10;

/// Counts what a download of `real` under `params` would send, each local line end as CRLF:
/// every byte of the file up to its end, or [`StorageErrorKind::Transient`] once more than
/// `max` bytes were read (the file grew or was replaced since the session checked its size).
pub(super) async fn transfer_size(
    storage: &dyn Storage,
    cx: StorageContext,
    real: VirtualPath,
    params: TransferParams,
    max: u64,
) -> Result<u64, StorageError> {
    let mut encoder = TypeEncoder::new(params.data_type, LOCAL_LINE_ENDING)
        .map_err(|_| StorageError::new(StorageErrorKind::Unsupported))?;
    let mut reader = storage.open_read(cx, real, 0).await?.reader;
    let (mut buf, mut out) = (vec![0u8; CHUNK], vec![0u8; 2 * CHUNK + 2]);
    let (mut read_total, mut sent) = (0u64, 0u64);
    loop {
        // The buffer comes back from the back end; a shrunken one would end the count early.
        buf.resize(CHUNK, 0);
        let (back, read) = reader.read(buf).await;
        buf = back;
        // A back end's count is never trusted past the buffer it filled.
        let n = read.map_err(|e| storage_error(&e))?.min(buf.len());
        if n == 0 {
            break;
        }
        read_total += n as u64;
        if read_total > max {
            return Err(StorageError::new(StorageErrorKind::Transient));
        }
        sent += encoded_len(&mut encoder, &buf[..n], &mut out);
    }
    let tail = encoder.finish(&mut out);
    Ok(sent + tail.written as u64)
}

/// The bytes `input` encodes to (`out` is scratch room, at least twice `input` and two more).
fn encoded_len(encoder: &mut TypeEncoder, mut input: &[u8], out: &mut [u8]) -> u64 {
    let mut written = 0u64;
    while !input.is_empty() {
        let step = encoder.encode(input, out);
        input = &input[step.consumed..];
        written += step.written as u64;
        if step.consumed == 0 {
            // Cannot happen with room for every byte doubled; never loop on it.
            break;
        }
    }
    written
}
