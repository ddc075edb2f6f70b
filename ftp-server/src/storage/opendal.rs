//! [`OpenDalStorage`]: an object store (S3 or any other Apache OpenDAL service) as storage.

use std::future::Future;
use std::io;
use std::sync::{Arc, Condvar, Mutex};
use std::time::Duration;

use bytes::Bytes;
use futures_lite::StreamExt;
use opendal::{ErrorKind as DalKind, Operator};

use super::{
    perm_fact, timestamp, BoxFuture, DirEntry, DirLister, Download, FileKind, FileRead, FileWrite,
    Metadata, Permissions, Storage, StorageCapabilities, StorageContext, StorageError,
    StorageErrorKind, StoreMode, Upload, VirtualPath,
};

/// How long the drop of a commit waits for an object-store commit already under way (see
/// [`FileWrite::commit`]); past it the drop returns and the upload may still appear.
const COMMIT_SETTLE: Duration = Duration::from_secs(60);

/// Chunks of a download that may wait between the object store and the data connection.
const READ_AHEAD: usize = 16;

/// An object store, through an [`opendal::Operator`], as FTP storage: any OpenDAL service
/// works (S3 and S3-compatible stores, GCS, Azure Blob, ...), given the feature that builds
/// it. [`OpenDalStorage::s3`] builds one for S3.
///
/// # Runtime
///
/// OpenDAL's HTTP client runs on tokio. Every call to the store runs as a task on a tokio
/// runtime, and only its result crosses back, so the FTP server may run on tokio or on
/// async-io/smol alike. [`OpenDalStorage::new`] starts a small runtime of its own (two
/// worker threads) for that; [`OpenDalStorage::with_runtime`] uses the application's (a
/// multi-thread runtime: see Uploads).
///
/// # A flat store seen as folders
///
/// A path `/a/b` is the object `a/b` below the operator's root; a folder is a key prefix
/// `a/`. Where that differs from a disk:
///
/// * **Folders.** MKD writes a folder marker (see [`FolderMarker`]: by default the empty object
///   `name/`, as S3 consoles do), so empty folders exist and list. A folder also exists while
///   any object lies below it, marker or not. RMD removes the marker of an empty folder and
///   refuses a folder with anything in it (`550`).
/// * **Rename is copy + delete.** RNFR/RNTO of a file copies it to the new key, then deletes
///   the old one; of a folder, copies then deletes every object below it, one at a time. It is
///   **not atomic**: a failure midway leaves both names (holding the same bytes), and
///   a client listing meanwhile sees the copy grow. The store's copy limit applies (5 GiB
///   per object on S3).
/// * **No append, no resumed upload.** APPE and REST before STOR would need to rewrite the
///   object from its first byte; they are refused with `502` ([`StorageErrorKind::Unsupported`])
///   and [`Storage::capabilities`] says so. Resumed downloads (REST before RETR) work: they are
///   ranged reads.
/// * **No MFMT, no SITE CHMOD.** Objects have no settable modification time or mode: both are
///   refused with `502` and left out of FEAT and SITE HELP. Listings show the store's last
///   modified time and size; folders have neither.
/// * **STOU** picks a name that is free when it looks; two uploads racing for the same name
///   can both pick it (the store has no way to reserve a name before the bytes arrive).
///
/// # Uploads
///
/// An upload streams to the store as it arrives, as a multipart upload in parts of
/// [`OpenDalStorage::part_size`] (8 MiB by default: the memory an upload holds) or, when
/// smaller than one part, a single write at commit. Nothing is visible under the name before
/// [`FileWrite::commit`] completes the upload, which happens before the server sends `226`.
/// An aborted, failed or dropped upload aborts the multipart upload, so it leaves nothing. A
/// commit whose future is dropped (ABOR during the final step) either stops before the store
/// was asked to complete the upload (and aborts it) or, if that request is under way, waits
/// for its answer (at most a minute) before the drop returns, so the client's next command
/// sees the upload settled. That wait blocks the dropping thread while a runtime thread
/// finishes the request: hence a multi-thread runtime.
///
/// # Listings
///
/// Listings are read page by page from the store as the data connection takes them, never
/// whole; entries come in the store's key order.
#[derive(Clone)]
#[cfg_attr(docsrs, doc(cfg(feature = "opendal")))]
pub struct OpenDalStorage {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for OpenDalStorage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OpenDalStorage")
            .field("operator", &self.inner.op.info().scheme())
            .field("part_size", &self.inner.part_size)
            .finish_non_exhaustive()
    }
}

struct Inner {
    op: Operator,
    rt: Runtime,
    part_size: usize,
    marker: FolderMarker,
}

/// How MKD marks an empty folder in a flat store. A folder with a `name/` object exists
/// whichever kind is written; the hidden object is known (and left out of listings) only
/// when it is the kind written.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
#[cfg_attr(docsrs, doc(cfg(feature = "opendal")))]
pub enum FolderMarker {
    /// An empty object named like the folder with a trailing slash (`name/`): the S3
    /// convention, which S3 consoles and most tools read as a folder.
    #[default]
    TrailingSlash,
    /// An empty object of this name inside the folder (`name/.folder`), never listed, and a
    /// name no upload or rename may take (`553`): for stores that keep objects as files and so
    /// cannot hold `name/` beside `name/file` (s3s-fs, stores over a local disk).
    Object(String),
}

/// The tokio runtime the store's calls run on.
enum Runtime {
    /// Started by [`OpenDalStorage::new`]; shut down in the background when the last clone
    /// goes, so dropping the storage inside an async context does not panic.
    Owned(Option<tokio::runtime::Runtime>),
    Handle(tokio::runtime::Handle),
}

impl Runtime {
    fn handle(&self) -> &tokio::runtime::Handle {
        match self {
            Self::Owned(rt) => rt.as_ref().expect("present until dropped").handle(),
            Self::Handle(handle) => handle,
        }
    }
}

impl Drop for Runtime {
    fn drop(&mut self) {
        if let Self::Owned(rt) = self {
            if let Some(rt) = rt.take() {
                rt.shutdown_background();
            }
        }
    }
}

/// Where an S3 bucket is and how to sign requests to it, for [`OpenDalStorage::s3`].
#[derive(Clone, Debug, Default)]
#[cfg_attr(docsrs, doc(cfg(feature = "opendal")))]
pub struct S3Config {
    /// The bucket.
    pub bucket: String,
    /// The key prefix served as `/` (no leading or trailing `/` needed); empty for the whole
    /// bucket.
    pub prefix: String,
    /// The endpoint URL (`https://s3.eu-west-1.amazonaws.com`, or an S3-compatible server's).
    /// `None`: AWS's, from the region.
    pub endpoint: Option<String>,
    /// The region (`us-east-1` when `None`).
    pub region: Option<String>,
    /// The access key id.
    pub access_key_id: String,
    /// The secret access key.
    pub secret_access_key: String,
}

impl S3Config {
    /// The configuration in the environment variables the AWS tools read:
    /// `AWS_ENDPOINT_URL` (optional), `AWS_REGION` (optional), `AWS_ACCESS_KEY_ID` and
    /// `AWS_SECRET_ACCESS_KEY` (required), for `bucket` and `prefix`.
    pub fn from_env(bucket: &str, prefix: &str) -> io::Result<Self> {
        let var = |name: &str| std::env::var(name).ok().filter(|v| !v.is_empty());
        let required = |name: &str| {
            var(name).ok_or_else(|| {
                io::Error::new(io::ErrorKind::InvalidInput, format!("{name} is not set"))
            })
        };
        Ok(Self {
            bucket: bucket.to_owned(),
            prefix: prefix.to_owned(),
            endpoint: var("AWS_ENDPOINT_URL"),
            region: var("AWS_REGION"),
            access_key_id: required("AWS_ACCESS_KEY_ID")?,
            secret_access_key: required("AWS_SECRET_ACCESS_KEY")?,
        })
    }

    /// An OpenDAL operator for this bucket (path-style requests, no credentials but these).
    /// Installs rustls's aws-lc-rs provider as the process default first if none is installed:
    /// OpenDAL's HTTP client takes the process default for HTTPS.
    pub fn operator(&self) -> io::Result<Operator> {
        let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
        let mut builder = opendal::services::S3::default()
            .bucket(&self.bucket)
            .root(&format!("/{}", self.prefix.trim_matches('/')))
            .region(self.region.as_deref().unwrap_or("us-east-1"))
            .access_key_id(&self.access_key_id)
            .secret_access_key(&self.secret_access_key)
            .disable_config_load()
            .disable_ec2_metadata();
        if let Some(endpoint) = &self.endpoint {
            builder = builder.endpoint(endpoint);
        }
        Ok(Operator::new(builder).map_err(io::Error::other)?.finish())
    }
}

fn err(kind: StorageErrorKind) -> StorageError {
    StorageError::new(kind)
}

/// The [`StorageError`] for a store error; the store's own message (which names keys and the
/// bucket) goes to the log only.
fn dal_err(e: &opendal::Error) -> StorageError {
    let kind = match e.kind() {
        DalKind::NotFound => StorageErrorKind::NotFound,
        DalKind::PermissionDenied => StorageErrorKind::PermissionDenied,
        DalKind::AlreadyExists | DalKind::ConditionNotMatch => StorageErrorKind::AlreadyExists,
        DalKind::IsADirectory => StorageErrorKind::IsADirectory,
        DalKind::NotADirectory => StorageErrorKind::NotADirectory,
        DalKind::RangeNotSatisfied => StorageErrorKind::InvalidOffset,
        DalKind::RateLimited => StorageErrorKind::Busy,
        DalKind::Unsupported => StorageErrorKind::Unsupported,
        _ if e.is_temporary() => StorageErrorKind::Transient,
        _ => StorageErrorKind::Other,
    };
    if kind != StorageErrorKind::NotFound {
        tracing::warn!(error = %e, "object store request failed");
    }
    err(kind)
}

/// The object key of a file path (`/a/b` → `a/b`); the root has none.
fn file_key(path: &VirtualPath) -> Option<String> {
    let key = path_string(path)?;
    (!key.is_empty()).then_some(key)
}

/// The key prefix of a folder path (`/a/b` → `a/b/`, `/` → `/`, OpenDAL's root).
fn dir_key(path: &VirtualPath) -> Option<String> {
    let key = path_string(path)?;
    Some(if key.is_empty() {
        "/".to_owned()
    } else {
        key + "/"
    })
}

/// Keys are UTF-8: a path that is not cannot name an object.
fn path_string(path: &VirtualPath) -> Option<String> {
    let segments: Option<Vec<&str>> = path
        .segments()
        .map(|s| std::str::from_utf8(s).ok())
        .collect();
    Some(segments?.join("/"))
}

fn keys(path: &VirtualPath) -> Result<(String, String), StorageError> {
    match (file_key(path), dir_key(path)) {
        (Some(file), Some(dir)) => Ok((file, dir)),
        (None, Some(_)) => Err(err(StorageErrorKind::PermissionDenied)),
        _ => Err(err(StorageErrorKind::InvalidName)),
    }
}

fn file_perm(rights: Permissions) -> String {
    // No `a`: APPE is not supported.
    perm_fact(FileKind::File, rights.without(Permissions::APPEND))
}

fn file_metadata(meta: &opendal::Metadata, rights: Permissions) -> Metadata {
    let mut out = Metadata::new(FileKind::File);
    out.size = Some(meta.content_length());
    out.modified = meta
        .last_modified()
        .and_then(|t| timestamp(std::time::SystemTime::from(t)));
    out.perm = Some(file_perm(rights));
    out
}

fn dir_metadata(rights: Permissions) -> Metadata {
    let mut out = Metadata::new(FileKind::Dir);
    out.perm = Some(perm_fact(FileKind::Dir, rights));
    out
}

impl OpenDalStorage {
    /// Serves `operator`'s root, running the store's calls on a runtime of its own (two
    /// worker threads).
    pub fn new(operator: Operator) -> io::Result<Self> {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name("ftp-opendal")
            .enable_all()
            .build()?;
        Ok(Self::build(operator, Runtime::Owned(Some(rt))))
    }

    /// Serves `operator`'s root, running the store's calls on the multi-thread tokio runtime
    /// of `handle`.
    pub fn with_runtime(operator: Operator, handle: tokio::runtime::Handle) -> Self {
        Self::build(operator, Runtime::Handle(handle))
    }

    /// Serves an S3 bucket (see [`S3Config`]) on a runtime of its own.
    pub fn s3(config: &S3Config) -> io::Result<Self> {
        Self::new(config.operator()?)
    }

    fn build(op: Operator, rt: Runtime) -> Self {
        Self {
            inner: Arc::new(Inner {
                op,
                rt,
                part_size: 8 << 20,
                marker: FolderMarker::default(),
            }),
        }
    }

    /// The size of an upload's parts (default 8 MiB, at least 5 MiB: S3's least part size):
    /// what each upload holds in memory before it sends a part. Set it (like
    /// [`OpenDalStorage::folder_marker`]) before cloning the storage: clones share it.
    pub fn part_size(mut self, bytes: usize) -> Self {
        if let Some(inner) = Arc::get_mut(&mut self.inner) {
            inner.part_size = bytes.max(5 << 20);
        }
        self
    }

    /// How MKD marks empty folders (default [`FolderMarker::TrailingSlash`]).
    pub fn folder_marker(mut self, marker: FolderMarker) -> Self {
        if let Some(inner) = Arc::get_mut(&mut self.inner) {
            inner.marker = marker;
        }
        self
    }

    /// The operator, for what this back end does not do.
    pub fn operator(&self) -> &Operator {
        &self.inner.op
    }

    /// Runs `task` on the store's runtime; its result comes back to whichever executor awaits.
    fn run<T, F>(&self, task: F) -> BoxFuture<'static, Result<T, StorageError>>
    where
        T: Send + 'static,
        F: Future<Output = Result<T, StorageError>> + Send + 'static,
    {
        let handle = self.inner.rt.handle().spawn(task);
        Box::pin(async move {
            match handle.await {
                Ok(result) => result,
                Err(_) => Err(err(StorageErrorKind::Other)),
            }
        })
    }
}

impl FolderMarker {
    /// The name of the hidden marker object, if that is the kind.
    fn hidden(&self) -> Option<&str> {
        match self {
            Self::TrailingSlash => None,
            Self::Object(name) => Some(name),
        }
    }

    /// True when `path` names a hidden marker: no upload or rename may use that name.
    fn is_marker(&self, path: &VirtualPath) -> bool {
        self.hidden()
            .is_some_and(|name| path.file_name() == Some(name.as_bytes()))
    }

    /// Writes the marker of the folder prefix `dir`.
    async fn write(&self, op: &Operator, dir: &str) -> Result<(), StorageError> {
        let result = match self {
            Self::TrailingSlash => op.create_dir(dir).await,
            Self::Object(name) => op
                .write(&format!("{dir}{name}"), Bytes::new())
                .await
                .map(drop),
        };
        result.map_err(|e| dal_err(&e))
    }

    /// Removes the marker of the folder prefix `dir` (removing a missing one succeeds).
    async fn remove(&self, op: &Operator, dir: &str) -> Result<(), StorageError> {
        let result = match self {
            Self::TrailingSlash => op.delete(dir).await,
            Self::Object(name) => op.delete(&format!("{dir}{name}")).await,
        };
        result.map_err(|e| dal_err(&e))
    }
}

/// What a path is in the store.
enum Found {
    File(Box<opendal::Metadata>),
    Dir,
    Nothing,
}

/// True when the folder prefix `dir` (ending in `/`, or `/` itself) holds anything, its
/// marker included.
async fn dir_exists(op: &Operator, dir: &str) -> Result<bool, StorageError> {
    if dir == "/" {
        return Ok(true);
    }
    // The folder marker first (one HEAD), then anything below it.
    match op.stat(dir).await {
        Ok(_) => return Ok(true),
        Err(e) if e.kind() == DalKind::NotFound => {}
        Err(e) => return Err(dal_err(&e)),
    }
    let mut lister = op
        .lister_with(dir)
        .limit(2)
        .await
        .map_err(|e| dal_err(&e))?;
    match lister.next().await {
        Some(Ok(_)) => Ok(true),
        Some(Err(e)) => Err(dal_err(&e)),
        None => Ok(false),
    }
}

/// True when the folder prefix `dir` holds anything but its marker.
async fn dir_has_children(
    op: &Operator,
    dir: &str,
    marker: &FolderMarker,
) -> Result<bool, StorageError> {
    let mut lister = op
        .lister_with(dir)
        .limit(3)
        .await
        .map_err(|e| dal_err(&e))?;
    while let Some(entry) = lister.next().await {
        let entry = entry.map_err(|e| dal_err(&e))?;
        let rest = entry.path().strip_prefix(dir).unwrap_or(entry.path());
        if !rest.is_empty() && Some(rest) != marker.hidden() {
            return Ok(true);
        }
    }
    Ok(false)
}

async fn find(op: &Operator, path: &VirtualPath) -> Result<Found, StorageError> {
    let Some(dir) = dir_key(path) else {
        return Ok(Found::Nothing);
    };
    let Some(file) = file_key(path) else {
        return Ok(Found::Dir);
    };
    // A store that keeps objects as files may fail (500) to describe `a` while a folder `a/`
    // is on its disk (s3s-fs does, even once the folder is empty): the folder check decides.
    // It fails too when the store is unreachable; when it answers, its answer stands.
    match op.stat(&file).await {
        Ok(meta) if meta.is_file() => return Ok(Found::File(Box::new(meta))),
        Ok(_) => {}
        Err(e) if e.kind() == DalKind::NotFound => {}
        Err(e) => tracing::debug!(error = %e, "describing an object failed; trying a folder"),
    }
    Ok(if dir_exists(op, &dir).await? {
        Found::Dir
    } else {
        Found::Nothing
    })
}

/// Fails unless the parent folder of `path` exists.
async fn parent_must_exist(op: &Operator, path: &VirtualPath) -> Result<(), StorageError> {
    let parent = path
        .parent()
        .ok_or_else(|| err(StorageErrorKind::PermissionDenied))?;
    match find(op, &parent).await? {
        Found::Dir => Ok(()),
        Found::File(_) => Err(err(StorageErrorKind::NotADirectory)),
        Found::Nothing => Err(err(StorageErrorKind::NotFound)),
    }
}

impl Storage for OpenDalStorage {
    fn metadata(
        &self,
        cx: StorageContext,
        path: VirtualPath,
    ) -> BoxFuture<'_, Result<Metadata, StorageError>> {
        let op = self.inner.op.clone();
        self.run(async move {
            match find(&op, &path).await? {
                Found::File(meta) => Ok(file_metadata(&meta, cx.permissions())),
                Found::Dir => Ok(dir_metadata(cx.permissions())),
                Found::Nothing => Err(err(StorageErrorKind::NotFound)),
            }
        })
    }

    fn list(
        &self,
        cx: StorageContext,
        path: VirtualPath,
    ) -> BoxFuture<'_, Result<Box<dyn DirLister>, StorageError>> {
        let op = self.inner.op.clone();
        let storage = self.clone();
        let start = self.run(async move {
            let dir = dir_key(&path).ok_or_else(|| err(StorageErrorKind::InvalidName))?;
            match find(&op, &path).await? {
                Found::Dir => {}
                Found::File(_) => return Err(err(StorageErrorKind::NotADirectory)),
                Found::Nothing => return Err(err(StorageErrorKind::NotFound)),
            }
            let lister = op.lister(&dir).await.map_err(|e| dal_err(&e))?;
            Ok((lister, dir))
        });
        Box::pin(async move {
            let (lister, dir) = start.await?;
            let hidden = storage.inner.marker.hidden().map(str::to_owned);
            let lister = DalLister {
                storage,
                lister: Some(lister),
                dir,
                hidden,
                rights: cx.permissions(),
            };
            Ok(Box::new(lister) as Box<dyn DirLister>)
        })
    }

    fn open_read(
        &self,
        _cx: StorageContext,
        path: VirtualPath,
        offset: u64,
    ) -> BoxFuture<'_, Result<Download, StorageError>> {
        let op = self.inner.op.clone();
        let handle = self.inner.rt.handle().clone();
        let open = self.run(async move {
            let size = match find(&op, &path).await? {
                Found::File(meta) => meta.content_length(),
                Found::Dir => return Err(err(StorageErrorKind::IsADirectory)),
                Found::Nothing => return Err(err(StorageErrorKind::NotFound)),
            };
            if offset > size {
                return Err(err(StorageErrorKind::InvalidOffset));
            }
            let (tx, rx) = async_channel::bounded(READ_AHEAD);
            if offset < size {
                let key = file_key(&path).ok_or_else(|| err(StorageErrorKind::IsADirectory))?;
                let reader = op.reader(&key).await.map_err(|e| dal_err(&e))?;
                let stream = reader
                    .into_bytes_stream(offset..size)
                    .await
                    .map_err(|e| dal_err(&e))?;
                handle.spawn(pump(stream, tx));
            }
            Ok((size, rx))
        });
        Box::pin(async move {
            let (size, chunks) = open.await?;
            Ok(Download {
                reader: Box::new(DalReader {
                    chunks,
                    current: Bytes::new(),
                    failed: None,
                }),
                size: Some(size),
            })
        })
    }

    fn open_write(
        &self,
        _cx: StorageContext,
        path: VirtualPath,
        mode: StoreMode,
        offset: u64,
    ) -> BoxFuture<'_, Result<Upload, StorageError>> {
        let op = self.inner.op.clone();
        let part_size = self.inner.part_size;
        let handle = self.inner.rt.handle().clone();
        let marker = self.inner.marker.clone();
        self.run(async move {
            if marker.is_marker(&path) {
                return Err(err(StorageErrorKind::InvalidName));
            }
            let (target, stored_as) = match mode {
                StoreMode::Create if offset > 0 => {
                    return Err(StorageError::with_message(
                        StorageErrorKind::Unsupported,
                        "This object store cannot resume uploads; send the whole file.",
                    ))
                }
                StoreMode::Create => {
                    parent_must_exist(&op, &path).await?;
                    match find(&op, &path).await? {
                        Found::Dir => return Err(err(StorageErrorKind::IsADirectory)),
                        Found::File(_) | Found::Nothing => (path, None),
                    }
                }
                StoreMode::Unique { hint } => unique_name(&op, path, hint).await?,
                _ => {
                    return Err(StorageError::with_message(
                        StorageErrorKind::Unsupported,
                        "This object store cannot append to files.",
                    ))
                }
            };
            let key = file_key(&target).ok_or_else(|| err(StorageErrorKind::IsADirectory))?;
            let writer = op
                .writer_with(&key)
                .chunk(part_size)
                .await
                .map_err(|e| dal_err(&e))?;
            let writer = DalWriter::start(writer, &handle);
            Ok(Upload {
                writer: Box::new(writer),
                stored_as,
            })
        })
    }

    fn delete(
        &self,
        _cx: StorageContext,
        path: VirtualPath,
    ) -> BoxFuture<'_, Result<(), StorageError>> {
        let op = self.inner.op.clone();
        self.run(async move {
            let (file, _) = keys(&path)?;
            match find(&op, &path).await? {
                Found::File(_) => op.delete(&file).await.map_err(|e| dal_err(&e)),
                Found::Dir => Err(err(StorageErrorKind::IsADirectory)),
                Found::Nothing => Err(err(StorageErrorKind::NotFound)),
            }
        })
    }

    fn make_dir(
        &self,
        _cx: StorageContext,
        path: VirtualPath,
    ) -> BoxFuture<'_, Result<(), StorageError>> {
        let op = self.inner.op.clone();
        let marker = self.inner.marker.clone();
        self.run(async move {
            let (_, dir) = keys(&path)?;
            parent_must_exist(&op, &path).await?;
            match find(&op, &path).await? {
                Found::Nothing => marker.write(&op, &dir).await,
                Found::File(_) | Found::Dir => Err(err(StorageErrorKind::AlreadyExists)),
            }
        })
    }

    fn remove_dir(
        &self,
        _cx: StorageContext,
        path: VirtualPath,
    ) -> BoxFuture<'_, Result<(), StorageError>> {
        let op = self.inner.op.clone();
        let marker = self.inner.marker.clone();
        self.run(async move {
            let (_, dir) = keys(&path)?;
            match find(&op, &path).await? {
                Found::Dir if dir_has_children(&op, &dir, &marker).await? => {
                    Err(err(StorageErrorKind::PermissionDenied))
                }
                Found::Dir => {
                    // Whichever kind of marker the folder has.
                    op.delete(&dir).await.map_err(|e| dal_err(&e))?;
                    marker.remove(&op, &dir).await
                }
                Found::File(_) => Err(err(StorageErrorKind::NotADirectory)),
                Found::Nothing => Err(err(StorageErrorKind::NotFound)),
            }
        })
    }

    fn rename(
        &self,
        _cx: StorageContext,
        from: VirtualPath,
        to: VirtualPath,
    ) -> BoxFuture<'_, Result<(), StorageError>> {
        let op = self.inner.op.clone();
        let marker = self.inner.marker.clone();
        self.run(async move {
            if to.starts_with(&from) && to != from {
                return Err(err(StorageErrorKind::InvalidName));
            }
            if marker.is_marker(&from) || marker.is_marker(&to) {
                return Err(err(StorageErrorKind::InvalidName));
            }
            let (from_file, from_dir) = keys(&from)?;
            let (to_file, to_dir) = keys(&to)?;
            parent_must_exist(&op, &to).await?;
            let target = find(&op, &to).await?;
            match (find(&op, &from).await?, target) {
                (Found::Nothing, _) => Err(err(StorageErrorKind::NotFound)),
                // A copy onto itself then a delete would lose the object.
                _ if from == to => Ok(()),
                (_, Found::Dir) => Err(err(StorageErrorKind::AlreadyExists)),
                // A folder over a file would leave both under one name.
                (Found::Dir, Found::File(_)) => Err(err(StorageErrorKind::AlreadyExists)),
                (Found::File(_), _) => {
                    op.copy(&from_file, &to_file)
                        .await
                        .map_err(|e| dal_err(&e))?;
                    op.delete(&from_file).await.map_err(|e| dal_err(&e))
                }
                (Found::Dir, _) => move_prefix(&op, &from_dir, &to_dir, &marker).await,
            }
        })
    }

    fn capabilities(&self) -> StorageCapabilities {
        StorageCapabilities {
            set_modified: false,
            chmod: false,
            append: false,
            resume_upload: false,
        }
    }
}

/// Copies every object below the prefix `from` to the same place below `to`, then deletes it,
/// one object at a time (the listing is streamed, never held whole).
async fn move_prefix(
    op: &Operator,
    from: &str,
    to: &str,
    folder_marker: &FolderMarker,
) -> Result<(), StorageError> {
    let mut lister = op
        .lister_with(from)
        .recursive(true)
        .await
        .map_err(|e| dal_err(&e))?;
    let mut marker = false;
    while let Some(entry) = lister.next().await {
        let entry = entry.map_err(|e| dal_err(&e))?;
        let Some(rest) = entry.path().strip_prefix(from) else {
            continue;
        };
        if rest.is_empty() {
            marker = true;
            continue;
        }
        let target = format!("{to}{rest}");
        if entry.path().ends_with('/') {
            op.create_dir(&target).await.map_err(|e| dal_err(&e))?;
        } else {
            op.copy(entry.path(), &target)
                .await
                .map_err(|e| dal_err(&e))?;
        }
        op.delete(entry.path()).await.map_err(|e| dal_err(&e))?;
    }
    // The folder keeps existing under its new name even when it is empty.
    folder_marker.write(op, to).await?;
    if marker {
        op.delete(from).await.map_err(|e| dal_err(&e))?;
    }
    Ok(())
}

/// STOU: the first free name of `hint`, `hint.1`, ... `hint.999` in the folder `dir`.
async fn unique_name(
    op: &Operator,
    dir: VirtualPath,
    hint: Option<Bytes>,
) -> Result<(VirtualPath, Option<Bytes>), StorageError> {
    match find(op, &dir).await? {
        Found::Dir => {}
        Found::File(_) => return Err(err(StorageErrorKind::NotADirectory)),
        Found::Nothing => return Err(err(StorageErrorKind::NotFound)),
    }
    let base = hint
        .filter(|h| !h.is_empty() && !h.contains(&b'/') && !h.contains(&0))
        .filter(|h| &h[..] != b"." && &h[..] != b"..")
        .unwrap_or_else(|| Bytes::from_static(b"upload"));
    for n in 0u32..1000 {
        let name = match n {
            0 => base.clone(),
            n => Bytes::from([&base[..], format!(".{n}").as_bytes()].concat()),
        };
        let path = dir
            .resolve(&name)
            .map_err(|_| err(StorageErrorKind::InvalidName))?;
        if let Found::Nothing = find(op, &path).await? {
            return Ok((path, Some(name)));
        }
    }
    Err(err(StorageErrorKind::AlreadyExists))
}

/// Lists a folder from the store's pages; each batch is read on the store's runtime.
struct DalLister {
    storage: OpenDalStorage,
    /// `None` once the listing ended (or was lost with a dropped batch future).
    lister: Option<opendal::Lister>,
    dir: String,
    /// The hidden marker's name, never listed.
    hidden: Option<String>,
    rights: Permissions,
}

impl DirLister for DalLister {
    fn next_batch(&mut self, max: usize) -> BoxFuture<'_, Result<Vec<DirEntry>, StorageError>> {
        let Some(mut lister) = self.lister.take() else {
            return Box::pin(async { Ok(Vec::new()) });
        };
        let (dir, rights) = (self.dir.clone(), self.rights);
        let hidden = self.hidden.clone();
        let batch = self.storage.run(async move {
            let mut batch = Vec::new();
            while batch.len() < max.max(1) {
                let Some(entry) = lister.next().await else {
                    return Ok((batch, None));
                };
                let entry = entry.map_err(|e| dal_err(&e))?;
                match dir_entry(&dir, &entry, rights) {
                    Some(entry)
                        if hidden.as_deref().map(str::as_bytes) != Some(&entry.name[..]) =>
                    {
                        batch.push(entry)
                    }
                    _ => {}
                }
            }
            Ok((batch, Some(lister)))
        });
        Box::pin(async move {
            let (batch, lister) = batch.await?;
            self.lister = lister;
            Ok(batch)
        })
    }
}

/// The listing entry of an object or sub-folder of `dir`; `None` for the folder's own marker
/// and for keys no FTP name can show (empty segments, as in `a//b`).
fn dir_entry(dir: &str, entry: &opendal::Entry, rights: Permissions) -> Option<DirEntry> {
    let path = entry.path();
    let rest = if dir == "/" {
        path.trim_start_matches('/')
    } else {
        path.strip_prefix(dir)?
    };
    let (name, is_dir) = match rest.strip_suffix('/') {
        Some(name) => (name, true),
        None => (rest, false),
    };
    if name.is_empty() || name.contains('/') || name == "." || name == ".." {
        return None;
    }
    let metadata = if is_dir {
        dir_metadata(rights)
    } else {
        file_metadata(entry.metadata(), rights)
    };
    Some(DirEntry {
        name: Bytes::copy_from_slice(name.as_bytes()),
        metadata,
    })
}

/// Moves a download's chunks from the store to the reader, at most [`READ_AHEAD`] ahead;
/// ends when the reader is dropped.
async fn pump(
    mut stream: impl futures_lite::Stream<Item = io::Result<Bytes>> + Unpin,
    tx: async_channel::Sender<io::Result<Bytes>>,
) {
    while let Some(chunk) = stream.next().await {
        let failed = chunk.is_err();
        if tx.send(chunk).await.is_err() || failed {
            return;
        }
    }
}

struct DalReader {
    chunks: async_channel::Receiver<io::Result<Bytes>>,
    current: Bytes,
    /// An error that came after bytes a read returned: the next read reports it.
    failed: Option<io::Error>,
}

impl FileRead for DalReader {
    fn read(&mut self, mut buf: Vec<u8>) -> BoxFuture<'_, (Vec<u8>, io::Result<usize>)> {
        Box::pin(async move {
            if let Some(e) = self.failed.take() {
                return (buf, Err(e));
            }
            while self.current.is_empty() {
                match self.chunks.recv().await {
                    Ok(Ok(chunk)) => self.current = chunk,
                    Ok(Err(e)) => return (buf, Err(e)),
                    // The stream ended (or nothing was to be read).
                    Err(_) => return (buf, Ok(0)),
                }
            }
            // Fill the buffer with every chunk already there (the HTTP body comes in small
            // frames): fewer, larger writes to the data connection.
            let mut filled = 0;
            loop {
                let n = (buf.len() - filled).min(self.current.len());
                buf[filled..filled + n].copy_from_slice(&self.current.split_to(n));
                filled += n;
                if filled == buf.len() {
                    break;
                }
                match self.chunks.try_recv() {
                    Ok(Ok(chunk)) => self.current = chunk,
                    // An error waits for the next call, after these bytes.
                    Ok(Err(e)) => {
                        self.failed = Some(e);
                        break;
                    }
                    Err(_) => break,
                }
            }
            (buf, Ok(filled))
        })
    }
}

/// What an upload's task is told.
enum UploadCmd {
    Write(Bytes, async_channel::Sender<io::Result<()>>),
    Commit(async_channel::Sender<Result<(), StorageError>>),
}

/// An upload: a task on the store's runtime owns the OpenDAL writer and takes commands; when
/// the commands stop without a commit (the writer was aborted or dropped), the task aborts
/// the upload on the store.
struct DalWriter {
    cmds: async_channel::Sender<UploadCmd>,
    gate: CommitGate,
}

impl DalWriter {
    fn start(writer: opendal::Writer, handle: &tokio::runtime::Handle) -> Self {
        let (cmds, rx) = async_channel::bounded(1);
        let gate = CommitGate::default();
        handle.spawn(upload_task(writer, rx, gate.clone()));
        Self { cmds, gate }
    }
}

async fn upload_task(
    mut writer: opendal::Writer,
    cmds: async_channel::Receiver<UploadCmd>,
    gate: CommitGate,
) {
    while let Ok(cmd) = cmds.recv().await {
        match cmd {
            UploadCmd::Write(bytes, done) => {
                let result = writer.write(bytes).await.map_err(io::Error::other);
                let failed = result.is_err();
                if done.send(result).await.is_err() || failed {
                    break;
                }
            }
            UploadCmd::Commit(done) => {
                if !gate.enter() {
                    break;
                }
                let result = writer.close().await.map(|_| ()).map_err(|e| dal_err(&e));
                gate.leave();
                let _ = done.send(result).await;
                return;
            }
        }
    }
    // Never committed: nothing may appear.
    if let Err(e) = writer.abort().await {
        tracing::warn!(error = %e, "aborting an upload on the object store failed");
    }
}

/// Orders a commit's final request against the drop of its future (see [`FileWrite::commit`]).
#[derive(Clone, Default)]
struct CommitGate {
    state: Arc<(Mutex<GateState>, Condvar)>,
}

#[derive(Clone, Copy, Default, PartialEq, Eq)]
enum GateState {
    #[default]
    Open,
    Committing,
    Settled,
    Closed,
}

impl CommitGate {
    fn lock(&self) -> std::sync::MutexGuard<'_, GateState> {
        self.state.0.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The upload task is about to complete the upload: false if the commit was dropped.
    fn enter(&self) -> bool {
        let mut state = self.lock();
        if *state == GateState::Closed {
            return false;
        }
        *state = GateState::Committing;
        true
    }

    fn leave(&self) {
        *self.lock() = GateState::Settled;
        self.state.1.notify_all();
    }

    /// The commit was dropped: stop it before it starts, or wait (bounded) for it to end.
    fn close(&self) {
        let mut state = self.lock();
        if *state == GateState::Open {
            *state = GateState::Closed;
            return;
        }
        let (_state, timeout) = self
            .state
            .1
            .wait_timeout_while(state, COMMIT_SETTLE, |s| *s == GateState::Committing)
            .unwrap_or_else(|e| e.into_inner());
        if timeout.timed_out() {
            tracing::warn!("a dropped upload commit is still under way on the object store");
        }
    }
}

struct CloseOnDrop(CommitGate);

impl Drop for CloseOnDrop {
    fn drop(&mut self) {
        self.0.close();
    }
}

impl FileWrite for DalWriter {
    fn write(&mut self, buf: Vec<u8>) -> BoxFuture<'_, (Vec<u8>, io::Result<()>)> {
        Box::pin(async move {
            let (done, result) = async_channel::bounded(1);
            let bytes = Bytes::copy_from_slice(&buf);
            if self.cmds.send(UploadCmd::Write(bytes, done)).await.is_err() {
                return (buf, Err(io::Error::other("upload failed")));
            }
            match result.recv().await {
                Ok(result) => (buf, result),
                Err(_) => (buf, Err(io::Error::other("upload failed"))),
            }
        })
    }

    fn commit(self: Box<Self>) -> BoxFuture<'static, Result<(), StorageError>> {
        let on_drop = CloseOnDrop(self.gate.clone());
        Box::pin(async move {
            let (done, result) = async_channel::bounded(1);
            let sent = self.cmds.send(UploadCmd::Commit(done)).await.is_ok();
            let result = if sent {
                result
                    .recv()
                    .await
                    .unwrap_or(Err(err(StorageErrorKind::Other)))
            } else {
                Err(err(StorageErrorKind::Other))
            };
            drop(on_drop);
            result
        })
    }

    /// Closes the command channel: the upload task aborts the multipart upload.
    fn abort(self: Box<Self>) -> BoxFuture<'static, ()> {
        drop(self);
        Box::pin(async {})
    }
}
