//! Virtual paths: what a server resolves every pathname argument into.
//!
//! A [`VirtualPath`] is absolute and normalised: it starts with `/`, has no empty, `.` or `..`
//! segments, and no NUL byte. [`VirtualPath::resolve`] joins an argument to a working directory
//! the way a chrooted Unix process would: `..` at the root stays at the root, so **no argument,
//! however spelled, names anything above the root**. Names are bytes; `/` is the only separator
//! (RFC 3659 TVFS), so a backslash is an ordinary byte of a name.

use std::fmt;

use bytes::{BufMut, Bytes, BytesMut};

/// An absolute, normalised path inside the server's virtual file system.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct VirtualPath(Bytes);

/// Why a pathname argument was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum PathError {
    /// The argument contains a NUL byte, which no file system accepts (reply 553 or 501).
    #[error("pathname contains NUL")]
    Nul,
    /// The resolved path would be longer than the configured limit (reply 553).
    #[error("pathname too long")]
    TooLong,
}

impl Default for VirtualPath {
    fn default() -> Self {
        Self::root()
    }
}

impl VirtualPath {
    /// The longest resolved path [`resolve`](Self::resolve) accepts, in bytes.
    pub const MAX_LEN: usize = 4096;

    /// `/`.
    pub fn root() -> Self {
        Self(Bytes::from_static(b"/"))
    }

    /// Resolves `arg` against `self` (the working directory): an absolute argument starts at the
    /// root; `.` and empty segments are dropped; `..` removes the previous segment and does
    /// nothing at the root.
    pub fn resolve(&self, arg: &[u8]) -> Result<Self, PathError> {
        if memchr::memchr(0, arg).is_some() {
            return Err(PathError::Nul);
        }
        let mut segments: Vec<&[u8]> = if arg.first() == Some(&b'/') {
            vec![]
        } else {
            self.segments().collect()
        };
        for segment in arg.split(|&b| b == b'/') {
            match segment {
                b"" | b"." => {}
                b".." => {
                    segments.pop();
                }
                name => segments.push(name),
            }
        }
        let len: usize = segments.iter().map(|s| s.len() + 1).sum();
        if len > Self::MAX_LEN {
            return Err(PathError::TooLong);
        }
        Ok(Self::from_segments(&segments))
    }

    fn from_segments(segments: &[&[u8]]) -> Self {
        if segments.is_empty() {
            return Self::root();
        }
        let mut out = BytesMut::with_capacity(segments.iter().map(|s| s.len() + 1).sum());
        for segment in segments {
            out.put_u8(b'/');
            out.put_slice(segment);
        }
        Self(out.freeze())
    }

    /// The path's bytes, starting with `/`.
    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }

    /// The path's bytes as a cheap clone.
    pub fn to_bytes(&self) -> Bytes {
        self.0.clone()
    }

    /// True for `/`.
    pub fn is_root(&self) -> bool {
        self.0.len() == 1
    }

    /// The names from the root down (none for `/`). None is empty, `.` or `..`.
    pub fn segments(&self) -> impl Iterator<Item = &[u8]> {
        self.0[1..].split(|&b| b == b'/').filter(|s| !s.is_empty())
    }

    /// The last name, `None` for `/`.
    pub fn file_name(&self) -> Option<&[u8]> {
        self.segments().last()
    }

    /// The directory above, `None` for `/`.
    pub fn parent(&self) -> Option<Self> {
        let cut = memchr::memrchr(b'/', &self.0).filter(|_| !self.is_root())?;
        Some(if cut == 0 {
            Self::root()
        } else {
            Self(self.0.slice(..cut))
        })
    }

    /// The path without its leading `/` (empty for the root): what a storage back end appends
    /// to its own root.
    pub fn relative(&self) -> &[u8] {
        &self.0[1..]
    }

    /// True when `self` is `ancestor` or lies below it.
    pub fn starts_with(&self, ancestor: &Self) -> bool {
        ancestor.is_root()
            || (self.0.starts_with(&ancestor.0)
                && matches!(self.0.get(ancestor.0.len()), None | Some(b'/')))
    }
}

impl fmt::Debug for VirtualPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "VirtualPath({:?})", self.0)
    }
}

impl fmt::Display for VirtualPath {
    /// The path with non-UTF-8 bytes replaced (for logs only; use [`VirtualPath::as_bytes`] for
    /// anything that must round-trip).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&String::from_utf8_lossy(&self.0))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(cwd: &str, arg: &[u8]) -> Vec<u8> {
        VirtualPath::root()
            .resolve(cwd.as_bytes())
            .unwrap()
            .resolve(arg)
            .unwrap()
            .as_bytes()
            .to_vec()
    }

    #[test]
    fn relative_and_absolute_arguments() {
        assert_eq!(at("/pub", b"a.txt"), b"/pub/a.txt");
        assert_eq!(at("/pub", b"/etc/passwd"), b"/etc/passwd");
        assert_eq!(at("/pub", b"./x//y/"), b"/pub/x/y");
        assert_eq!(at("/pub", b""), b"/pub");
    }

    #[test]
    fn dot_dot_never_climbs_above_the_root() {
        assert_eq!(at("/pub", b"../../../../etc/passwd"), b"/etc/passwd");
        assert_eq!(at("/", b".."), b"/");
        assert_eq!(at("/a/b", b"../c"), b"/a/c");
        assert_eq!(
            at("/a", b"..\\..\\x"),
            b"/a/..\\..\\x",
            "backslash is a name byte"
        );
    }

    #[test]
    fn refuses_nul_and_overlong_paths() {
        assert_eq!(VirtualPath::root().resolve(b"a\0b"), Err(PathError::Nul));
        let long = vec![b'a'; VirtualPath::MAX_LEN + 1];
        assert_eq!(VirtualPath::root().resolve(&long), Err(PathError::TooLong));
    }

    #[test]
    fn parent_name_and_ancestry() {
        let path = VirtualPath::root().resolve(b"/a/bc/d").unwrap();
        assert_eq!(path.file_name(), Some(&b"d"[..]));
        assert_eq!(path.parent().unwrap().as_bytes(), b"/a/bc");
        assert_eq!(
            path.parent().unwrap().parent().unwrap().parent(),
            Some(VirtualPath::root())
        );
        assert_eq!(VirtualPath::root().parent(), None);
        let a = VirtualPath::root().resolve(b"/a").unwrap();
        let ab = VirtualPath::root().resolve(b"/ab").unwrap();
        assert!(path.starts_with(&a) && !ab.starts_with(&a) && a.starts_with(&VirtualPath::root()));
        assert_eq!(path.relative(), b"a/bc/d");
    }
}
