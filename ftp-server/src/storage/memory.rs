//! [`MemStorage`]: a file tree in memory.

use std::collections::BTreeMap;
use std::io;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::SystemTime;

use bytes::{Bytes, BytesMut};

use super::{
    perm_fact, timestamp, BoxFuture, DirEntry, DirLister, Download, FileKind, FileRead, FileWrite,
    Metadata, Permissions, Storage, StorageContext, StorageError, StorageErrorKind, StoreMode,
    Timestamp, Upload, VirtualPath,
};

/// A file tree in memory (a `BTreeMap` per directory), for tests and throw-away servers.
///
/// Uploads are buffered in the writer and become visible only on commit, so an aborted upload
/// leaves nothing behind and the previous version stays intact until then. Each upload may
/// hold at most [`MemStorage::max_file_size`] bytes (default 256 MiB); more is refused with
/// `552` (quota exceeded). Clones share the same tree.
#[derive(Clone, Debug)]
pub struct MemStorage {
    tree: Arc<Mutex<Node>>,
    max_file_size: u64,
}

#[derive(Clone, Debug)]
enum Node {
    File {
        data: Bytes,
        modified: SystemTime,
    },
    Dir {
        entries: BTreeMap<Bytes, Self>,
        modified: SystemTime,
    },
}

impl Default for MemStorage {
    fn default() -> Self {
        Self::new()
    }
}

fn err(kind: StorageErrorKind) -> StorageError {
    StorageError::new(kind)
}

impl Node {
    fn dir() -> Self {
        Self::Dir {
            entries: BTreeMap::new(),
            modified: SystemTime::now(),
        }
    }

    fn kind(&self) -> FileKind {
        match self {
            Self::File { .. } => FileKind::File,
            Self::Dir { .. } => FileKind::Dir,
        }
    }

    fn metadata(&self, rights: Permissions) -> Metadata {
        let mut meta = Metadata::new(self.kind());
        let (size, modified) = match self {
            Self::File { data, modified } => (data.len() as u64, modified),
            Self::Dir { entries, modified } => (entries.len() as u64, modified),
        };
        meta.size = Some(size);
        meta.modified = timestamp(*modified);
        meta.perm = Some(perm_fact(self.kind(), rights));
        meta
    }

    fn entries_mut(&mut self) -> Result<&mut BTreeMap<Bytes, Self>, StorageError> {
        match self {
            Self::Dir { entries, modified } => {
                *modified = SystemTime::now();
                Ok(entries)
            }
            Self::File { .. } => Err(err(StorageErrorKind::NotADirectory)),
        }
    }
}

impl MemStorage {
    /// An empty tree (just `/`).
    pub fn new() -> Self {
        Self {
            tree: Arc::new(Mutex::new(Node::dir())),
            max_file_size: 256 << 20,
        }
    }

    /// The largest file an upload may create.
    pub fn max_file_size(mut self, bytes: u64) -> Self {
        self.max_file_size = bytes;
        self
    }

    fn lock(&self) -> MutexGuard<'_, Node> {
        // A panic while holding the lock cannot leave the tree half-changed (every change is
        // one map operation), so a poisoned lock is still usable.
        self.tree.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Creates or replaces the file at `path` (a `/`-separated path; missing directories are
    /// created), for setting up tests and fixtures.
    pub fn put(&self, path: &str, data: impl Into<Bytes>) -> Result<(), StorageError> {
        let path = parse(path)?;
        let (Some(parent), Some(name)) = (path.parent(), path.file_name()) else {
            return Err(err(StorageErrorKind::IsADirectory));
        };
        let mut tree = self.lock();
        let mut node = &mut *tree;
        for segment in parent.segments() {
            node = node
                .entries_mut()?
                .entry(Bytes::copy_from_slice(segment))
                .or_insert_with(Node::dir);
        }
        let file = Node::File {
            data: data.into(),
            modified: SystemTime::now(),
        };
        node.entries_mut()?
            .insert(Bytes::copy_from_slice(name), file);
        Ok(())
    }

    /// The content of the file at `path`, if there is one.
    pub fn get(&self, path: &str) -> Option<Bytes> {
        let path = parse(path).ok()?;
        match find(&self.lock(), &path) {
            Ok(Node::File { data, .. }) => Some(data.clone()),
            _ => None,
        }
    }

    /// Runs `f` on the parent directory's entries of `path` and the last name.
    fn with_parent<T>(
        &self,
        path: &VirtualPath,
        f: impl FnOnce(&mut BTreeMap<Bytes, Node>, Bytes) -> Result<T, StorageError>,
    ) -> Result<T, StorageError> {
        let (Some(parent), Some(name)) = (path.parent(), path.file_name()) else {
            return Err(err(StorageErrorKind::PermissionDenied));
        };
        let mut tree = self.lock();
        let dir = find_mut(&mut tree, &parent)?.entries_mut()?;
        f(dir, Bytes::copy_from_slice(name))
    }
}

fn parse(path: &str) -> Result<VirtualPath, StorageError> {
    VirtualPath::root()
        .resolve(path.as_bytes())
        .map_err(|_| err(StorageErrorKind::InvalidName))
}

fn find<'a>(root: &'a Node, path: &VirtualPath) -> Result<&'a Node, StorageError> {
    let mut node = root;
    for segment in path.segments() {
        node = match node {
            Node::Dir { entries, .. } => entries
                .get(segment)
                .ok_or_else(|| err(StorageErrorKind::NotFound))?,
            Node::File { .. } => return Err(err(StorageErrorKind::NotFound)),
        };
    }
    Ok(node)
}

fn find_mut<'a>(root: &'a mut Node, path: &VirtualPath) -> Result<&'a mut Node, StorageError> {
    let mut node = root;
    for segment in path.segments() {
        node = match node {
            Node::Dir { entries, .. } => entries
                .get_mut(segment)
                .ok_or_else(|| err(StorageErrorKind::NotFound))?,
            Node::File { .. } => return Err(err(StorageErrorKind::NotFound)),
        };
    }
    Ok(node)
}

fn ready<'a, T: Send + 'a>(value: T) -> BoxFuture<'a, T> {
    Box::pin(std::future::ready(value))
}

impl Storage for MemStorage {
    fn metadata(
        &self,
        cx: StorageContext,
        path: VirtualPath,
    ) -> BoxFuture<'_, Result<Metadata, StorageError>> {
        ready(find(&self.lock(), &path).map(|node| node.metadata(cx.permissions())))
    }

    fn list(
        &self,
        cx: StorageContext,
        path: VirtualPath,
    ) -> BoxFuture<'_, Result<Box<dyn DirLister>, StorageError>> {
        let result = match find(&self.lock(), &path) {
            Ok(Node::Dir { .. }) => Ok(Box::new(MemLister {
                storage: self.clone(),
                path,
                after: None,
                rights: cx.permissions(),
                done: false,
            }) as Box<dyn DirLister>),
            Ok(Node::File { .. }) => Err(err(StorageErrorKind::NotADirectory)),
            Err(e) => Err(e),
        };
        ready(result)
    }

    fn open_read(
        &self,
        _cx: StorageContext,
        path: VirtualPath,
        offset: u64,
    ) -> BoxFuture<'_, Result<Download, StorageError>> {
        let result = match find(&self.lock(), &path) {
            Ok(Node::File { data, .. }) => match usize::try_from(offset) {
                Ok(offset) if offset <= data.len() => Ok(Download {
                    size: Some(data.len() as u64),
                    reader: Box::new(MemReader {
                        data: data.slice(offset..),
                    }),
                }),
                _ => Err(err(StorageErrorKind::InvalidOffset)),
            },
            Ok(Node::Dir { .. }) => Err(err(StorageErrorKind::IsADirectory)),
            Err(e) => Err(e),
        };
        ready(result)
    }

    fn open_write(
        &self,
        _cx: StorageContext,
        path: VirtualPath,
        mode: StoreMode,
        offset: u64,
    ) -> BoxFuture<'_, Result<Upload, StorageError>> {
        let result = (|| {
            let tree = self.lock();
            let (dir, name, stored_as) = match &mode {
                StoreMode::Unique { hint } => {
                    let Node::Dir { entries, .. } = find(&tree, &path)? else {
                        return Err(err(StorageErrorKind::NotADirectory));
                    };
                    let base = hint
                        .clone()
                        .filter(|h| !h.is_empty() && !h.contains(&b'/') && !h.contains(&0))
                        .filter(|h| &h[..] != b"." && &h[..] != b"..")
                        .unwrap_or_else(|| Bytes::from_static(b"upload"));
                    let name = (0u32..1000)
                        .map(|n| match n {
                            0 => base.clone(),
                            n => Bytes::from([&base[..], format!(".{n}").as_bytes()].concat()),
                        })
                        .find(|name| !entries.contains_key(name))
                        .ok_or_else(|| err(StorageErrorKind::AlreadyExists))?;
                    (path.clone(), name.clone(), Some(name))
                }
                StoreMode::Create | StoreMode::Append => {
                    let (Some(parent), Some(name)) = (path.parent(), path.file_name()) else {
                        return Err(err(StorageErrorKind::IsADirectory));
                    };
                    (parent, Bytes::copy_from_slice(name), None)
                }
                _ => return Err(err(StorageErrorKind::Unsupported)),
            };
            let Node::Dir { entries, .. } = find(&tree, &dir)? else {
                return Err(err(StorageErrorKind::NotADirectory));
            };
            let existing = match entries.get(&name) {
                Some(Node::Dir { .. }) => return Err(err(StorageErrorKind::IsADirectory)),
                Some(Node::File { data, .. }) => Some(data.clone()),
                None => None,
            };
            let prefix = match (&mode, existing) {
                (StoreMode::Append, Some(data)) => data,
                (StoreMode::Create, Some(data)) => match usize::try_from(offset) {
                    Ok(offset) if offset <= data.len() => data.slice(..offset),
                    _ => return Err(err(StorageErrorKind::InvalidOffset)),
                },
                (StoreMode::Create, None) if offset > 0 => {
                    return Err(err(StorageErrorKind::InvalidOffset))
                }
                _ => Bytes::new(),
            };
            if prefix.len() as u64 > self.max_file_size {
                return Err(err(StorageErrorKind::QuotaExceeded));
            }
            let mut data = BytesMut::with_capacity(prefix.len());
            data.extend_from_slice(&prefix);
            Ok(Upload {
                writer: Box::new(MemWriter {
                    storage: self.clone(),
                    dir,
                    name,
                    data,
                }),
                stored_as,
            })
        })();
        ready(result)
    }

    fn delete(
        &self,
        _cx: StorageContext,
        path: VirtualPath,
    ) -> BoxFuture<'_, Result<(), StorageError>> {
        ready(self.with_parent(&path, |dir, name| match dir.get(&name) {
            Some(Node::File { .. }) => {
                dir.remove(&name);
                Ok(())
            }
            Some(Node::Dir { .. }) => Err(err(StorageErrorKind::IsADirectory)),
            None => Err(err(StorageErrorKind::NotFound)),
        }))
    }

    fn make_dir(
        &self,
        _cx: StorageContext,
        path: VirtualPath,
    ) -> BoxFuture<'_, Result<(), StorageError>> {
        ready(self.with_parent(&path, |dir, name| {
            if dir.contains_key(&name) {
                return Err(err(StorageErrorKind::AlreadyExists));
            }
            dir.insert(name, Node::dir());
            Ok(())
        }))
    }

    fn remove_dir(
        &self,
        _cx: StorageContext,
        path: VirtualPath,
    ) -> BoxFuture<'_, Result<(), StorageError>> {
        ready(self.with_parent(&path, |dir, name| match dir.get(&name) {
            Some(Node::Dir { entries, .. }) if entries.is_empty() => {
                dir.remove(&name);
                Ok(())
            }
            Some(Node::Dir { .. }) => Err(err(StorageErrorKind::PermissionDenied)),
            Some(Node::File { .. }) => Err(err(StorageErrorKind::NotADirectory)),
            None => Err(err(StorageErrorKind::NotFound)),
        }))
    }

    fn rename(
        &self,
        _cx: StorageContext,
        from: VirtualPath,
        to: VirtualPath,
    ) -> BoxFuture<'_, Result<(), StorageError>> {
        let result = (|| {
            if to.starts_with(&from) && to != from {
                return Err(err(StorageErrorKind::InvalidName));
            }
            let (Some(from_parent), Some(from_name), Some(to_parent), Some(to_name)) =
                (from.parent(), from.file_name(), to.parent(), to.file_name())
            else {
                return Err(err(StorageErrorKind::PermissionDenied));
            };
            let mut tree = self.lock();
            // Check the target directory first, so a failure changes nothing.
            match find(&tree, &to_parent)? {
                Node::Dir { entries, .. } => {
                    if let Some(Node::Dir { .. }) = entries.get(to_name) {
                        return Err(err(StorageErrorKind::AlreadyExists));
                    }
                }
                Node::File { .. } => return Err(err(StorageErrorKind::NotADirectory)),
            }
            let node = find_mut(&mut tree, &from_parent)?
                .entries_mut()?
                .remove(from_name)
                .ok_or_else(|| err(StorageErrorKind::NotFound))?;
            find_mut(&mut tree, &to_parent)?
                .entries_mut()?
                .insert(Bytes::copy_from_slice(to_name), node);
            Ok(())
        })();
        ready(result)
    }

    fn set_modified(
        &self,
        _cx: StorageContext,
        path: VirtualPath,
        time: Timestamp,
    ) -> BoxFuture<'_, Result<(), StorageError>> {
        let result = find_mut(&mut self.lock(), &path).map(|node| {
            let secs = time.to_unix_seconds();
            let when = if secs >= 0 {
                SystemTime::UNIX_EPOCH + std::time::Duration::from_secs(secs.unsigned_abs())
            } else {
                SystemTime::UNIX_EPOCH - std::time::Duration::from_secs(secs.unsigned_abs())
            };
            match node {
                Node::File { modified, .. } | Node::Dir { modified, .. } => *modified = when,
            }
        });
        ready(result)
    }
}

/// Lists a directory in name order, a batch at a time, each batch read under the lock from
/// just after the last name of the one before: nothing is copied up front, and entries added
/// or removed meanwhile show or not, as in a directory listing on disk.
struct MemLister {
    storage: MemStorage,
    path: VirtualPath,
    /// The last name listed.
    after: Option<Bytes>,
    rights: Permissions,
    done: bool,
}

impl DirLister for MemLister {
    fn next_batch(&mut self, max: usize) -> BoxFuture<'_, Result<Vec<DirEntry>, StorageError>> {
        use std::ops::Bound;
        if self.done {
            return ready(Ok(Vec::new()));
        }
        let batch: Vec<DirEntry> = match find(&self.storage.lock(), &self.path) {
            Ok(Node::Dir { entries, .. }) => {
                let from = match &self.after {
                    Some(name) => Bound::Excluded(name.clone()),
                    None => Bound::Unbounded,
                };
                entries
                    .range((from, Bound::Unbounded))
                    .take(max.max(1))
                    .map(|(name, node)| DirEntry {
                        name: name.clone(),
                        metadata: node.metadata(self.rights),
                    })
                    .collect()
            }
            // Removed (or replaced) while it was listed: the listing ends.
            _ => Vec::new(),
        };
        match batch.last() {
            Some(last) => self.after = Some(last.name.clone()),
            None => self.done = true,
        }
        ready(Ok(batch))
    }
}

struct MemReader {
    data: Bytes,
}

impl FileRead for MemReader {
    fn read(&mut self, mut buf: Vec<u8>) -> BoxFuture<'_, (Vec<u8>, io::Result<usize>)> {
        let n = buf.len().min(self.data.len());
        buf[..n].copy_from_slice(&self.data[..n]);
        let _ = self.data.split_to(n);
        ready((buf, Ok(n)))
    }
}

struct MemWriter {
    storage: MemStorage,
    dir: VirtualPath,
    name: Bytes,
    data: BytesMut,
}

impl FileWrite for MemWriter {
    fn write(&mut self, buf: Vec<u8>) -> BoxFuture<'_, (Vec<u8>, io::Result<()>)> {
        let result = if (self.data.len() + buf.len()) as u64 > self.storage.max_file_size {
            Err(io::Error::new(
                io::ErrorKind::QuotaExceeded,
                "file larger than the storage allows",
            ))
        } else {
            self.data.extend_from_slice(&buf);
            Ok(())
        };
        ready((buf, result))
    }

    fn commit(self: Box<Self>) -> BoxFuture<'static, Result<(), StorageError>> {
        let this = *self;
        let result = (|| {
            let mut tree = this.storage.lock();
            let entries = find_mut(&mut tree, &this.dir)?.entries_mut()?;
            if let Some(Node::Dir { .. }) = entries.get(&this.name) {
                return Err(err(StorageErrorKind::IsADirectory));
            }
            let file = Node::File {
                data: this.data.freeze(),
                modified: SystemTime::now(),
            };
            entries.insert(this.name, file);
            Ok(())
        })();
        ready(result)
    }

    fn abort(self: Box<Self>) -> BoxFuture<'static, ()> {
        ready(())
    }
}
