//! Authentication: the [`Authenticator`] trait, a [`UserTable`] with Argon2id password hashes,
//! and the anonymous policy ([`Anonymous`]).

use std::collections::BTreeMap;
use std::fmt;
use std::net::SocketAddr;
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use argon2::password_hash::{PasswordHasher, PasswordVerifier};
use argon2::{Algorithm, Argon2, Params, Version};
use bytes::Bytes;

/// The Argon2 cost parameters [`UserTable::with_params`] takes (argon2's `Params`, re-exported so
/// that an application needs no argon2 dependency of its own, in the version this crate uses).
pub use argon2::Params as Argon2Params;
pub use ftp_proto::server::{AuthFailure, Permissions, Secret};

use crate::pool::BlockingPool;
use crate::storage::{BoxFuture, VirtualPath};

mod in_flight;
mod verified;

use in_flight::{InFlight, Turn};
use verified::{Fingerprint, FingerprintKey, VerifiedPasswords};

/// A user the authenticator let in. Start from [`User::new`] and set the fields that differ:
/// the struct may grow.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct User {
    /// The user name.
    pub name: Bytes,
    /// The user's root inside the storage: every path the user names is mapped below it, so
    /// the user can neither see nor name anything outside it. `/` for the whole storage.
    pub home: VirtualPath,
    /// What the user may do; each command needing a right the user lacks is refused (550,
    /// 553 for STOR/STOU) without asking storage.
    pub permissions: Permissions,
    /// The user's own limits, on top of the server's.
    pub limits: UserLimits,
}

impl User {
    /// A user with every right, rooted at the storage's root, with no limits of its own.
    pub fn new(name: impl Into<Bytes>) -> Self {
        Self {
            name: name.into(),
            home: VirtualPath::root(),
            permissions: Permissions::ALL,
            limits: UserLimits::default(),
        }
    }

    /// True when the user has no right that changes storage.
    pub fn read_only(&self) -> bool {
        !self.permissions.intersects(Permissions::ANY_WRITE)
    }
}

/// Limits of one user, on top of the server's (default: none).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct UserLimits {
    /// At most this many sessions logged in as the user at once; one more gets `530` at its
    /// PASS (not counted as a failed login).
    pub max_sessions: Option<usize>,
    /// Uploads of each of the user's sessions move at most this many bytes per second.
    pub upload_bytes_per_second: Option<u64>,
    /// Downloads and listings of each of the user's sessions move at most this many bytes per
    /// second.
    pub download_bytes_per_second: Option<u64>,
}

impl UserLimits {
    /// No limit.
    pub fn new() -> Self {
        Self::default()
    }

    /// At most `max` sessions at once.
    pub fn max_sessions(mut self, max: usize) -> Self {
        self.max_sessions = Some(max);
        self
    }

    /// Uploads at most `bytes` per second, per session.
    pub fn upload_rate(mut self, bytes: u64) -> Self {
        self.upload_bytes_per_second = Some(bytes.max(1));
        self
    }

    /// Downloads and listings at most `bytes` per second, per session.
    pub fn download_rate(mut self, bytes: u64) -> Self {
        self.download_bytes_per_second = Some(bytes.max(1));
        self
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

/// Checks credentials. The session's task polls the returned future beside its connection
/// (timeouts and shutdown still apply): it may take its time awaiting a database or a
/// service, and it must run blocking or CPU-heavy work, such as password hashing, on the
/// [`BlockingPool`] it is given, never in the future itself.
///
/// Answer [`AuthFailure::InvalidCredentials`] for a wrong name *or* password (never reveal
/// which), [`AuthFailure::Unavailable`] when the back end cannot decide (the session replies
/// 421 and closes).
pub trait Authenticator: Send + Sync + 'static {
    /// Checks one login attempt.
    fn authenticate(
        &self,
        credentials: Credentials,
        blocking: BlockingPool,
    ) -> BoxFuture<'_, Result<User, AuthFailure>>;
}

/// Refuses every login: for servers that only allow [`Anonymous`] access.
#[derive(Clone, Copy, Debug, Default)]
pub struct NoUsers;

impl Authenticator for NoUsers {
    fn authenticate(
        &self,
        _credentials: Credentials,
        _blocking: BlockingPool,
    ) -> BoxFuture<'_, Result<User, AuthFailure>> {
        Box::pin(async { Err(AuthFailure::InvalidCredentials) })
    }
}

/// An authenticator that can be replaced while the server runs (new users and passwords read
/// again on SIGHUP, say): logins that start after [`Replaceable::replace`] ask the new one;
/// sessions already logged in are not touched. Clones share the slot: keep one to replace
/// what the server uses.
///
/// ```
/// use ftp_server::auth::{Permissions, Replaceable, UserTable};
/// use ftp_server::storage::VirtualPath;
///
/// let users = Replaceable::new(UserTable::new());
/// let server_side = users.clone(); // given to Server::authenticator
/// let mut reloaded = UserTable::new();
/// reloaded.add("alice", "new secret", VirtualPath::root(), Permissions::ALL).unwrap();
/// users.replace(reloaded);
/// assert!(server_side.current().contains("alice"));
/// ```
pub struct Replaceable<A> {
    current: Arc<RwLock<Arc<A>>>,
}

impl<A> Clone for Replaceable<A> {
    fn clone(&self) -> Self {
        Self {
            current: Arc::clone(&self.current),
        }
    }
}

impl<A> fmt::Debug for Replaceable<A> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Replaceable").finish_non_exhaustive()
    }
}

impl<A: Authenticator> Replaceable<A> {
    /// Starts with `authenticator`.
    pub fn new(authenticator: A) -> Self {
        Self {
            current: Arc::new(RwLock::new(Arc::new(authenticator))),
        }
    }

    /// Logins from now on ask `authenticator`.
    pub fn replace(&self, authenticator: A) {
        *self.current.write().unwrap_or_else(|e| e.into_inner()) = Arc::new(authenticator);
    }

    /// The authenticator logins ask now.
    pub fn current(&self) -> Arc<A> {
        Arc::clone(&self.current.read().unwrap_or_else(|e| e.into_inner()))
    }
}

impl<A: Authenticator> Authenticator for Replaceable<A> {
    fn authenticate(
        &self,
        credentials: Credentials,
        blocking: BlockingPool,
    ) -> BoxFuture<'_, Result<User, AuthFailure>> {
        let current = self.current();
        Box::pin(async move { current.authenticate(credentials, blocking).await })
    }
}

/// Anonymous access: `USER anonymous` (or `ftp`) with any password, no authenticator asked.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
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
    permissions: Permissions,
    limits: UserLimits,
}

/// A fixed table of users with Argon2id password hashes (PHC strings), each with a home, a
/// set of [`Permissions`] and its own [`UserLimits`].
///
/// Verification runs on the blocking pool. An unknown user costs the same hash computation
/// as a known one (a dummy hash made with the table's parameters; keep stored hashes made
/// with the same ones), so response times do not reveal which names exist. Each verification
/// takes the hash's memory (19 MiB with the recommended parameters), so at most
/// [`UserTable::max_concurrent_verifications`] run at once (default: one per CPU); the others
/// wait their turn. Without that bound, 100 clients logging in together took 1.9 GB.
///
/// A login that arrives while another with the same user name and password is being
/// verified waits for that verification's answer instead of computing its own, so a client
/// opening several connections at once costs one computation (once the computation has
/// begun it answers them all, even if the login that asked for it leaves). Nothing of it is
/// kept once answered; to skip the computation for later logins too, see
/// [`UserTable::cache_verified_passwords`].
///
/// ```
/// use ftp_server::auth::{Permissions, UserLimits, UserTable};
/// use ftp_server::storage::VirtualPath;
///
/// let mut users = UserTable::new();
/// users.add("alice", "correct horse", VirtualPath::root(), Permissions::ALL).unwrap();
/// let stored = UserTable::hash_password("battery staple").unwrap();
/// let dropbox = VirtualPath::root().resolve(b"/incoming").unwrap();
/// let upload_only = Permissions::LIST | Permissions::WRITE;
/// users.add_hashed("bob", &stored, dropbox, upload_only).unwrap();
/// users.set_limits("bob", UserLimits::new().max_sessions(2).upload_rate(1 << 20));
/// assert!(users.contains("bob"));
/// ```
#[derive(Clone)]
pub struct UserTable {
    users: BTreeMap<Bytes, Account>,
    params: Params,
    dummy: Arc<String>,
    verifications: Arc<Tokens>,
    /// The key of the login fingerprints `in_flight` and `verified` go by.
    key: FingerprintKey,
    /// The logins being verified now, each answering the same logins that arrive meanwhile.
    in_flight: Arc<InFlight>,
    /// Off unless [`UserTable::cache_verified_passwords`] turned it on.
    verified: Option<Arc<VerifiedPasswords>>,
}

/// A counting semaphore for async code: `n` tokens in a channel; taking one waits while all
/// are out, and the guard puts it back.
struct Tokens {
    give: async_channel::Sender<()>,
    take: async_channel::Receiver<()>,
}

impl Tokens {
    fn new(n: usize) -> Arc<Self> {
        let (give, take) = async_channel::bounded(n.max(1));
        while give.try_send(()).is_ok() {}
        Arc::new(Self { give, take })
    }

    /// Waits for a token; `None` only if the channel closed (it never does: `self` holds both
    /// ends).
    async fn acquire(self: &Arc<Self>) -> Option<TokenGuard> {
        self.take.recv().await.ok()?;
        Some(TokenGuard(Arc::clone(self)))
    }
}

/// A token taken from [`Tokens`]; given back when dropped.
struct TokenGuard(Arc<Tokens>);

impl Drop for TokenGuard {
    fn drop(&mut self) {
        let _ = self.0.give.try_send(());
    }
}

/// One password verification per CPU: more would not finish sooner, only take more memory.
fn default_verifications() -> usize {
    std::thread::available_parallelism().map_or(2, usize::from)
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

    /// An empty table hashing new passwords with `params`:
    ///
    /// ```
    /// use ftp_server::auth::{Argon2Params, UserTable};
    /// // 64 MiB, three passes, one lane.
    /// let users = UserTable::with_params(Argon2Params::new(64 * 1024, 3, 1, None).unwrap());
    /// ```
    pub fn with_params(params: Argon2Params) -> Self {
        let dummy = hash_with(params.clone(), b"not a password").unwrap_or_default();
        Self {
            users: BTreeMap::new(),
            params,
            dummy: Arc::new(dummy),
            verifications: Tokens::new(default_verifications()),
            key: FingerprintKey::random(),
            in_flight: Arc::default(),
            verified: None,
        }
    }

    /// At most `n` password verifications run at once (at least 1; default: the number of
    /// CPUs); logins beyond wait. Bounds the memory logins take to `n` times the hash's
    /// memory cost. Clones of the table share the bound.
    pub fn max_concurrent_verifications(mut self, n: usize) -> Self {
        self.verifications = Tokens::new(n);
        self
    }

    /// Remembers each password that passed its Argon2id check for `ttl`, so that the same
    /// user logging in again with the same password within that time is let in without a
    /// new computation (default: off). Up to `max_entries` logins are remembered (about 100
    /// bytes each); when full, the one that would expire soonest makes room. Clones of the
    /// table share the cache.
    ///
    /// For servers where many clients log in often with the same credentials (a fleet of
    /// cameras or backup jobs): without it each login takes the hash's memory and tens of
    /// milliseconds of a CPU, one per CPU at a time (logins that arrive while the same login
    /// is being verified share its answer, but the next ones compute again).
    ///
    /// What it costs: wrong passwords are never remembered, so every guess still pays the
    /// full Argon2id price, and a password changed in the table no longer matches. But the
    /// process then holds, for each remembered login, a digest of the password that is fast
    /// to compute (a keyed BLAKE2b, whose key is in the same memory): whoever can read the
    /// server's memory can test guesses against it much faster than against the Argon2id
    /// hash. A user removed from the table or given a new password is refused at once.
    pub fn cache_verified_passwords(mut self, ttl: Duration, max_entries: usize) -> Self {
        self.verified = Some(Arc::new(VerifiedPasswords::new(ttl, max_entries)));
        self
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

    /// Adds (or replaces) a user with these rights, rooted at `home`, hashing `password` now.
    pub fn add(
        &mut self,
        name: &str,
        password: &str,
        home: VirtualPath,
        permissions: Permissions,
    ) -> Result<(), UserTableError> {
        let hash = hash_with(self.params.clone(), password.as_bytes())?;
        self.insert(name, hash, home, permissions);
        Ok(())
    }

    /// Adds (or replaces) a user with a stored Argon2 PHC hash string.
    pub fn add_hashed(
        &mut self,
        name: &str,
        hash: &str,
        home: VirtualPath,
        permissions: Permissions,
    ) -> Result<(), UserTableError> {
        argon2::password_hash::phc::PasswordHash::new(hash)
            .map_err(|_| UserTableError::InvalidHash)?;
        self.insert(name, hash.to_owned(), home, permissions);
        Ok(())
    }

    /// Gives the user `name` its own limits; false when there is no such user.
    pub fn set_limits(&mut self, name: &str, limits: UserLimits) -> bool {
        match self.users.get_mut(name.as_bytes()) {
            Some(account) => {
                account.limits = limits;
                true
            }
            None => false,
        }
    }

    fn insert(&mut self, name: &str, hash: String, home: VirtualPath, permissions: Permissions) {
        let account = Account {
            hash,
            home,
            permissions,
            limits: UserLimits::default(),
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
        blocking: BlockingPool,
    ) -> BoxFuture<'_, Result<User, AuthFailure>> {
        let account = self.users.get(&credentials.user).cloned();
        let hash = account
            .as_ref()
            .map_or_else(|| String::clone(&self.dummy), |a| a.hash.clone());
        let login = self
            .key
            .fingerprint(&credentials.user, &hash, credentials.password.expose());
        Box::pin(async move {
            let known = account.is_some();
            let verified = self.verify(login, hash, credentials.password, known, &blocking);
            let verified = verified.await?;
            match account {
                Some(account) if verified => Ok(User {
                    name: credentials.user,
                    home: account.home,
                    permissions: account.permissions,
                    limits: account.limits,
                }),
                _ => Err(AuthFailure::InvalidCredentials),
            }
        })
    }
}

impl UserTable {
    /// Whether `password` matches `hash`: remembered by the cache, answered by the same
    /// login's running verification, or computed on `blocking` when this login's turn comes.
    /// Only a `known` user's logins are remembered (an unknown user's are checked against
    /// the dummy hash, whose password is no secret).
    async fn verify(
        &self,
        login: Fingerprint,
        hash: String,
        password: Secret<Bytes>,
        known: bool,
        blocking: &BlockingPool,
    ) -> Result<bool, AuthFailure> {
        let cache = self.verified.clone().filter(|_| known);
        let remembered = || {
            cache
                .as_ref()
                .is_some_and(|cache| cache.contains(login, Instant::now()))
        };
        if remembered() {
            return Ok(true);
        }
        let verifying = loop {
            match self.in_flight.join(login) {
                Turn::Verify(verifying) => break verifying,
                Turn::Wait(waiting) => {
                    if let Some(verified) = waiting.answer().await {
                        return Ok(verified);
                    }
                }
            }
        };
        let turn = self
            .verifications
            .acquire()
            .await
            .ok_or(AuthFailure::Unavailable)?;
        // Another login may have verified the same password while this one waited.
        if remembered() {
            verifying.answer(true);
            return Ok(true);
        }
        // The job owns the turn and the answer: a login that leaves while its hash is being
        // computed neither frees the turn early nor makes the logins waiting on it compute
        // the same hash again.
        blocking
            .unblock(move || {
                let verified = password_matches(&hash, password.expose());
                if let Some(cache) = cache.filter(|_| verified) {
                    cache.insert(login, Instant::now());
                }
                verifying.answer(verified);
                drop(turn);
                verified
            })
            .await
            .map_err(|_| AuthFailure::Unavailable)
    }
}

/// Whether `password` matches the Argon2 PHC string `hash` (false if `hash` is not one).
fn password_matches(hash: &str, password: &[u8]) -> bool {
    let Ok(parsed) = argon2::password_hash::phc::PasswordHash::new(hash) else {
        return false;
    };
    argon2(Params::DEFAULT)
        .verify_password(password, &parsed)
        .is_ok()
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
            table.authenticate(credentials(user, password), BlockingPool::thread_per_job()),
        )
    }

    #[test]
    fn user_table_checks_hashed_passwords() {
        let mut table = UserTable::insecure_fast();
        let home = VirtualPath::root().resolve(b"/home/alice").unwrap();
        table
            .add("alice", "s3cret", home.clone(), Permissions::ALL)
            .unwrap();
        table
            .add("reader", "pw", VirtualPath::root(), Permissions::READ_ONLY)
            .unwrap();
        let limits = UserLimits::new().max_sessions(1).download_rate(1000);
        assert!(table.set_limits("reader", limits));
        assert!(!table.set_limits("nobody", limits));
        let alice = check(&table, "alice", "s3cret").unwrap();
        assert_eq!(alice.home, home);
        assert_eq!(
            (alice.permissions, alice.limits),
            (Permissions::ALL, UserLimits::new())
        );
        let reader = check(&table, "reader", "pw").unwrap();
        assert!(reader.read_only() && !alice.read_only());
        assert_eq!(reader.limits, limits);
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
            .add_hashed("bob", &hash, VirtualPath::root(), Permissions::ALL)
            .unwrap();
        assert!(check(&table, "bob", "pw").is_ok());
        assert_eq!(
            table.add_hashed("eve", "plaintext", VirtualPath::root(), Permissions::ALL),
            Err(UserTableError::InvalidHash)
        );
        assert!(!table.contains("eve"));
        assert_eq!(table.len(), 1);
    }

    /// Eight logins at once with a bound of two: never more than two hashes run together,
    /// and every login gets its answer.
    #[test]
    fn verifications_are_bounded_and_all_answered() {
        use std::sync::atomic::{AtomicUsize, Ordering};
        let running = Arc::new(AtomicUsize::new(0));
        let most = Arc::new(AtomicUsize::new(0));
        let (r, m) = (Arc::clone(&running), Arc::clone(&most));
        let pool = BlockingPool::new(move |job| {
            let (r, m) = (Arc::clone(&r), Arc::clone(&m));
            std::thread::spawn(move || {
                // The window counted is the sleep, which lies inside the verification's turn:
                // the turn ends only once `job` has delivered its result, and counting until
                // after `job` would overlap the next turn's start.
                m.fetch_max(r.fetch_add(1, Ordering::SeqCst) + 1, Ordering::SeqCst);
                std::thread::sleep(Duration::from_millis(30));
                r.fetch_sub(1, Ordering::SeqCst);
                job();
            });
        });
        let mut table = UserTable::insecure_fast().max_concurrent_verifications(2);
        table
            .add("alice", "pw", VirtualPath::root(), Permissions::ALL)
            .unwrap();
        let logins: Vec<_> = (0..8)
            .map(|i| {
                let (table, pool) = (table.clone(), pool.clone());
                // Each wrong password is a verification of its own (the same one would be
                // shared by the logins that arrive while it runs).
                let password = if i % 2 == 0 {
                    "pw".into()
                } else {
                    format!("wrong{i}")
                };
                std::thread::spawn(move || {
                    futures_lite::future::block_on(
                        table.authenticate(credentials("alice", &password), pool),
                    )
                })
            })
            .collect();
        let results: Vec<_> = logins.into_iter().map(|t| t.join().unwrap()).collect();
        assert_eq!(results.iter().filter(|r| r.is_ok()).count(), 4);
        assert_eq!(most.load(Ordering::SeqCst), 2);
    }

    /// A pool that counts its jobs: here, each is one Argon2id verification.
    fn counting_pool() -> (BlockingPool, Arc<std::sync::atomic::AtomicUsize>) {
        let runs = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let counter = Arc::clone(&runs);
        let pool = BlockingPool::new(move |job| {
            counter.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            std::thread::spawn(job);
        });
        (pool, runs)
    }

    /// A table with alice (password `pw`) that remembers verified passwords for `ttl`.
    fn remembering(ttl: Duration) -> UserTable {
        let mut table = UserTable::insecure_fast().cache_verified_passwords(ttl, 16);
        table
            .add("alice", "pw", VirtualPath::root(), Permissions::ALL)
            .unwrap();
        table
    }

    fn check_on(table: &UserTable, pool: &BlockingPool, user: &str, password: &str) -> bool {
        let login = table.authenticate(credentials(user, password), pool.clone());
        futures_lite::future::block_on(login).is_ok()
    }

    #[test]
    fn a_remembered_password_skips_the_hash_and_a_wrong_one_never_does() {
        let table = remembering(Duration::from_secs(60));
        let (pool, runs) = counting_pool();
        let hashes = || runs.load(std::sync::atomic::Ordering::SeqCst);
        assert!(check_on(&table, &pool, "alice", "pw"));
        assert!(check_on(&table, &pool, "alice", "pw"));
        assert_eq!(hashes(), 1);
        assert!(!check_on(&table, &pool, "alice", "wrong"));
        assert!(!check_on(&table, &pool, "alice", "wrong"));
        assert!(!check_on(&table, &pool, "bob", "pw"));
        assert_eq!(hashes(), 4);
        // A new password (a clone shares the cache): the old one no longer matches.
        let mut changed = table.clone();
        changed
            .add("alice", "new", VirtualPath::root(), Permissions::ALL)
            .unwrap();
        assert!(!check_on(&changed, &pool, "alice", "pw"));
        assert!(check_on(&changed, &pool, "alice", "new"));
        assert!(check_on(&changed, &pool, "alice", "new"));
        assert_eq!(hashes(), 6);
        // The table that still has the old password still remembers it.
        assert!(check_on(&table, &pool, "alice", "pw"));
        assert_eq!(hashes(), 6);
    }

    #[test]
    fn a_remembered_password_is_checked_again_after_its_time() {
        let ttl = Duration::from_millis(100);
        let table = remembering(ttl);
        let (pool, runs) = counting_pool();
        assert!(check_on(&table, &pool, "alice", "pw"));
        std::thread::sleep(ttl + Duration::from_millis(50));
        assert!(check_on(&table, &pool, "alice", "pw"));
        assert!(check_on(&table, &pool, "alice", "pw"));
        assert_eq!(runs.load(std::sync::atomic::Ordering::SeqCst), 2);
    }

    #[test]
    fn without_the_cache_every_login_is_hashed() {
        let mut table = UserTable::insecure_fast();
        table
            .add("alice", "pw", VirtualPath::root(), Permissions::ALL)
            .unwrap();
        let (pool, runs) = counting_pool();
        for _ in 0..3 {
            assert!(check_on(&table, &pool, "alice", "pw"));
        }
        assert_eq!(runs.load(std::sync::atomic::Ordering::SeqCst), 3);
    }

    #[test]
    fn logins_arriving_together_share_one_verification() {
        let mut table = UserTable::insecure_fast().max_concurrent_verifications(4);
        table
            .add("alice", "pw", VirtualPath::root(), Permissions::ALL)
            .unwrap();
        // A pool that holds its jobs until the test runs them.
        type Job = Box<dyn FnOnce() + Send>;
        let held: Arc<std::sync::Mutex<Vec<Job>>> = Arc::default();
        let holder = Arc::clone(&held);
        let pool = BlockingPool::new(move |job| holder.lock().unwrap().push(job));
        let passwords = ["pw", "pw", "wrong", "pw", "wrong", "pw"];
        let mut logins: Vec<_> = passwords
            .iter()
            .map(|password| table.authenticate(credentials("alice", password), pool.clone()))
            .collect();
        let poll = |login: &mut BoxFuture<'_, Result<User, AuthFailure>>| {
            futures_lite::future::block_on(futures_lite::future::poll_once(login))
        };
        for login in &mut logins {
            assert!(
                poll(login).is_none(),
                "answered before any hash was computed"
            );
        }
        let jobs: Vec<Job> = std::mem::take(&mut held.lock().unwrap());
        assert_eq!(jobs.len(), 2, "one verification per distinct password");
        // The first login, whose hash is being computed, leaves: the others still get
        // its answer, without a hash of their own.
        drop(logins.remove(0));
        jobs.into_iter().for_each(|job| job());
        let answers: Vec<Option<bool>> = logins
            .iter_mut()
            .map(|login| poll(login).map(|result| result.is_ok()))
            .collect();
        let all_answered = [Some(true), Some(false), Some(true), Some(false), Some(true)];
        assert_eq!(answers, all_answered);
        assert!(held.lock().unwrap().is_empty());
        assert_eq!(table.in_flight.len(), 0);
    }

    #[test]
    fn an_unknown_user_is_never_remembered() {
        let table = remembering(Duration::from_secs(60));
        let (pool, runs) = counting_pool();
        // The dummy hash's password passes its check, and still lets nobody in.
        for _ in 0..2 {
            assert!(!check_on(&table, &pool, "mallory", "not a password"));
        }
        assert_eq!(runs.load(std::sync::atomic::Ordering::SeqCst), 2);
        let cache = table.verified.as_ref().expect("the cache is on");
        assert_eq!(cache.len(), 0);
    }

    #[test]
    fn no_users_refuses_everyone() {
        let result = futures_lite::future::block_on(
            NoUsers.authenticate(credentials("a", "b"), BlockingPool::thread_per_job()),
        );
        assert_eq!(result, Err(AuthFailure::InvalidCredentials));
    }
}
