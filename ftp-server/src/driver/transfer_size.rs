//! SIZE under TYPE A (RFC 3659 §4): the octets a TYPE A download of a file would send, found
//! by reading the file through the same encoder a download uses. The session asks only for
//! files up to `ServerConfig::ascii_size_limit`, so one count reads a bounded file.

use ftp_proto::server::{StorageError, StorageErrorKind, TransferParams};
use ftp_proto::transfer::TypeEncoder;

use super::data::LOCAL_LINE_ENDING;
use crate::storage::{storage_error, Storage, StorageContext, VirtualPath};

/// The bytes read from storage at a time.
const CHUNK: usize = 64 << 10;

/// Counts what a download of `real` under `params` would send: every byte of the file as it
/// stood when opened (a file growing meanwhile is counted to its size then), each local line
/// end as CRLF.
pub(super) async fn transfer_size(
    storage: &dyn Storage,
    cx: StorageContext,
    real: VirtualPath,
    params: TransferParams,
) -> Result<u64, StorageError> {
    let mut encoder = TypeEncoder::new(params.data_type, LOCAL_LINE_ENDING)
        .map_err(|_| StorageError::new(StorageErrorKind::Unsupported))?;
    let download = storage.open_read(cx, real, 0).await?;
    let (mut reader, mut left) = (download.reader, download.size.unwrap_or(u64::MAX));
    let (mut buf, mut out) = (vec![0u8; CHUNK], vec![0u8; 2 * CHUNK + 2]);
    let mut sent = 0u64;
    while left > 0 {
        let (back, read) = reader.read(buf).await;
        buf = back;
        let n = read.map_err(|e| storage_error(&e))?;
        if n == 0 {
            break;
        }
        let n = n.min(usize::try_from(left).unwrap_or(usize::MAX));
        left -= n as u64;
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
