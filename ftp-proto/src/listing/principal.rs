//! [`Principal`]: the owner or group column of a listing.

use core::fmt;
use core::hash::{Hash, Hasher};
use core::ops::Deref;

use bytes::Bytes;

/// The longest value kept inline.
const INLINE: usize = 23;

/// A user or group as a listing shows it: a name (`alice`, `ftp`) or a number (`1000`).
///
/// Values of up to 23 bytes (every user or group name systems accept in practice) are stored
/// inline: reading one from a line costs no allocation and no reference count. Longer values
/// are kept as [`Bytes`]. Whatever the storage, a `Principal` dereferences to, compares as and
/// hashes as its bytes, which are never assumed to be UTF-8.
#[derive(Clone)]
pub struct Principal(Repr);

#[derive(Clone)]
enum Repr {
    Inline { len: u8, bytes: [u8; INLINE] },
    Shared(Bytes),
}

impl Principal {
    /// A principal holding a copy of `bytes`.
    pub fn new(bytes: &[u8]) -> Self {
        Self::inline(bytes).unwrap_or_else(|| Self(Repr::Shared(Bytes::copy_from_slice(bytes))))
    }

    /// The bytes.
    pub fn as_bytes(&self) -> &[u8] {
        match &self.0 {
            Repr::Inline { len, bytes } => bytes.get(..usize::from(*len)).unwrap_or_default(),
            Repr::Shared(bytes) => bytes,
        }
    }

    /// `line[start..end]`, copied inline when short, otherwise shared with `line`.
    pub(crate) fn from_line(line: &Bytes, start: usize, end: usize) -> Self {
        let value = line.get(start..end).unwrap_or_default();
        Self::inline(value).unwrap_or_else(|| Self(Repr::Shared(line.slice(start..end))))
    }

    fn inline(value: &[u8]) -> Option<Self> {
        let mut bytes = [0; INLINE];
        bytes.get_mut(..value.len())?.copy_from_slice(value);
        let len = u8::try_from(value.len()).ok()?;
        Some(Self(Repr::Inline { len, bytes }))
    }
}

impl From<Bytes> for Principal {
    /// Short values are copied inline; longer ones keep `bytes`.
    fn from(bytes: Bytes) -> Self {
        Self::inline(&bytes).unwrap_or(Self(Repr::Shared(bytes)))
    }
}

impl From<&Bytes> for Principal {
    fn from(bytes: &Bytes) -> Self {
        Self::from_line(bytes, 0, bytes.len())
    }
}

impl From<&[u8]> for Principal {
    fn from(bytes: &[u8]) -> Self {
        Self::new(bytes)
    }
}

impl From<&str> for Principal {
    fn from(text: &str) -> Self {
        Self::new(text.as_bytes())
    }
}

impl Deref for Principal {
    type Target = [u8];

    fn deref(&self) -> &[u8] {
        self.as_bytes()
    }
}

impl AsRef<[u8]> for Principal {
    fn as_ref(&self) -> &[u8] {
        self.as_bytes()
    }
}

impl PartialEq for Principal {
    fn eq(&self, other: &Self) -> bool {
        self.as_bytes() == other.as_bytes()
    }
}

impl Eq for Principal {}

impl PartialEq<[u8]> for Principal {
    fn eq(&self, other: &[u8]) -> bool {
        self.as_bytes() == other
    }
}

impl PartialEq<&[u8]> for Principal {
    fn eq(&self, other: &&[u8]) -> bool {
        self.as_bytes() == *other
    }
}

impl Hash for Principal {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.as_bytes().hash(state);
    }
}

impl fmt::Debug for Principal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Principal(\"{}\")", self.as_bytes().escape_ascii())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_and_long_values_behave_alike() {
        let long = "a-very-long-group-name-of-many-bytes";
        for text in ["", "ftp", "12345678901234567890123", long] {
            let from_str = Principal::from(text);
            let from_bytes = Principal::from(Bytes::copy_from_slice(text.as_bytes()));
            let line = Bytes::copy_from_slice(format!("x {text} y").as_bytes());
            let from_line = Principal::from_line(&line, 2, 2 + text.len());
            assert_eq!(from_str.as_bytes(), text.as_bytes());
            assert_eq!(from_str, from_bytes);
            assert_eq!(from_str, from_line);
            assert_eq!(&*from_line, text.as_bytes());
        }
        assert!(matches!(Principal::from("ftp").0, Repr::Inline { .. }));
        assert!(matches!(Principal::from(long).0, Repr::Shared(_)));
        assert_eq!(
            format!("{:?}", Principal::from("a\u{e9}")),
            "Principal(\"a\\xc3\\xa9\")"
        );
    }
}
