//! Authentication: the [`Authenticator`] trait, a [`UserTable`] with Argon2id password hashes,
//! and the anonymous policy ([`Anonymous`]).

use std::collections::BTreeMap;
use std::fmt;
use std::net::SocketAddr;
use std::sync::Arc;

use argon2::password_hash::{PasswordHasher, PasswordVerifier};
use argon2::{Algorithm, Argon2, Params, Version};
use bytes::Bytes;

pub use ftp_proto::server::{AuthFailure, Secret};

use crate::blocking::Blocking;
use crate::storage::{BoxFuture, VirtualPath};

/// A user the authenticator let in.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct User {
    /// The user name.
    pub name: Bytes,
    /// The user's root inside the storage: every path the user names is mapped below it, so
    /// the user can neither see nor name anything outside it. `/` for the whole storage.
    pub home: VirtualPath,
    /// Every write command is refused (550/553) without asking storage.
    pub read_only: bool,
}

impl User {
    /// A read-write user rooted at the storage's root.
    pub fn new(name: impl Into<Bytes>) -> Self {
        Self {
            name: name.into(),
            home: VirtualPath::root(),
            read_only: false,
        }
    }
}

/// What a login attempt carries.
#[derive(Clone, Debug)]
pub struct Credentials {
    /// The name given to USER.
    pub user: Bytes,
    /// The password given to PASS.
    pub password: Secret<Bytes>,
    /// The account given to ACCT, if asked for ([`AuthFailure::AccountRequired`]).
    pub account: Option<Bytes>,
    /// The virtual host named by HOST, if any.
    pub host: Option<Bytes>,
    /// The client's address.
    pub peer: SocketAddr,
    /// True when the control connection is protected by TLS.
    pub tls: bool,
}

/// Checks credentials. Runs as a side task: it may take its time (the session answers other
/// sessions meanwhile), and it runs CPU-heavy work such as password hashing on the
/// [`Blocking`] pool it is given.
///
/// Answer [`AuthFailure::InvalidCredentials`] for a wrong name *or* password (never reveal
/// which), [`AuthFailure::Unavailable`] when the back end cannot decide (the session replies
/// 421 and closes).
pub trait Authenticator: Send + Sync + 'static {
    /// Checks one login attempt.
    fn authenticate(
        &self,
        credentials: Credentials,
        blocking: Blocking,
    ) -> BoxFuture<'_, Result<User, AuthFailure>>;
}

/// Refuses every login: for servers that only allow [`Anonymous`] access.
#[derive(Clone, Copy, Debug, Default)]
pub struct NoUsers;

impl Authenticator for NoUsers {
    fn authenticate(
        &self,
        _credentials: Credentials,
        _blocking: Blocking,
    ) -> BoxFuture<'_, Result<User, AuthFailure>> {
        Box::pin(async { Err(AuthFailure::InvalidCredentials) })
    }
}

/// Anonymous access: `USER anonymous` (or `ftp`) with any password, no authenticator asked.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Anonymous {
    /// The anonymous root inside the storage.
    pub home: VirtualPath,
    /// Refuse writes (the usual choice, and the default).
    pub read_only: bool,
}

impl Anonymous {
    /// Read-only anonymous access to the whole storage.
    pub fn read_only() -> Self {
        Self {
            home: VirtualPath::root(),
            read_only: true,
        }
    }

    /// Read-write anonymous access to the whole storage (think twice).
    pub fn read_write() -> Self {
        Self {
            home: VirtualPath::root(),
            read_only: false,
        }
    }

    /// The same access, rooted at `home` inside the storage.
    pub fn with_home(mut self, home: VirtualPath) -> Self {
        self.home = home;
        self
    }
}

/// Why a user could not be added to a [`UserTable`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum UserTableError {
    /// The stored hash is not an Argon2 PHC string (`$argon2id$v=19$m=...`).
    InvalidHash,
    /// The Argon2 parameters are out of range.
    InvalidParams,
    /// Hashing failed (no randomness for a salt).
    Hashing,
}

impl std::error::Error for UserTableError {}

impl fmt::Display for UserTableError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::InvalidHash => "not an Argon2 PHC hash string",
            Self::InvalidParams => "Argon2 parameters out of range",
            Self::Hashing => "password hashing failed",
        })
    }
}

#[derive(Clone)]
struct Account {
    hash: String,
    home: VirtualPath,
    read_only: bool,
}

/// A fixed table of users with Argon2id password hashes (PHC strings), each with a home and
/// read-only or read-write access.
///
/// Verification runs on the blocking pool. An unknown user costs the same hash computation
/// as a known one, so response times do not reveal which names exist.
///
/// ```
/// use ftp_server::auth::UserTable;
/// use ftp_server::storage::VirtualPath;
///
/// let mut users = UserTable::new();
/// users.add("alice", "correct horse", VirtualPath::root(), false).unwrap();
/// let stored = UserTable::hash_password("battery staple").unwrap();
/// users.add_hashed("bob", &stored, VirtualPath::root(), true).unwrap();
/// assert!(users.contains("bob"));
/// ```
#[derive(Clone)]
pub struct UserTable {
    users: BTreeMap<Bytes, Account>,
    params: Params,
    dummy: Arc<String>,
}

impl fmt::Debug for UserTable {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("UserTable")
            .field("users", &self.users.keys().collect::<Vec<_>>())
            .finish_non_exhaustive()
    }
}

impl Default for UserTable {
    fn default() -> Self {
        Self::new()
    }
}

fn argon2(params: Params) -> Argon2<'static> {
    Argon2::new(Algorithm::Argon2id, Version::V0x13, params)
}

fn hash_with(params: Params, password: &[u8]) -> Result<String, UserTableError> {
    argon2(params)
        .hash_password(password)
        .map(|hash| hash.to_string())
        .map_err(|_| UserTableError::Hashing)
}

impl UserTable {
    /// An empty table hashing new passwords with Argon2id's recommended parameters (19 MiB,
    /// two passes, one lane: OWASP's minimum).
    pub fn new() -> Self {
        Self::with_params(Params::DEFAULT)
    }

    /// An empty table hashing new passwords with `params`.
    pub fn with_params(params: Params) -> Self {
        let dummy = hash_with(params.clone(), b"not a password").unwrap_or_default();
        Self {
            users: BTreeMap::new(),
            params,
            dummy: Arc::new(dummy),
        }
    }

    /// An empty table with cheap parameters (64 KiB, one pass): for tests only.
    pub fn insecure_fast() -> Self {
        Self::with_params(Params::new(64, 1, 1, None).unwrap_or(Params::DEFAULT))
    }

    /// The Argon2id PHC string for `password` with the recommended parameters and a random
    /// salt: what [`UserTable::add_hashed`] takes.
    pub fn hash_password(password: &str) -> Result<String, UserTableError> {
        hash_with(Params::DEFAULT, password.as_bytes())
    }

    /// Adds (or replaces) a user, hashing `password` now.
    pub fn add(
        &mut self,
        name: &str,
        password: &str,
        home: VirtualPath,
        read_only: bool,
    ) -> Result<(), UserTableError> {
        let hash = hash_with(self.params.clone(), password.as_bytes())?;
        self.insert(name, hash, home, read_only);
        Ok(())
    }

    /// Adds (or replaces) a user with a stored Argon2 PHC hash string.
    pub fn add_hashed(
        &mut self,
        name: &str,
        hash: &str,
        home: VirtualPath,
        read_only: bool,
    ) -> Result<(), UserTableError> {
        argon2::password_hash::phc::PasswordHash::new(hash)
            .map_err(|_| UserTableError::InvalidHash)?;
        self.insert(name, hash.to_owned(), home, read_only);
        Ok(())
    }

    fn insert(&mut self, name: &str, hash: String, home: VirtualPath, read_only: bool) {
        let account = Account {
            hash,
            home,
            read_only,
        };
        self.users
            .insert(Bytes::copy_from_slice(name.as_bytes()), account);
    }

    /// True when `name` is in the table.
    pub fn contains(&self, name: &str) -> bool {
        self.users.contains_key(name.as_bytes())
    }

    /// Number of users.
    pub fn len(&self) -> usize {
        self.users.len()
    }

    /// True when the table has no user.
    pub fn is_empty(&self) -> bool {
        self.users.is_empty()
    }
}

impl Authenticator for UserTable {
    fn authenticate(
        &self,
        credentials: Credentials,
        blocking: Blocking,
    ) -> BoxFuture<'_, Result<User, AuthFailure>> {
        let account = self.users.get(&credentials.user).cloned();
        let hash = account
            .as_ref()
            .map_or_else(|| String::clone(&self.dummy), |a| a.hash.clone());
        Box::pin(async move {
            let password = credentials.password.into_inner();
            let verified = blocking
                .unblock(move || {
                    let Ok(parsed) = argon2::password_hash::phc::PasswordHash::new(&hash) else {
                        return false;
                    };
                    argon2(Params::DEFAULT)
                        .verify_password(&password, &parsed)
                        .is_ok()
                })
                .await
                .map_err(|_| AuthFailure::Unavailable)?;
            match account {
                Some(account) if verified => Ok(User {
                    name: credentials.user,
                    home: account.home,
                    read_only: account.read_only,
                }),
                _ => Err(AuthFailure::InvalidCredentials),
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn credentials(user: &str, password: &str) -> Credentials {
        Credentials {
            user: Bytes::copy_from_slice(user.as_bytes()),
            password: Secret::new(Bytes::copy_from_slice(password.as_bytes())),
            account: None,
            host: None,
            peer: "127.0.0.1:1".parse().unwrap(),
            tls: false,
        }
    }

    fn check(table: &UserTable, user: &str, password: &str) -> Result<User, AuthFailure> {
        futures_lite::future::block_on(
            table.authenticate(credentials(user, password), Blocking::thread_per_job()),
        )
    }

    #[test]
    fn user_table_checks_hashed_passwords() {
        let mut table = UserTable::insecure_fast();
        let home = VirtualPath::root().resolve(b"/home/alice").unwrap();
        table.add("alice", "s3cret", home.clone(), false).unwrap();
        table
            .add("reader", "pw", VirtualPath::root(), true)
            .unwrap();
        let alice = check(&table, "alice", "s3cret").unwrap();
        assert_eq!(alice.home, home);
        assert!(!alice.read_only);
        assert!(check(&table, "reader", "pw").unwrap().read_only);
        assert_eq!(
            check(&table, "alice", "wrong"),
            Err(AuthFailure::InvalidCredentials)
        );
        assert_eq!(
            check(&table, "nobody", "s3cret"),
            Err(AuthFailure::InvalidCredentials)
        );
        assert_eq!(
            check(&table, "ALICE", "s3cret"),
            Err(AuthFailure::InvalidCredentials)
        );
    }

    #[test]
    fn stored_hashes_are_phc_strings() {
        let hash = hash_with(Params::new(64, 1, 1, None).unwrap(), b"pw").unwrap();
        assert!(hash.starts_with("$argon2id$v=19$m=64,t=1,p=1$"), "{hash}");
        let mut table = UserTable::insecure_fast();
        table
            .add_hashed("bob", &hash, VirtualPath::root(), false)
            .unwrap();
        assert!(check(&table, "bob", "pw").is_ok());
        assert_eq!(
            table.add_hashed("eve", "plaintext", VirtualPath::root(), false),
            Err(UserTableError::InvalidHash)
        );
        assert!(!table.contains("eve"));
        assert_eq!(table.len(), 1);
    }

    #[test]
    fn no_users_refuses_everyone() {
        let result = futures_lite::future::block_on(
            NoUsers.authenticate(credentials("a", "b"), Blocking::thread_per_job()),
        );
        assert_eq!(result, Err(AuthFailure::InvalidCredentials));
    }
}
