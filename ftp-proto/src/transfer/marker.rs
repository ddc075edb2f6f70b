//! Restart markers (RFC 959 §3.5): the text MODE B and MODE C carry for `110 MARK` and `REST`.

use core::fmt;

/// A restart marker: 1 to [`RestartMarker::MAX_LEN`] printable ASCII bytes without a space.
///
/// Guarantees: the bytes are all in `0x21..=0x7E`, so the marker can be echoed into a
/// `110 MARK ssss = rrrr` reply or a `REST ssss` command without any risk of injecting a CR,
/// LF, NUL or a Telnet byte. The value is `Copy` and holds its bytes inline.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct RestartMarker {
    bytes: [u8; Self::MAX_LEN],
    len: u8,
}

/// Why bytes are not a restart marker.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum RestartMarkerError {
    /// No bytes at all.
    #[error("restart marker is empty")]
    Empty,
    /// More than [`RestartMarker::MAX_LEN`] bytes.
    #[error(
        "restart marker of {len} bytes is longer than {} bytes",
        RestartMarker::MAX_LEN
    )]
    TooLong {
        /// The length the stream announced.
        len: usize,
    },
    /// A byte outside printable ASCII, or a space.
    #[error("restart marker holds byte 0x{byte:02X}, not a printable non-space character")]
    NotPrintable {
        /// The first offending byte.
        byte: u8,
    },
}

impl RestartMarker {
    /// The longest marker accepted. RFC 959 sets no limit; real markers are byte offsets or
    /// short record numbers, and a cap keeps the decoders' state small.
    pub const MAX_LEN: usize = 64;

    /// Checks `bytes` and keeps them as a marker.
    pub fn new(bytes: &[u8]) -> Result<Self, RestartMarkerError> {
        check_len(bytes.len())?;
        if let Some(&byte) = bytes.iter().find(|b| !is_marker_byte(**b)) {
            return Err(RestartMarkerError::NotPrintable { byte });
        }
        let mut marker = Self {
            bytes: [0; Self::MAX_LEN],
            len: 0,
        };
        marker.bytes[..bytes.len()].copy_from_slice(bytes);
        marker.len = bytes.len() as u8; // check_len bounds it by MAX_LEN
        Ok(marker)
    }

    /// The marker for a byte offset, in decimal: what a stream-style `REST` would name.
    pub fn from_offset(offset: u64) -> Self {
        let mut digits = [0u8; 20];
        let mut at = digits.len();
        let mut rest = offset;
        loop {
            at -= 1;
            digits[at] = b'0' + (rest % 10) as u8;
            rest /= 10;
            if rest == 0 {
                break;
            }
        }
        let mut marker = Self {
            bytes: [0; Self::MAX_LEN],
            len: (digits.len() - at) as u8,
        };
        marker.bytes[..digits.len() - at].copy_from_slice(&digits[at..]);
        marker
    }

    /// The marker's bytes.
    pub fn as_bytes(&self) -> &[u8] {
        &self.bytes[..usize::from(self.len)]
    }

    /// The marker as text (it is always ASCII).
    pub fn as_str(&self) -> &str {
        core::str::from_utf8(self.as_bytes()).unwrap_or_default()
    }

    /// The marker's length in bytes (1 to [`RestartMarker::MAX_LEN`]).
    pub fn len(&self) -> usize {
        usize::from(self.len)
    }

    /// Always false: a marker has at least one byte. Present for API symmetry with `len`.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }
}

impl fmt::Debug for RestartMarker {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("RestartMarker")
            .field(&self.as_str())
            .finish()
    }
}

impl fmt::Display for RestartMarker {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// True for the bytes a marker may hold: printable ASCII, no space.
fn is_marker_byte(byte: u8) -> bool {
    (0x21..=0x7E).contains(&byte)
}

/// Checks a marker length announced by a stream before any of its bytes arrive.
pub(crate) fn check_len(len: usize) -> Result<(), RestartMarkerError> {
    match len {
        0 => Err(RestartMarkerError::Empty),
        n if n > RestartMarker::MAX_LEN => Err(RestartMarkerError::TooLong { len }),
        _ => Ok(()),
    }
}

/// Collects a marker's bytes as they arrive, up to [`RestartMarker::MAX_LEN`].
#[derive(Clone, Copy, Debug)]
pub(crate) struct MarkerBuilder {
    bytes: [u8; RestartMarker::MAX_LEN],
    len: usize,
}

impl MarkerBuilder {
    /// An empty builder.
    pub(crate) const fn new() -> Self {
        Self {
            bytes: [0; RestartMarker::MAX_LEN],
            len: 0,
        }
    }

    /// Forgets the bytes collected so far.
    pub(crate) fn clear(&mut self) {
        self.len = 0;
    }

    /// Appends `bytes`; anything past the cap is dropped (callers check the announced length
    /// with [`check_len`] first, so this does not happen).
    pub(crate) fn extend(&mut self, bytes: &[u8]) {
        let n = bytes.len().min(RestartMarker::MAX_LEN - self.len);
        self.bytes[self.len..self.len + n].copy_from_slice(&bytes[..n]);
        self.len += n;
    }

    /// Validates the collected bytes.
    pub(crate) fn build(&self) -> Result<RestartMarker, RestartMarkerError> {
        RestartMarker::new(&self.bytes[..self.len])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_printable_markers_only() {
        assert_eq!(RestartMarker::new(b"R00042").unwrap().as_str(), "R00042");
        assert_eq!(RestartMarker::new(b""), Err(RestartMarkerError::Empty));
        assert_eq!(
            RestartMarker::new(b"a b"),
            Err(RestartMarkerError::NotPrintable { byte: b' ' })
        );
        assert_eq!(
            RestartMarker::new(b"a\r\nREST 0"),
            Err(RestartMarkerError::NotPrintable { byte: b'\r' })
        );
        assert_eq!(
            RestartMarker::new(&[b'x'; 65]),
            Err(RestartMarkerError::TooLong { len: 65 })
        );
        assert_eq!(RestartMarker::new(&[b'x'; 64]).unwrap().len(), 64);
    }

    #[test]
    fn offsets_become_decimal_markers() {
        assert_eq!(RestartMarker::from_offset(0).as_str(), "0");
        assert_eq!(RestartMarker::from_offset(802_816).as_str(), "802816");
        assert_eq!(
            RestartMarker::from_offset(u64::MAX).as_str(),
            "18446744073709551615"
        );
    }
}
