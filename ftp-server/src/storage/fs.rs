//! [`FsStorage`]: a local directory, every path jailed below it.

use std::ffi::{OsStr, OsString};
use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::os::fd::OwnedFd;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use bytes::Bytes;

use super::cached_open;
use super::dir_sync::DirectorySyncs;
use super::writeback::{start_writeback, EarlyWriteback};
use super::{
    perm_fact, storage_error, timestamp, BoxFuture, DirEntry, DirLister, Download, FileKind,
    FileRead, FileWrite, Metadata, Permissions, Storage, StorageContext, StorageError,
    StorageErrorKind, StoreMode, Timestamp, Upload, VirtualPath,
};
use crate::pool::BlockingPool;

/// Uploads in progress are written to hidden files with this prefix in the target's directory;
/// listings leave them out.
pub(crate) const TEMP_PREFIX: &str = ".ftpd-upload-";

/// A directory of the local file system, with every path jailed below it.
///
/// # The jail
///
/// * Every [`VirtualPath`] is mapped below the root segment by segment; a virtual path has no
///   `..`, so only symbolic links could lead outside. Every existing path is canonicalised
///   (all symlinks resolved) and refused with `550` unless it is still below the root;
///   listings leave out symlinks that lead outside or nowhere, and no command reaches them
///   (DELE and RNFR included). Operations on a name itself (DELE, RNFR/RNTO, STOR replacing a
///   name) canonicalise the parent directory and act on the link, never on what it points to:
///   STOR onto a link replaces the link with a regular file.
/// * Only regular files are read or written: FIFOs, sockets and devices are refused.
/// * A download whose path the kernel has cached is opened with one `openat2(2)` call that
///   cannot resolve outside the root (see [`FsStorage::open_cached_files_inline`]); every
///   other case takes the canonicalising way above.
/// * The checks assume nobody swaps directories for symlinks *while* a request runs: FTP
///   clients cannot create symlinks, but a hostile local user with write access to the tree
///   could race them. Serve trees that only trusted local users can write.
///
/// # Uploads
///
/// Every upload (STOR, APPE, STOU) is written to a hidden temporary file
/// (`.ftpd-upload-…`) in the target's directory, `fsync`ed and renamed over the target only
/// after the last byte arrived; the server sends `226` only after that. A failed or aborted
/// upload removes the temporary file, so **no file that claims to be complete is ever partial**,
/// and the previous version of the file stays intact until the new one replaces it.
///
/// The price of that policy: resuming an upload (`REST n` + `STOR`) needs the first `n` bytes to
/// exist already in the target file; they are copied (in the kernel, `copy_file_range`) into
/// the new version before the received bytes are appended. The same holds for APPE, which
/// copies the existing file. Aborted uploads leave no partial file to resume from: a client
/// resumes from what it had uploaded completely before (for example a file it uploads in
/// parts with APPE).
///
/// While an upload arrives, the kernel is asked after every megabyte to start writing it to
/// disk (Linux, `sync_file_range(2)`), so the final `fsync` waits only for the last of it
/// rather than for the whole file (and an upload not synced is written out while it arrives,
/// where the kernel alone would wait 30 s). After the rename, the directory is `fsync`ed too,
/// so that a crash cannot undo the rename; uploads that finish together into one directory
/// share those syncs (see `storage/dir_sync.rs`).
///
/// With [`FsStorage::sync_uploads`]`(false)` the `fsync`s are skipped: `226` then means the
/// bytes are in the operating system's cache, not on disk.
#[derive(Clone, Debug)]
pub struct FsStorage {
    inner: Arc<Inner>,
}

#[derive(Clone, Debug)]
struct Inner {
    root: PathBuf,
    /// The root, open, for downloads opened without the blocking pool (`None`: always on
    /// the pool).
    root_fd: Option<Arc<OwnedFd>>,
    sync: bool,
    max_list_entries: usize,
}

impl FsStorage {
    /// Serves the directory `root` (resolved to its canonical path now). Fails if it is not an
    /// existing directory.
    pub fn new(root: impl AsRef<Path>) -> io::Result<Self> {
        let root = fs::canonicalize(root.as_ref())?;
        if !fs::metadata(&root)?.is_dir() {
            return Err(io::Error::new(
                io::ErrorKind::NotADirectory,
                "storage root is not a directory",
            ));
        }
        let root_fd = open_root(&root);
        Ok(Self {
            inner: Arc::new(Inner {
                root,
                root_fd,
                sync: true,
                max_list_entries: 100_000,
            }),
        })
    }

    /// Whether a download may open its file on the session's own thread when the kernel can
    /// do so from its caches, without waiting for a disk (Linux; default: yes): a small file's
    /// RETR then takes no trip to the blocking pool (see `storage/cached_open.rs`). Turn it
    /// off for a root on a network file system, where opening a file may ask the server even
    /// when its name is cached.
    pub fn open_cached_files_inline(mut self, enabled: bool) -> Self {
        let inner = Arc::make_mut(&mut self.inner);
        inner.root_fd = enabled.then(|| open_root(&inner.root)).flatten();
        self
    }

    /// Whether uploads are `fsync`ed before they are renamed into place (default: yes).
    pub fn sync_uploads(mut self, sync: bool) -> Self {
        Arc::make_mut(&mut self.inner).sync = sync;
        self
    }

    /// The most entries a listing returns (default 100 000); a larger directory is cut there.
    pub fn max_list_entries(mut self, max: usize) -> Self {
        Arc::make_mut(&mut self.inner).max_list_entries = max;
        self
    }

    /// The canonical root directory.
    pub fn root(&self) -> &Path {
        &self.inner.root
    }

    fn run<T, F>(&self, cx: &StorageContext, f: F) -> BoxFuture<'static, Result<T, StorageError>>
    where
        T: Send + 'static,
        F: FnOnce(&Inner) -> Result<T, StorageError> + Send + 'static,
    {
        let inner = Arc::clone(&self.inner);
        let blocking = cx.blocking().clone();
        Box::pin(async move {
            match blocking.unblock(move || f(&inner)).await {
                Ok(result) => result,
                Err(e) => Err(storage_error(&e)),
            }
        })
    }
}

/// A directory's `perm` letters for `rights` access, less `e` when this process may not
/// search it and `l` when it may not read it (access(2) with the process's own rights).
fn dir_perm_fact(path: &Path, rights: Permissions) -> String {
    use rustix::fs::{access, Access};
    let mut letters = perm_fact(FileKind::Dir, rights);
    if access(path, Access::EXEC_OK).is_err() {
        letters.retain(|c| c != 'e');
    }
    if access(path, Access::READ_OK).is_err() {
        letters.retain(|c| c != 'l');
    }
    letters
}

/// The root directory, open, for [`Inner::open_read_cached`]; `None` if it cannot be opened
/// (downloads then all take the blocking way).
fn open_root(root: &Path) -> Option<Arc<OwnedFd>> {
    File::open(root)
        .ok()
        .map(|dir| Arc::new(OwnedFd::from(dir)))
}

/// True for a path through an upload in progress (a hidden temporary file), which no
/// command reaches.
fn through_an_upload(path: &VirtualPath) -> bool {
    path.segments()
        .any(|segment| segment.starts_with(TEMP_PREFIX.as_bytes()))
}

fn io_err(e: io::Error) -> StorageError {
    storage_error(&e)
}

fn kind_err(kind: StorageErrorKind) -> StorageError {
    StorageError::new(kind)
}

impl Inner {
    /// The real path of `path`, without resolving anything.
    fn lexical(&self, path: &VirtualPath) -> PathBuf {
        let mut real = self.root.clone();
        for segment in path.segments() {
            real.push(OsStr::from_bytes(segment));
        }
        real
    }

    /// True when `real` (canonical) is the root or below it.
    fn inside(&self, real: &Path) -> bool {
        real.starts_with(&self.root)
    }

    /// The canonical real path of an existing `path`, refused when it leads outside the root.
    fn existing(&self, path: &VirtualPath) -> Result<PathBuf, StorageError> {
        if through_an_upload(path) {
            // Uploads in progress are nobody's business.
            return Err(kind_err(StorageErrorKind::NotFound));
        }
        let real = fs::canonicalize(self.lexical(path)).map_err(io_err)?;
        if self.inside(&real) {
            Ok(real)
        } else {
            Err(kind_err(StorageErrorKind::PermissionDenied))
        }
    }

    /// The canonical parent directory of `path` and its last name: for operations on the name
    /// itself (create, delete, rename). The root has no name and is refused.
    fn name_in_parent(&self, path: &VirtualPath) -> Result<(PathBuf, PathBuf), StorageError> {
        let (Some(parent), Some(name)) = (path.parent(), path.file_name()) else {
            return Err(kind_err(StorageErrorKind::PermissionDenied));
        };
        if name.starts_with(TEMP_PREFIX.as_bytes()) {
            return Err(kind_err(StorageErrorKind::InvalidName));
        }
        let dir = self.existing(&parent)?;
        if !fs::metadata(&dir).map_err(io_err)?.is_dir() {
            return Err(kind_err(StorageErrorKind::NotADirectory));
        }
        let full = dir.join(OsStr::from_bytes(name));
        Ok((dir, full))
    }

    /// The facts of the file at `path`. A directory's `perm` fact has `e` (CWD) and `l`
    /// (listing) only when this process may search and read it, so CWD into a folder it
    /// cannot enter is refused with 550, not accepted and failed later.
    fn metadata_of(&self, path: &Path, meta: &fs::Metadata, rights: Permissions) -> Metadata {
        let kind = if meta.is_file() {
            FileKind::File
        } else if meta.is_dir() {
            FileKind::Dir
        } else {
            FileKind::Other
        };
        let mut out = Metadata::new(kind);
        out.size = Some(meta.len());
        out.modified = meta.modified().ok().and_then(timestamp);
        out.perm = match kind {
            FileKind::Other => None,
            FileKind::Dir => Some(dir_perm_fact(path, rights)),
            kind => Some(perm_fact(kind, rights)),
        };
        out.unique = Some(format!("{:x}U{:x}", meta.dev(), meta.ino()));
        out.unix_mode = Some(meta.mode() & 0o7777);
        out
    }

    /// The names in the directory `path`, sorted, at most `max_list_entries` of them (hidden
    /// uploads left out): what a [`FsLister`] then describes a batch at a time.
    fn list_names(&self, path: &VirtualPath) -> Result<(PathBuf, Vec<OsString>), StorageError> {
        let dir = self.existing(path)?;
        if !fs::metadata(&dir).map_err(io_err)?.is_dir() {
            return Err(kind_err(StorageErrorKind::NotADirectory));
        }
        let mut names = Vec::new();
        for entry in fs::read_dir(&dir).map_err(io_err)? {
            if names.len() >= self.max_list_entries {
                break;
            }
            let Ok(entry) = entry else { continue };
            let name = entry.file_name();
            if !name.as_bytes().starts_with(TEMP_PREFIX.as_bytes()) {
                names.push(name);
            }
        }
        names.sort_unstable();
        Ok((dir, names))
    }

    /// The entry for `name` in the canonical directory `dir`; `None` for a name that vanished
    /// or a symlink leading outside the root or nowhere (hidden, like every command hides it).
    fn describe(&self, dir: &Path, name: &OsStr, rights: Permissions) -> Option<DirEntry> {
        let full = dir.join(name);
        let link = fs::symlink_metadata(&full).ok()?;
        if link.file_type().is_symlink() {
            match fs::canonicalize(&full) {
                Ok(target) if self.inside(&target) => {}
                _ => return None,
            }
        }
        let meta = fs::metadata(&full).ok()?;
        Some(DirEntry {
            name: Bytes::copy_from_slice(name.as_bytes()),
            metadata: self.metadata_of(&full, &meta, rights),
        })
    }

    /// [`Inner::open_read`] on the calling thread, when the kernel can do it from its caches
    /// (see `storage/cached_open.rs`); `None`: take the blocking way.
    fn open_read_cached(&self, path: &VirtualPath, offset: u64) -> Option<cached_open::Opened> {
        let root = self.root_fd.as_deref()?;
        if through_an_upload(path) {
            return None;
        }
        let relative = path.segments().collect::<Vec<_>>().join(&b'/');
        cached_open::open(root, &relative, offset, ReadAhead::MAX)
    }

    fn open_read(&self, path: &VirtualPath, offset: u64) -> Result<(File, u64), StorageError> {
        let real = self.existing(path)?;
        let meta = fs::metadata(&real).map_err(io_err)?;
        if meta.is_dir() {
            return Err(kind_err(StorageErrorKind::IsADirectory));
        }
        if !meta.is_file() {
            return Err(kind_err(StorageErrorKind::PermissionDenied));
        }
        let mut file = File::open(&real).map_err(io_err)?;
        let size = file.metadata().map_err(io_err)?.len();
        if offset > size {
            return Err(kind_err(StorageErrorKind::InvalidOffset));
        }
        if offset > 0 {
            file.seek(SeekFrom::Start(offset)).map_err(io_err)?;
        }
        Ok((file, size))
    }

    /// A new hidden temporary file in `dir`.
    fn temp_file(dir: &Path) -> Result<(File, PathBuf), StorageError> {
        static COUNTER: AtomicU64 = AtomicU64::new(0);
        for _ in 0..16 {
            let n = COUNTER.fetch_add(1, Ordering::Relaxed);
            let nanos = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.subsec_nanos());
            let name = format!("{TEMP_PREFIX}{}-{n}-{nanos:08x}", std::process::id());
            let path = dir.join(name);
            match OpenOptions::new().write(true).create_new(true).open(&path) {
                Ok(file) => return Ok((file, path)),
                Err(e) if e.kind() == io::ErrorKind::AlreadyExists => continue,
                Err(e) => return Err(io_err(e)),
            }
        }
        Err(kind_err(StorageErrorKind::Transient))
    }

    /// A regular file at `full` that an upload may replace or extend: `None` when nothing is
    /// there; an error for a directory or a special file.
    fn replaceable(full: &Path) -> Result<Option<fs::Metadata>, StorageError> {
        match fs::symlink_metadata(full) {
            Ok(meta) if meta.is_dir() => Err(kind_err(StorageErrorKind::IsADirectory)),
            Ok(meta) if meta.is_file() || meta.file_type().is_symlink() => Ok(Some(meta)),
            Ok(_) => Err(kind_err(StorageErrorKind::PermissionDenied)),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(io_err(e)),
        }
    }

    fn open_write(
        &self,
        path: &VirtualPath,
        mode: &StoreMode,
        offset: u64,
    ) -> Result<(FsWriter, Option<Bytes>), StorageError> {
        match mode {
            StoreMode::Unique { hint } => return self.open_unique(path, hint.as_deref()),
            StoreMode::Create | StoreMode::Append => {}
            _ => return Err(kind_err(StorageErrorKind::Unsupported)),
        }
        let (dir, full) = self.name_in_parent(path)?;
        let existing = Self::replaceable(&full)?;
        // How much of the existing file the new version starts with.
        let keep = match (mode, existing.is_some()) {
            (StoreMode::Append, true) => Some(u64::MAX),
            (StoreMode::Create, true) if offset > 0 => Some(offset),
            (StoreMode::Create, false) if offset > 0 => {
                return Err(kind_err(StorageErrorKind::InvalidOffset))
            }
            _ => None,
        };
        let (mut file, temp) = Self::temp_file(&dir)?;
        let writer = FsWriter::new(temp, full.clone(), None, self.sync);
        if let Some(keep) = keep {
            // Follow a symlink only if it stays inside the root.
            let source = fs::canonicalize(&full).map_err(io_err)?;
            if !self.inside(&source) {
                return Err(kind_err(StorageErrorKind::PermissionDenied));
            }
            let mut source = File::open(&source).map_err(io_err)?;
            let meta = source.metadata().map_err(io_err)?;
            if !meta.is_file() {
                return Err(kind_err(StorageErrorKind::PermissionDenied));
            }
            if keep != u64::MAX && keep > meta.len() {
                return Err(kind_err(StorageErrorKind::InvalidOffset));
            }
            io::copy(&mut (&mut source).take(keep), &mut file).map_err(io_err)?;
            let _ = file.set_permissions(meta.permissions());
            // The kept bytes are the first the disk should get.
            start_writeback(&file);
        }
        Ok((writer.with_file(file), None))
    }

    fn open_unique(
        &self,
        dir: &VirtualPath,
        hint: Option<&[u8]>,
    ) -> Result<(FsWriter, Option<Bytes>), StorageError> {
        let real_dir = self.existing(dir)?;
        if !fs::metadata(&real_dir).map_err(io_err)?.is_dir() {
            return Err(kind_err(StorageErrorKind::NotADirectory));
        }
        let base: &[u8] = match hint {
            Some(hint)
                if !hint.is_empty()
                    && !hint.contains(&b'/')
                    && !hint.contains(&0)
                    && hint != b"."
                    && hint != b".."
                    && !hint.starts_with(TEMP_PREFIX.as_bytes()) =>
            {
                hint
            }
            _ => b"upload",
        };
        for n in 0u32..1000 {
            let mut name = base.to_vec();
            if n > 0 {
                name.extend_from_slice(format!(".{n}").as_bytes());
            }
            let full = real_dir.join(OsStr::from_bytes(&name));
            // Reserve the name with an empty placeholder, replaced on commit.
            match OpenOptions::new().write(true).create_new(true).open(&full) {
                Ok(_) => {
                    let (file, temp) = match Self::temp_file(&real_dir) {
                        Ok(t) => t,
                        Err(e) => {
                            let _ = fs::remove_file(&full);
                            return Err(e);
                        }
                    };
                    let writer = FsWriter::new(temp, full.clone(), Some(full), self.sync);
                    return Ok((writer.with_file(file), Some(Bytes::from(name))));
                }
                Err(e) if e.kind() == io::ErrorKind::AlreadyExists => continue,
                Err(e) => return Err(io_err(e)),
            }
        }
        Err(kind_err(StorageErrorKind::AlreadyExists))
    }

    fn delete(&self, path: &VirtualPath) -> Result<(), StorageError> {
        let (_, full) = self.name_in_parent(path)?;
        let meta = fs::symlink_metadata(&full).map_err(io_err)?;
        if meta.is_dir() {
            return Err(kind_err(StorageErrorKind::IsADirectory));
        }
        if meta.file_type().is_symlink() {
            // Like every other command, DELE does not see links leading outside (or nowhere).
            self.existing(path)?;
        }
        fs::remove_file(&full).map_err(io_err)
    }

    fn make_dir(&self, path: &VirtualPath) -> Result<(), StorageError> {
        let (_, full) = self.name_in_parent(path)?;
        fs::create_dir(&full).map_err(io_err)
    }

    fn remove_dir(&self, path: &VirtualPath) -> Result<(), StorageError> {
        let (_, full) = self.name_in_parent(path)?;
        let meta = fs::symlink_metadata(&full).map_err(io_err)?;
        if !meta.is_dir() {
            return Err(kind_err(StorageErrorKind::NotADirectory));
        }
        fs::remove_dir(&full).map_err(io_err)
    }

    fn rename(&self, from: &VirtualPath, to: &VirtualPath) -> Result<(), StorageError> {
        if to.starts_with(from) && to != from {
            // A directory into itself.
            return Err(kind_err(StorageErrorKind::InvalidName));
        }
        let (_, from) = self.name_in_parent(from)?;
        let (_, to) = self.name_in_parent(to)?;
        fs::symlink_metadata(&from).map_err(io_err)?;
        if let Ok(meta) = fs::symlink_metadata(&to) {
            if meta.is_dir() {
                return Err(kind_err(StorageErrorKind::AlreadyExists));
            }
        }
        fs::rename(&from, &to).map_err(io_err)
    }

    fn set_modified(&self, path: &VirtualPath, time: Timestamp) -> Result<(), StorageError> {
        let real = self.existing(path)?;
        let secs = time.to_unix_seconds();
        let when = if secs >= 0 {
            std::time::UNIX_EPOCH + std::time::Duration::from_secs(secs.unsigned_abs())
        } else {
            std::time::UNIX_EPOCH - std::time::Duration::from_secs(secs.unsigned_abs())
        };
        let file = File::options().write(true).open(&real).map_err(io_err)?;
        file.set_modified(when).map_err(io_err)
    }

    fn chmod(&self, path: &VirtualPath, mode: u32) -> Result<(), StorageError> {
        let real = self.existing(path)?;
        fs::set_permissions(&real, fs::Permissions::from_mode(mode & 0o7777)).map_err(io_err)
    }
}

impl Storage for FsStorage {
    fn metadata(
        &self,
        cx: StorageContext,
        path: VirtualPath,
    ) -> BoxFuture<'_, Result<Metadata, StorageError>> {
        let rights = cx.permissions();
        self.run(&cx, move |inner| {
            let real = inner.existing(&path)?;
            let meta = fs::metadata(&real).map_err(io_err)?;
            Ok(inner.metadata_of(&real, &meta, rights))
        })
    }

    fn list(
        &self,
        cx: StorageContext,
        path: VirtualPath,
    ) -> BoxFuture<'_, Result<Box<dyn DirLister>, StorageError>> {
        let rights = cx.permissions();
        let blocking = cx.blocking().clone();
        let names = self.run(&cx, move |inner| inner.list_names(&path));
        let inner = Arc::clone(&self.inner);
        Box::pin(async move {
            let (dir, names) = names.await?;
            let lister = FsLister {
                inner,
                dir: Arc::new(dir),
                names: names.into_iter(),
                rights,
                blocking,
            };
            Ok(Box::new(lister) as Box<dyn DirLister>)
        })
    }

    fn open_read(
        &self,
        cx: StorageContext,
        path: VirtualPath,
        offset: u64,
    ) -> BoxFuture<'_, Result<Download, StorageError>> {
        let blocking = cx.blocking().clone();
        if let Some(opened) = self.inner.open_read_cached(&path, offset) {
            let ahead = opened
                .ahead
                .map(|(bytes, ended)| ReadAhead::new(bytes, ended));
            let download = FsReader::download(opened.file, opened.size, ahead, blocking);
            return Box::pin(std::future::ready(Ok(download)));
        }
        let open = self.run(&cx, move |inner| {
            let (mut file, size) = inner.open_read(&path, offset)?;
            let ahead =
                ReadAhead::of_small_file(&mut file, size.saturating_sub(offset)).map_err(io_err)?;
            Ok((Some(file), size, ahead))
        });
        Box::pin(async move {
            let (file, size, ahead) = open.await?;
            Ok(FsReader::download(file, size, ahead, blocking))
        })
    }

    fn open_write(
        &self,
        cx: StorageContext,
        path: VirtualPath,
        mode: StoreMode,
        offset: u64,
    ) -> BoxFuture<'_, Result<Upload, StorageError>> {
        let blocking = cx.blocking().clone();
        let open = self.run(&cx, move |inner| inner.open_write(&path, &mode, offset));
        Box::pin(async move {
            let (mut writer, stored_as) = open.await?;
            writer.blocking = Some(blocking);
            Ok(Upload {
                writer: Box::new(writer),
                stored_as,
            })
        })
    }

    fn delete(
        &self,
        cx: StorageContext,
        path: VirtualPath,
    ) -> BoxFuture<'_, Result<(), StorageError>> {
        self.run(&cx, move |inner| inner.delete(&path))
    }

    fn make_dir(
        &self,
        cx: StorageContext,
        path: VirtualPath,
    ) -> BoxFuture<'_, Result<(), StorageError>> {
        self.run(&cx, move |inner| inner.make_dir(&path))
    }

    fn remove_dir(
        &self,
        cx: StorageContext,
        path: VirtualPath,
    ) -> BoxFuture<'_, Result<(), StorageError>> {
        self.run(&cx, move |inner| inner.remove_dir(&path))
    }

    fn rename(
        &self,
        cx: StorageContext,
        from: VirtualPath,
        to: VirtualPath,
    ) -> BoxFuture<'_, Result<(), StorageError>> {
        self.run(&cx, move |inner| inner.rename(&from, &to))
    }

    fn set_modified(
        &self,
        cx: StorageContext,
        path: VirtualPath,
        time: Timestamp,
    ) -> BoxFuture<'_, Result<(), StorageError>> {
        self.run(&cx, move |inner| inner.set_modified(&path, time))
    }

    fn chmod(
        &self,
        cx: StorageContext,
        path: VirtualPath,
        mode: u32,
    ) -> BoxFuture<'_, Result<(), StorageError>> {
        self.run(&cx, move |inner| inner.chmod(&path, mode))
    }
}

/// A directory listed in name order: the names were read (and sorted) when the listing
/// started, at most [`FsStorage::max_list_entries`] of them; each batch is described
/// (`stat`) on the blocking pool when it is asked for, so a listing holds the names and one
/// batch of entries.
struct FsLister {
    inner: Arc<Inner>,
    dir: Arc<PathBuf>,
    names: std::vec::IntoIter<OsString>,
    rights: Permissions,
    blocking: BlockingPool,
}

impl DirLister for FsLister {
    /// Describes names until the batch has an entry or no name is left: names that describe
    /// to nothing (hidden links, files removed meanwhile) never end the listing early.
    fn next_batch(&mut self, max: usize) -> BoxFuture<'_, Result<Vec<DirEntry>, StorageError>> {
        Box::pin(async move {
            loop {
                let names: Vec<OsString> = self.names.by_ref().take(max.max(1)).collect();
                if names.is_empty() {
                    return Ok(Vec::new());
                }
                let (inner, dir) = (Arc::clone(&self.inner), Arc::clone(&self.dir));
                let rights = self.rights;
                let describe = move || -> Vec<DirEntry> {
                    names
                        .iter()
                        .filter_map(|name| inner.describe(&dir, name, rights))
                        .collect()
                };
                let batch = self.blocking.unblock(describe).await.map_err(io_err)?;
                if !batch.is_empty() {
                    return Ok(batch);
                }
            }
        })
    }
}

/// A file being read on the blocking pool, one chunk per call; a small file is read whole
/// when it is opened.
struct FsReader {
    /// `None` when [`FsReader::ahead`] holds the rest of the file, while a read runs on the
    /// pool, or after the pool lost it.
    file: Option<File>,
    blocking: BlockingPool,
    ahead: Option<ReadAhead>,
}

/// The bytes of a small file read on the pool trip that opened it, so that its download takes
/// one trip to the blocking pool instead of three (open, read, read to find the end): each
/// trip is two thread hand-offs, which cost more than reading a few KiB.
struct ReadAhead {
    bytes: Vec<u8>,
    /// How many of `bytes` were handed out.
    taken: usize,
    /// The file ended after `bytes` (it had not grown since it was opened).
    ended: bool,
}

impl ReadAhead {
    /// Files this small (bytes from the offset on) are read whole when opened.
    const MAX: u64 = 16 << 10;

    fn new(bytes: Vec<u8>, ended: bool) -> Self {
        Self {
            bytes,
            taken: 0,
            ended,
        }
    }

    /// Reads `file` to its end when `remaining` is at most [`ReadAhead::MAX`]; one byte more
    /// than `remaining` is asked for, so that a file that grew is noticed (and read on later).
    fn of_small_file(file: &mut File, remaining: u64) -> io::Result<Option<Self>> {
        if remaining > Self::MAX {
            return Ok(None);
        }
        let mut bytes = vec![0; remaining as usize + 1];
        let mut filled = 0;
        while filled < bytes.len() {
            match file.read(&mut bytes[filled..]) {
                Ok(0) => break,
                Ok(n) => filled += n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        let ended = filled < bytes.len();
        bytes.truncate(filled);
        Ok(Some(Self::new(bytes, ended)))
    }

    /// Copies the next bytes into `buf`; `None` when every byte was handed out and the file
    /// may have more.
    fn take(&mut self, buf: &mut [u8]) -> Option<usize> {
        let rest = &self.bytes[self.taken..];
        if rest.is_empty() && !self.ended {
            return None;
        }
        let n = rest.len().min(buf.len());
        buf[..n].copy_from_slice(&rest[..n]);
        self.taken += n;
        Some(n)
    }
}

impl FsReader {
    /// The download of `file` (of `size` bytes), with a small file's bytes already read; the
    /// file is closed at once when they are all it had.
    fn download(
        file: Option<File>,
        size: u64,
        ahead: Option<ReadAhead>,
        blocking: BlockingPool,
    ) -> Download {
        let file = file.filter(|_| !ahead.as_ref().is_some_and(|ahead| ahead.ended));
        let reader = Self {
            file,
            blocking,
            ahead,
        };
        Download {
            reader: Box::new(reader),
            size: Some(size),
        }
    }
}

impl FileRead for FsReader {
    fn read(&mut self, mut buf: Vec<u8>) -> BoxFuture<'_, (Vec<u8>, io::Result<usize>)> {
        if let Some(n) = self.ahead.as_mut().and_then(|ahead| ahead.take(&mut buf)) {
            return Box::pin(std::future::ready((buf, Ok(n))));
        }
        Box::pin(async move {
            let Some(mut file) = self.file.take() else {
                return (buf, Err(io::Error::other("file lost")));
            };
            let job = self
                .blocking
                .unblock(move || {
                    let result = file.read(&mut buf);
                    (file, buf, result)
                })
                .await;
            match job {
                Ok((file, buf, result)) => {
                    self.file = Some(file);
                    (buf, result)
                }
                Err(e) => (Vec::new(), Err(e)),
            }
        })
    }

    /// `None` once bytes were read ahead: the file's position is past them.
    fn bypass_file(&self) -> Option<&File> {
        match self.ahead {
            Some(_) => None,
            None => self.file.as_ref(),
        }
    }
}

/// An upload into a hidden temporary file, renamed over the target on commit.
struct FsWriter {
    file: Option<File>,
    temp: PathBuf,
    target: PathBuf,
    /// STOU's placeholder for the reserved name, removed when the upload fails.
    placeholder: Option<PathBuf>,
    sync: bool,
    /// Starts writeback as [`FileWrite::write`] goes.
    early: EarlyWriteback,
    blocking: Option<BlockingPool>,
    done: bool,
}

impl FsWriter {
    fn new(temp: PathBuf, target: PathBuf, placeholder: Option<PathBuf>, sync: bool) -> Self {
        Self {
            file: None,
            temp,
            target,
            placeholder,
            sync,
            early: EarlyWriteback::default(),
            blocking: None,
            done: false,
        }
    }

    fn with_file(mut self, file: File) -> Self {
        self.file = Some(file);
        self
    }

    fn discard(&mut self) {
        if !self.done {
            self.done = true;
            self.file = None;
            let _ = fs::remove_file(&self.temp);
            if let Some(placeholder) = &self.placeholder {
                let _ = fs::remove_file(placeholder);
            }
        }
    }

    /// Writes `last`, fsyncs (when enabled), then renames to make the upload visible, unless
    /// `gate` was closed first (the commit was dropped): then, as on any failure before the
    /// rename, the upload is discarded instead. When the directory's sync fails after the
    /// rename, the error is returned but the file stays: its bytes are on disk, only its name
    /// may not survive a crash, and nothing else is left to remove.
    fn finish(mut self, last: &[u8], gate: &CommitGate) -> Result<(), StorageError> {
        let result = (|| {
            let mut file = self
                .file
                .take()
                .ok_or_else(|| io::Error::other("file lost"))?;
            file.write_all(last)?;
            if self.sync {
                file.sync_all()?;
            }
            drop(file);
            if !gate.pass(|| fs::rename(&self.temp, &self.target))? {
                return Err(io::Error::from(io::ErrorKind::Interrupted));
            }
            // STOU's placeholder is the target, now replaced by the upload: a failure from
            // here on must not remove it.
            self.placeholder = None;
            if self.sync {
                if let Some(dir) = self.target.parent() {
                    DirectorySyncs::shared().sync(dir, |dir| File::open(dir)?.sync_all())?;
                }
            }
            io::Result::Ok(())
        })();
        match result {
            Ok(()) => {
                self.done = true;
                Ok(())
            }
            Err(e) => {
                self.discard();
                Err(io_err(e))
            }
        }
    }
}

/// Orders a commit's rename (on the blocking pool) against the drop of its future: whichever
/// comes first wins, and the drop returns only once the upload is settled: renamed, if the
/// rename won (it waits for a running rename), or its temporary file (and STOU placeholder)
/// removed. So an aborted upload leaves nothing behind by the time the server moves on to the
/// client's next command (an RMD of its directory, say).
#[derive(Clone)]
struct CommitGate {
    state: Arc<std::sync::Mutex<GateState>>,
    /// What the upload leaves until it is renamed.
    leftovers: Arc<[PathBuf]>,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum GateState {
    Open,
    Passed,
    Closed,
}

impl CommitGate {
    fn for_writer(writer: &FsWriter) -> Self {
        let leftovers = std::iter::once(writer.temp.clone())
            .chain(writer.placeholder.clone())
            .collect();
        Self {
            state: Arc::new(std::sync::Mutex::new(GateState::Open)),
            leftovers,
        }
    }

    /// Runs `step` unless the gate was closed; `Ok(false)` when it was.
    fn pass(&self, step: impl FnOnce() -> io::Result<()>) -> io::Result<bool> {
        let mut state = self.state.lock().unwrap_or_else(|e| e.into_inner());
        if *state == GateState::Closed {
            return Ok(false);
        }
        step()?;
        *state = GateState::Passed;
        Ok(true)
    }

    /// Closes the gate and removes the leftovers, unless the step already ran (waiting for a
    /// running step).
    fn close(&self) {
        let mut state = self.state.lock().unwrap_or_else(|e| e.into_inner());
        if *state == GateState::Open {
            *state = GateState::Closed;
            for path in self.leftovers.iter() {
                let _ = fs::remove_file(path);
            }
        }
    }
}

/// Closes its gate when the commit future is dropped. After a completed commit the gate has
/// passed or the upload was discarded already, and closing it does nothing.
struct CloseOnDrop(CommitGate);

impl Drop for CloseOnDrop {
    fn drop(&mut self) {
        self.0.close();
    }
}

impl Drop for FsWriter {
    fn drop(&mut self) {
        self.discard();
    }
}

fn blocking_of(writer: &FsWriter) -> BlockingPool {
    writer
        .blocking
        .clone()
        .unwrap_or_else(BlockingPool::thread_per_job)
}

impl FileWrite for FsWriter {
    fn write(&mut self, buf: Vec<u8>) -> BoxFuture<'_, (Vec<u8>, io::Result<()>)> {
        Box::pin(async move {
            let Some(mut file) = self.file.take() else {
                return (buf, Err(io::Error::other("file lost")));
            };
            let writeback = self.early.due(buf.len());
            let job = blocking_of(self)
                .unblock(move || {
                    let result = file.write_all(&buf);
                    if writeback && result.is_ok() {
                        start_writeback(&file);
                    }
                    (file, buf, result)
                })
                .await;
            match job {
                Ok((file, buf, result)) => {
                    self.file = Some(file);
                    (buf, result)
                }
                Err(e) => (Vec::new(), Err(e)),
            }
        })
    }

    fn bypass_file(&self) -> Option<&File> {
        self.file.as_ref()
    }

    fn syncs_on_commit(&self) -> bool {
        self.sync
    }

    fn commit(self: Box<Self>) -> BoxFuture<'static, Result<(), StorageError>> {
        self.write_and_commit(Vec::new())
    }

    /// The last bytes, the fsync and the rename in one job on the blocking pool: a small
    /// upload's last write costs no trip of its own.
    fn write_and_commit(
        self: Box<Self>,
        last: Vec<u8>,
    ) -> BoxFuture<'static, Result<(), StorageError>> {
        let blocking = blocking_of(&self);
        let gate = CommitGate::for_writer(&self);
        let on_drop = CloseOnDrop(gate.clone());
        Box::pin(async move {
            let result = match blocking.unblock(move || self.finish(&last, &gate)).await {
                Ok(result) => result,
                Err(e) => Err(io_err(e)),
            };
            drop(on_drop);
            result
        })
    }

    /// Removes the temporary file at once (one unlink), so the upload is settled even if the
    /// returned future is never awaited.
    fn abort(self: Box<Self>) -> BoxFuture<'static, ()> {
        drop(self);
        Box::pin(async {})
    }
}
