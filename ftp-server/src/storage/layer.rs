//! Wrapping a back end: [`StorageLayer`] forwards every [`Storage`] method to an inner back end
//! unless the layer overrides it, so a wrapper (a quota, an audit log, a virus scan) writes
//! only what it changes. Every `StorageLayer` is a `Storage`.

use super::{
    BoxFuture, DirLister, Download, Metadata, Storage, StorageCapabilities, StorageContext,
    StorageError, StoreMode, Timestamp, Upload, VirtualPath,
};

/// A [`Storage`] that wraps another: implement [`StorageLayer::inner`] and override the
/// methods whose behaviour changes; the others forward to the inner back end unchanged.
///
/// **The zero-copy paths.** An [`Upload`] or a [`Download`] forwarded unchanged may carry a
/// file the server copies with `splice(2)` / `sendfile(2)` without calling
/// [`FileWrite::write`](super::FileWrite::write) or [`FileRead::read`](super::FileRead::read)
/// ([`FileWrite::bypass_file`](super::FileWrite::bypass_file)). A layer that must see the
/// bytes wraps the writer or reader in its own type, whose `bypass_file` keeps the default
/// `None`: every byte then goes through it (the server uses its async copy instead). A layer
/// that forwards `bypass_file` chooses speed over seeing the bytes, and forwards
/// [`FileWrite::syncs_on_commit`](super::FileWrite::syncs_on_commit) with it.
///
/// ```
/// use ftp_server::storage::{
///     BoxFuture, MemStorage, Storage, StorageContext, StorageError, StorageErrorKind,
///     StorageLayer, StoreMode, Upload, VirtualPath,
/// };
///
/// /// Refuses uploads into `/archive`; everything else as the inner back end does.
/// struct NoArchiveUploads(MemStorage);
///
/// impl StorageLayer for NoArchiveUploads {
///     fn inner(&self) -> &dyn Storage {
///         &self.0
///     }
///
///     fn open_write(
///         &self,
///         cx: StorageContext,
///         path: VirtualPath,
///         mode: StoreMode,
///         offset: u64,
///     ) -> BoxFuture<'_, Result<Upload, StorageError>> {
///         if path.to_bytes().starts_with(b"/archive/") {
///             let refused = StorageError::new(StorageErrorKind::PermissionDenied);
///             return Box::pin(async move { Err(refused) });
///         }
///         self.0.open_write(cx, path, mode, offset)
///     }
/// }
///
/// let server = ftp_server::Server::new(NoArchiveUploads(MemStorage::new()));
/// ```
pub trait StorageLayer: Send + Sync + 'static {
    /// The back end this layer wraps.
    fn inner(&self) -> &dyn Storage;

    /// [`Storage::metadata`]; forwards by default.
    fn metadata(
        &self,
        cx: StorageContext,
        path: VirtualPath,
    ) -> BoxFuture<'_, Result<Metadata, StorageError>> {
        self.inner().metadata(cx, path)
    }

    /// [`Storage::list`]; forwards by default.
    fn list(
        &self,
        cx: StorageContext,
        path: VirtualPath,
    ) -> BoxFuture<'_, Result<Box<dyn DirLister>, StorageError>> {
        self.inner().list(cx, path)
    }

    /// [`Storage::open_read`]; forwards by default (the zero-copy path included).
    fn open_read(
        &self,
        cx: StorageContext,
        path: VirtualPath,
        offset: u64,
    ) -> BoxFuture<'_, Result<Download, StorageError>> {
        self.inner().open_read(cx, path, offset)
    }

    /// [`Storage::open_write`]; forwards by default (the zero-copy path included).
    fn open_write(
        &self,
        cx: StorageContext,
        path: VirtualPath,
        mode: StoreMode,
        offset: u64,
    ) -> BoxFuture<'_, Result<Upload, StorageError>> {
        self.inner().open_write(cx, path, mode, offset)
    }

    /// [`Storage::delete`]; forwards by default.
    fn delete(
        &self,
        cx: StorageContext,
        path: VirtualPath,
    ) -> BoxFuture<'_, Result<(), StorageError>> {
        self.inner().delete(cx, path)
    }

    /// [`Storage::make_dir`]; forwards by default.
    fn make_dir(
        &self,
        cx: StorageContext,
        path: VirtualPath,
    ) -> BoxFuture<'_, Result<(), StorageError>> {
        self.inner().make_dir(cx, path)
    }

    /// [`Storage::remove_dir`]; forwards by default.
    fn remove_dir(
        &self,
        cx: StorageContext,
        path: VirtualPath,
    ) -> BoxFuture<'_, Result<(), StorageError>> {
        self.inner().remove_dir(cx, path)
    }

    /// [`Storage::rename`]; forwards by default.
    fn rename(
        &self,
        cx: StorageContext,
        from: VirtualPath,
        to: VirtualPath,
    ) -> BoxFuture<'_, Result<(), StorageError>> {
        self.inner().rename(cx, from, to)
    }

    /// [`Storage::capabilities`]; forwards by default.
    fn capabilities(&self) -> StorageCapabilities {
        self.inner().capabilities()
    }

    /// [`Storage::set_modified`]; forwards by default.
    fn set_modified(
        &self,
        cx: StorageContext,
        path: VirtualPath,
        time: Timestamp,
    ) -> BoxFuture<'_, Result<(), StorageError>> {
        self.inner().set_modified(cx, path, time)
    }

    /// [`Storage::chmod`]; forwards by default.
    fn chmod(
        &self,
        cx: StorageContext,
        path: VirtualPath,
        mode: u32,
    ) -> BoxFuture<'_, Result<(), StorageError>> {
        self.inner().chmod(cx, path, mode)
    }
}

impl<L: StorageLayer> Storage for L {
    fn metadata(
        &self,
        cx: StorageContext,
        path: VirtualPath,
    ) -> BoxFuture<'_, Result<Metadata, StorageError>> {
        StorageLayer::metadata(self, cx, path)
    }

    fn list(
        &self,
        cx: StorageContext,
        path: VirtualPath,
    ) -> BoxFuture<'_, Result<Box<dyn DirLister>, StorageError>> {
        StorageLayer::list(self, cx, path)
    }

    fn open_read(
        &self,
        cx: StorageContext,
        path: VirtualPath,
        offset: u64,
    ) -> BoxFuture<'_, Result<Download, StorageError>> {
        StorageLayer::open_read(self, cx, path, offset)
    }

    fn open_write(
        &self,
        cx: StorageContext,
        path: VirtualPath,
        mode: StoreMode,
        offset: u64,
    ) -> BoxFuture<'_, Result<Upload, StorageError>> {
        StorageLayer::open_write(self, cx, path, mode, offset)
    }

    fn delete(
        &self,
        cx: StorageContext,
        path: VirtualPath,
    ) -> BoxFuture<'_, Result<(), StorageError>> {
        StorageLayer::delete(self, cx, path)
    }

    fn make_dir(
        &self,
        cx: StorageContext,
        path: VirtualPath,
    ) -> BoxFuture<'_, Result<(), StorageError>> {
        StorageLayer::make_dir(self, cx, path)
    }

    fn remove_dir(
        &self,
        cx: StorageContext,
        path: VirtualPath,
    ) -> BoxFuture<'_, Result<(), StorageError>> {
        StorageLayer::remove_dir(self, cx, path)
    }

    fn rename(
        &self,
        cx: StorageContext,
        from: VirtualPath,
        to: VirtualPath,
    ) -> BoxFuture<'_, Result<(), StorageError>> {
        StorageLayer::rename(self, cx, from, to)
    }

    fn capabilities(&self) -> StorageCapabilities {
        StorageLayer::capabilities(self)
    }

    fn set_modified(
        &self,
        cx: StorageContext,
        path: VirtualPath,
        time: Timestamp,
    ) -> BoxFuture<'_, Result<(), StorageError>> {
        StorageLayer::set_modified(self, cx, path, time)
    }

    fn chmod(
        &self,
        cx: StorageContext,
        path: VirtualPath,
        mode: u32,
    ) -> BoxFuture<'_, Result<(), StorageError>> {
        StorageLayer::chmod(self, cx, path, mode)
    }
}
