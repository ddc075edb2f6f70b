//! What a logged-in user may do: [`Permissions`], one right per kind of operation, checked by
//! the session before it asks storage.

use std::fmt;
use std::ops::{BitOr, BitOrAssign};

/// A set of rights. Each command that needs one is refused without asking storage when the
/// user lacks it: `553` for STOR and STOU, `550` for the rest (RFC 959 §4.2).
///
/// | right | commands |
/// |---|---|
/// | `list` | LIST, NLST, MLSD, MLST, STAT with a path |
/// | `read` | RETR |
/// | `write` | STOR, STOU, MFMT |
/// | `append` | APPE |
/// | `delete` | DELE |
/// | `rename` | RNFR (and so RNTO) |
/// | `mkdir` | MKD |
/// | `rmdir` | RMD |
/// | `chmod` | SITE CHMOD |
///
/// CWD, PWD, SIZE and MDTM need no right: a client resuming a download needs SIZE even where
/// it may not list.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct Permissions(u16);

/// Every right with its name, in display order.
const NAMES: [(Permissions, &str); 9] = [
    (Permissions::LIST, "list"),
    (Permissions::READ, "read"),
    (Permissions::WRITE, "write"),
    (Permissions::APPEND, "append"),
    (Permissions::DELETE, "delete"),
    (Permissions::RENAME, "rename"),
    (Permissions::MKDIR, "mkdir"),
    (Permissions::RMDIR, "rmdir"),
    (Permissions::CHMOD, "chmod"),
];

impl Permissions {
    /// No right at all.
    pub const NONE: Self = Self(0);
    /// LIST, NLST, MLSD, MLST, STAT with a path.
    pub const LIST: Self = Self(1);
    /// RETR.
    pub const READ: Self = Self(1 << 1);
    /// STOR, STOU (new files and replacing files), MFMT.
    pub const WRITE: Self = Self(1 << 2);
    /// APPE.
    pub const APPEND: Self = Self(1 << 3);
    /// DELE.
    pub const DELETE: Self = Self(1 << 4);
    /// RNFR/RNTO.
    pub const RENAME: Self = Self(1 << 5);
    /// MKD.
    pub const MKDIR: Self = Self(1 << 6);
    /// RMD.
    pub const RMDIR: Self = Self(1 << 7);
    /// SITE CHMOD.
    pub const CHMOD: Self = Self(1 << 8);
    /// Listing and downloading.
    pub const READ_ONLY: Self = Self(Self::LIST.0 | Self::READ.0);
    /// Every right.
    pub const ALL: Self = Self((1 << 9) - 1);
    /// Every right that changes storage.
    pub const ANY_WRITE: Self = Self(Self::ALL.0 & !Self::READ_ONLY.0);

    /// True when every right of `rights` is in the set.
    pub const fn contains(self, rights: Self) -> bool {
        self.0 & rights.0 == rights.0
    }

    /// True when the set has at least one right of `rights`.
    pub const fn intersects(self, rights: Self) -> bool {
        self.0 & rights.0 != 0
    }

    /// The set without `rights`.
    pub const fn without(self, rights: Self) -> Self {
        Self(self.0 & !rights.0)
    }

    /// Parses rights by name, separated by commas (spaces around them allowed): `list`,
    /// `read`, `write`, `append`, `delete`, `rename`, `mkdir`, `rmdir`, `chmod`, and the
    /// shorthands `all`, `read-only` and `none`. `"read-only, mkdir"` is list, read and mkdir.
    pub fn parse(text: &str) -> Result<Self, UnknownPermission> {
        let mut set = Self::NONE;
        for name in text.split(',').map(str::trim) {
            set |= match name {
                "all" => Self::ALL,
                "read-only" => Self::READ_ONLY,
                "none" => Self::NONE,
                _ => NAMES
                    .iter()
                    .find(|(_, known)| *known == name)
                    .map(|(right, _)| *right)
                    .ok_or_else(|| UnknownPermission(name.to_owned()))?,
            };
        }
        Ok(set)
    }
}

impl Default for Permissions {
    /// Every right.
    fn default() -> Self {
        Self::ALL
    }
}

impl BitOr for Permissions {
    type Output = Self;

    fn bitor(self, other: Self) -> Self {
        Self(self.0 | other.0)
    }
}

impl BitOrAssign for Permissions {
    fn bitor_assign(&mut self, other: Self) {
        self.0 |= other.0;
    }
}

/// The names of the rights, comma-separated (`list,read`), `all` or `none`: what
/// [`Permissions::parse`] reads back.
impl fmt::Display for Permissions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            Self::ALL => return f.write_str("all"),
            Self::NONE => return f.write_str("none"),
            _ => {}
        }
        let mut names = NAMES.iter().filter(|(right, _)| self.contains(*right));
        if let Some((_, first)) = names.next() {
            f.write_str(first)?;
        }
        names.try_for_each(|(_, name)| write!(f, ",{name}"))
    }
}

impl fmt::Debug for Permissions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Permissions({self})")
    }
}

/// A name [`Permissions::parse`] does not know.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("unknown permission {0:?} (expected list, read, write, append, delete, rename, mkdir, rmdir, chmod, all, read-only or none)")]
pub struct UnknownPermission(pub String);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_parse_and_display() {
        assert_eq!(Permissions::parse("all"), Ok(Permissions::ALL));
        assert_eq!(Permissions::parse("read-only"), Ok(Permissions::READ_ONLY));
        assert_eq!(
            Permissions::parse(" read-only , mkdir"),
            Ok(Permissions::LIST | Permissions::READ | Permissions::MKDIR)
        );
        assert_eq!(Permissions::READ_ONLY.to_string(), "list,read");
        assert_eq!(Permissions::ALL.to_string(), "all");
        assert_eq!(Permissions::NONE.to_string(), "none");
        let upload_only = Permissions::WRITE | Permissions::LIST;
        assert_eq!(upload_only.to_string(), "list,write");
        assert_eq!(
            Permissions::parse(&upload_only.to_string()),
            Ok(upload_only)
        );
        assert_eq!(
            Permissions::parse("read,wrte"),
            Err(UnknownPermission("wrte".into()))
        );
        assert!(Permissions::parse("").is_err());
        assert_eq!(
            Permissions::ALL.without(Permissions::ANY_WRITE),
            Permissions::READ_ONLY
        );
        assert!(!Permissions::READ_ONLY.intersects(Permissions::ANY_WRITE));
    }
}
