//! The storage back end: a runtime-neutral, streaming trait, and two implementations.
//!
//! [`Storage`] is what the server asks to describe, list, read, write, rename and delete. It is
//! runtime-neutral (every method returns a boxed `Send` future, no runtime type appears) and
//! streaming (file bytes move in chunks through buffers the server owns and reuses, see
//! [`FileRead`] and [`FileWrite`]), so it can be implemented over a local disk, memory or an
//! object store.
//!
//! * [`FsStorage`]: a directory of the local file system, with every path jailed below it.
//! * [`MemStorage`]: a tree in memory, for tests and ephemeral servers.
//! * `OpenDalStorage` (feature `opendal`): an object store (S3, or any Apache OpenDAL
//!   service), with folders as key prefixes; its documentation lists where FTP on a flat
//!   store differs from a disk.
//!
//! # Paths
//!
//! Every path a back end sees is a [`VirtualPath`]: absolute, normalised, no `.` or `..`
//! segment, no NUL, never above `/`. The server has already prefixed it with the logged-in
//! user's home (see [`crate::auth::User::home`]), so one back end serves every user.
//!
//! # Uploads
//!
//! An upload is opened with [`Storage::open_write`], fed with [`FileWrite::write`] and ends with
//! exactly one of [`FileWrite::commit`] (every byte arrived: make the file visible, durably) or
//! [`FileWrite::abort`] (discard everything written). Dropping a writer without committing
//! must discard too. The server sends `226` only after `commit` returned `Ok`, so a back end
//! that makes files visible only in `commit` never shows a file that claims to be complete but
//! is not. Both provided back ends do exactly that.

use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;

use bytes::Bytes;

pub use ftp_proto::path::VirtualPath;
pub use ftp_proto::server::{
    FileKind, Metadata, Permissions, StorageError, StorageErrorKind, StoreMode,
};
pub use ftp_proto::Timestamp;

use crate::pool::BlockingPool;

mod cached_open;
mod dir_sync;
mod fs;
mod layer;
mod memory;
#[cfg(feature = "opendal")]
mod opendal;
pub(crate) mod writeback;

#[cfg(feature = "opendal")]
pub use self::opendal::{FolderMarker, OpenDalStorage, S3Config};
pub use fs::FsStorage;
pub use layer::StorageLayer;
pub use memory::MemStorage;

/// A boxed, `Send` future: what every back-end method returns.
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// Who is asking, and the tools a back end may use. Cheap to clone.
#[derive(Clone, Debug)]
pub struct StorageContext {
    user: Bytes,
    permissions: Permissions,
    session: u64,
    peer: Option<SocketAddr>,
    blocking: BlockingPool,
}

impl StorageContext {
    /// A context for `user` with these rights. The server builds these (with
    /// [`StorageContext::session`]); back ends and tests may too.
    pub fn new(user: impl Into<Bytes>, permissions: Permissions, blocking: BlockingPool) -> Self {
        Self {
            user: user.into(),
            permissions,
            session: 0,
            peer: None,
            blocking,
        }
    }

    /// The same context, for session number `session` of the client at `peer`.
    pub fn session(mut self, session: u64, peer: SocketAddr) -> Self {
        self.session = session;
        self.peer = Some(peer);
        self
    }

    /// The logged-in user's name.
    pub fn user(&self) -> &[u8] {
        &self.user
    }

    /// What the user may do. The session has already refused every command that needs a
    /// right the user lacks; back ends use it for the `perm` fact of listings
    /// ([`perm_fact`]).
    pub fn permissions(&self) -> Permissions {
        self.permissions
    }

    /// True when the user has no right that changes storage.
    pub fn read_only(&self) -> bool {
        !self.permissions.intersects(Permissions::ANY_WRITE)
    }

    /// The session's number (as in [`crate::SessionEvent::session`]); 0 outside a session.
    pub fn session_id(&self) -> u64 {
        self.session
    }

    /// The client's address (from the PROXY protocol header behind a load balancer); `None`
    /// outside a session.
    pub fn peer(&self) -> Option<SocketAddr> {
        self.peer
    }

    /// The pool for blocking calls ([`BlockingPool::unblock`]).
    pub fn blocking(&self) -> &BlockingPool {
        &self.blocking
    }
}

/// One entry of a directory listing.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DirEntry {
    /// The name inside the directory: one segment, never empty, `.` or `..`.
    pub name: Bytes,
    /// What the back end knows about it.
    pub metadata: Metadata,
}

/// The most entries the server asks one [`DirLister::next_batch`] call for. The `ls -l` columns
/// of a LIST are sized per batch, so a directory of up to this many entries lists exactly as
/// if it had been formatted whole.
pub const LIST_BATCH: usize = 1000;

/// A directory listing in progress, read in bounded batches so that a folder of any size lists
/// in bounded memory: the server formats each batch and writes it to the data connection
/// before it asks for the next.
pub trait DirLister: Send {
    /// The next entries, at most `max` of them (`max` is at least 1), in the back end's
    /// order; an empty batch means the listing is complete (and every later call returns
    /// an empty batch too). An error ends the listing (the client gets `451`).
    fn next_batch(&mut self, max: usize) -> BoxFuture<'_, Result<Vec<DirEntry>, StorageError>>;
}

/// A [`DirLister`] over entries already in memory, for back ends that hold them anyway and
/// for tests.
#[derive(Debug, Default)]
pub struct VecLister {
    entries: std::vec::IntoIter<DirEntry>,
}

impl VecLister {
    /// Lists `entries` in their order.
    pub fn new(entries: Vec<DirEntry>) -> Self {
        Self {
            entries: entries.into_iter(),
        }
    }
}

impl DirLister for VecLister {
    fn next_batch(&mut self, max: usize) -> BoxFuture<'_, Result<Vec<DirEntry>, StorageError>> {
        let batch = self.entries.by_ref().take(max.max(1)).collect();
        Box::pin(std::future::ready(Ok(batch)))
    }
}

/// What a back end can do beyond the operations every [`Storage`] has, for the server to
/// offer only what works: a command the back end cannot carry out is refused up front
/// (`502`) and left out of FEAT and HELP where the protocol can say so.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct StorageCapabilities {
    /// MFMT ([`Storage::set_modified`]) works: otherwise it is refused with `502` and FEAT
    /// does not list it.
    pub set_modified: bool,
    /// SITE CHMOD ([`Storage::chmod`]) works: otherwise it is refused with `502` and SITE
    /// HELP does not list it.
    pub chmod: bool,
    /// APPE ([`StoreMode::Append`]) works. Informational: FEAT has no entry for APPE, so a
    /// back end without it answers [`StorageErrorKind::Unsupported`] (`502`).
    pub append: bool,
    /// REST before STOR (an upload that keeps the first bytes of an existing file) works.
    /// Informational: FEAT's `REST STREAM` also covers resumed downloads, which every back end
    /// supports, so it stays listed; a back end without it answers
    /// [`StorageErrorKind::Unsupported`] (`502`).
    pub resume_upload: bool,
}

impl StorageCapabilities {
    /// Everything: what [`FsStorage`] and [`MemStorage`] can do, and the default.
    pub const ALL: Self = Self {
        set_modified: true,
        chmod: true,
        append: true,
        resume_upload: true,
    };
}

impl Default for StorageCapabilities {
    fn default() -> Self {
        Self::ALL
    }
}

/// An opened download.
pub struct Download {
    /// The bytes, from the requested offset on.
    pub reader: Box<dyn FileRead>,
    /// The size of the whole file, when known (shown in the 150 reply).
    pub size: Option<u64>,
}

/// An opened upload.
pub struct Upload {
    /// Where the bytes go.
    pub writer: Box<dyn FileWrite>,
    /// For [`StoreMode::Unique`]: the name chosen in the requested directory (one segment).
    pub stored_as: Option<Bytes>,
}

/// The source of a download, read in chunks into buffers the server owns.
pub trait FileRead: Send {
    /// Fills the front of `buf` (all of `buf.len()` is room) with the next bytes and returns
    /// the buffer with how many bytes it wrote; `0` means end of file. The buffer MUST come
    /// back (it is reused for the next chunk), also on error.
    fn read(&mut self, buf: Vec<u8>) -> BoxFuture<'_, (Vec<u8>, io::Result<usize>)>;

    /// The open file behind this reader, positioned at the next byte to send, for the server
    /// to send with `sendfile(2)` (zero copy) on plain binary downloads, **bypassing
    /// [`FileRead::read`]**: the server then reads the file to its end itself, and this
    /// reader sees none of the bytes. The default, `None`, keeps every byte going through
    /// `read`. A wrapper that counts, filters or logs bytes must not return the inner
    /// reader's file (see [`StorageLayer`]).
    fn bypass_file(&self) -> Option<&std::fs::File> {
        None
    }
}

/// The sink of an upload. Bytes become visible only in [`FileWrite::commit`].
pub trait FileWrite: Send {
    /// Writes all of `buf` and returns the buffer (it is reused), also on error.
    fn write(&mut self, buf: Vec<u8>) -> BoxFuture<'_, (Vec<u8>, io::Result<()>)>;

    /// The open file behind this writer, positioned where the next byte goes, for the
    /// server to copy plain binary uploads from the socket into (`splice(2)` on its blocking
    /// pool), **bypassing [`FileWrite::write`]**: this writer sees none of the bytes, and
    /// still gets `commit` or `abort`. The default, `None`, keeps every byte going through
    /// `write`. A wrapper that counts, filters or logs bytes must not return the inner
    /// writer's file (see [`StorageLayer`]).
    fn bypass_file(&self) -> Option<&std::fs::File> {
        None
    }

    /// Whether [`FileWrite::commit`] waits until the bytes are on disk (`fsync`), for a
    /// program or a layer that reports what a `226` promises. The default is `false`. A
    /// wrapper that forwards `bypass_file` forwards this too. (Whichever it says, the server
    /// copying into [`FileWrite::bypass_file`] asks the kernel after every megabyte to start
    /// writing out what has arrived, `sync_file_range(2)` on Linux: a commit's `fsync` then
    /// waits only for the last of it.)
    fn syncs_on_commit(&self) -> bool {
        false
    }

    /// Every byte has arrived: store them durably and make the file visible under its name.
    /// On error nothing claims to be complete.
    ///
    /// The server drops this future when the transfer is aborted meanwhile (ABOR, the
    /// session ending) and then goes on with the client's next commands. By the time the
    /// drop returns, the upload must be settled: either visible (every byte had arrived) or
    /// discarded, never made visible later, which would undo a DELE or RMD the client sends
    /// next. A back end that moves the work elsewhere (a thread pool) must make the drop wait
    /// for, or cancel, its last step.
    fn commit(self: Box<Self>) -> BoxFuture<'static, Result<(), StorageError>>;

    /// Writes `last`, the upload's final bytes (possibly none), then commits as
    /// [`FileWrite::commit`] does, with the same guarantees when the future is dropped. The
    /// server calls this, not `write` then `commit`, once the stream has ended. The default
    /// does exactly those two steps, so a wrapper that sees every byte through `write` may
    /// keep it; a back end that moves its work to a thread pool can do both in one trip there
    /// ([`FsStorage`] does).
    fn write_and_commit(
        mut self: Box<Self>,
        last: Vec<u8>,
    ) -> BoxFuture<'static, Result<(), StorageError>>
    where
        Self: 'static,
    {
        Box::pin(async move {
            if !last.is_empty() {
                if let (_, Err(e)) = self.write(last).await {
                    self.abort().await;
                    return Err(storage_error(&e));
                }
            }
            self.commit().await
        })
    }

    /// The upload failed or was aborted: discard what was written. Dropping the writer has the
    /// same effect (without waiting for it).
    fn abort(self: Box<Self>) -> BoxFuture<'static, ()>;
}

/// A storage back end. Every method is independent and may run concurrently with others (for
/// the same or other sessions); paths are already jailed ([`VirtualPath`]) and prefixed with
/// the user's home.
///
/// Errors are [`StorageError`]s: the session turns their kind into the reply code the command
/// calls for (550, 553, 452, ...), and their optional message into the reply text, so a message
/// must not reveal anything the client should not see (such as real paths).
pub trait Storage: Send + Sync + 'static {
    /// Describes `path` (following symbolic links that stay inside the storage).
    fn metadata(
        &self,
        cx: StorageContext,
        path: VirtualPath,
    ) -> BoxFuture<'_, Result<Metadata, StorageError>>;

    /// Starts listing the directory `path`: its entries, without `.` and `..`, come in
    /// batches from the returned [`DirLister`]. A missing directory gives
    /// [`StorageErrorKind::NotFound`] and a file [`StorageErrorKind::NotADirectory`] here, before
    /// any entry. Back ends should hold no more than a batch in memory at a time, or bound
    /// what they hold.
    fn list(
        &self,
        cx: StorageContext,
        path: VirtualPath,
    ) -> BoxFuture<'_, Result<Box<dyn DirLister>, StorageError>>;

    /// Opens the file `path` for reading from byte `offset` on. An offset past the end gives
    /// [`StorageErrorKind::InvalidOffset`]; a directory [`StorageErrorKind::IsADirectory`].
    fn open_read(
        &self,
        cx: StorageContext,
        path: VirtualPath,
        offset: u64,
    ) -> BoxFuture<'_, Result<Download, StorageError>>;

    /// Opens an upload: for [`StoreMode::Create`], the file `path`, keeping its first `offset`
    /// bytes (REST); for [`StoreMode::Append`], the file `path` with everything it holds; for
    /// [`StoreMode::Unique`], a new file with a fresh name inside the directory `path`.
    fn open_write(
        &self,
        cx: StorageContext,
        path: VirtualPath,
        mode: StoreMode,
        offset: u64,
    ) -> BoxFuture<'_, Result<Upload, StorageError>>;

    /// Deletes the file `path` (not a directory).
    fn delete(
        &self,
        cx: StorageContext,
        path: VirtualPath,
    ) -> BoxFuture<'_, Result<(), StorageError>>;

    /// Creates the directory `path` (its parent must exist).
    fn make_dir(
        &self,
        cx: StorageContext,
        path: VirtualPath,
    ) -> BoxFuture<'_, Result<(), StorageError>>;

    /// Removes the empty directory `path`.
    fn remove_dir(
        &self,
        cx: StorageContext,
        path: VirtualPath,
    ) -> BoxFuture<'_, Result<(), StorageError>>;

    /// Renames `from` to `to` (replacing a file at `to`).
    fn rename(
        &self,
        cx: StorageContext,
        from: VirtualPath,
        to: VirtualPath,
    ) -> BoxFuture<'_, Result<(), StorageError>>;

    /// What this back end can do beyond the required operations. The default,
    /// [`StorageCapabilities::ALL`], fits a back end that implements every method.
    fn capabilities(&self) -> StorageCapabilities {
        StorageCapabilities::ALL
    }

    /// Sets the modification time of `path` (MFMT). The default refuses with
    /// [`StorageErrorKind::Unsupported`].
    fn set_modified(
        &self,
        cx: StorageContext,
        path: VirtualPath,
        time: Timestamp,
    ) -> BoxFuture<'_, Result<(), StorageError>> {
        let _ = (cx, path, time);
        Box::pin(async { Err(StorageError::new(StorageErrorKind::Unsupported)) })
    }

    /// Sets the permission bits of `path` (SITE CHMOD). The default refuses with
    /// [`StorageErrorKind::Unsupported`].
    fn chmod(
        &self,
        cx: StorageContext,
        path: VirtualPath,
        mode: u32,
    ) -> BoxFuture<'_, Result<(), StorageError>> {
        let _ = (cx, path, mode);
        Box::pin(async { Err(StorageError::new(StorageErrorKind::Unsupported)) })
    }
}

/// The [`StorageError`] for an I/O error: its kind mapped to the closest
/// [`StorageErrorKind`], with the standard reply text (the OS message could reveal paths).
pub fn storage_error(error: &io::Error) -> StorageError {
    use io::ErrorKind as K;
    let kind = match error.kind() {
        K::NotFound => StorageErrorKind::NotFound,
        K::PermissionDenied | K::ReadOnlyFilesystem | K::DirectoryNotEmpty => {
            StorageErrorKind::PermissionDenied
        }
        K::AlreadyExists => StorageErrorKind::AlreadyExists,
        K::NotADirectory => StorageErrorKind::NotADirectory,
        K::IsADirectory => StorageErrorKind::IsADirectory,
        K::StorageFull => StorageErrorKind::InsufficientStorage,
        K::QuotaExceeded | K::FileTooLarge => StorageErrorKind::QuotaExceeded,
        K::InvalidInput => StorageErrorKind::InvalidName,
        K::ResourceBusy | K::WouldBlock => StorageErrorKind::Busy,
        K::Interrupted | K::TimedOut => StorageErrorKind::Transient,
        K::Unsupported => StorageErrorKind::Unsupported,
        _ => StorageErrorKind::Other,
    };
    StorageError::new(kind)
}

/// The `perm` fact (RFC 3659 §7.5.5) of a file or directory for a user with `rights`: the
/// letters of exactly what the session lets that user do with it. A directory: `c` (STOR
/// into it: write), `d` (RMD: rmdir), `e` (CWD: always), `f` (rename), `l` (list), `m` (MKD
/// in it: mkdir), `p` (DELE in it: delete). A file: `a` (APPE: append), `d` (DELE: delete),
/// `f` (rename), `r` (RETR: read), `w` (STOR: write).
pub fn perm_fact(kind: FileKind, rights: Permissions) -> String {
    let letters: &[(char, Permissions)] = match kind {
        FileKind::Dir => &[
            ('c', Permissions::WRITE),
            ('d', Permissions::RMDIR),
            ('e', Permissions::NONE),
            ('f', Permissions::RENAME),
            ('l', Permissions::LIST),
            ('m', Permissions::MKDIR),
            ('p', Permissions::DELETE),
        ],
        _ => &[
            ('a', Permissions::APPEND),
            ('d', Permissions::DELETE),
            ('f', Permissions::RENAME),
            ('r', Permissions::READ),
            ('w', Permissions::WRITE),
        ],
    };
    letters
        .iter()
        .filter(|(_, right)| rights.contains(*right))
        .map(|(letter, _)| *letter)
        .collect()
}

/// A timestamp from a system time, `None` when outside what [`Timestamp`] can hold.
pub(crate) fn timestamp(time: std::time::SystemTime) -> Option<Timestamp> {
    let secs = match time.duration_since(std::time::UNIX_EPOCH) {
        Ok(d) => i64::try_from(d.as_secs()).ok()?,
        Err(e) => -i64::try_from(e.duration().as_secs()).ok()?,
    };
    Timestamp::from_unix_seconds(secs).ok()
}

#[cfg(test)]
pub(crate) mod tests;
