//! One conformance suite run against both back ends, plus the file system's jail.

use std::path::PathBuf;

use bytes::Bytes;
use futures_lite::future::block_on;

use super::*;
use crate::pool::BlockingPool;

/// A fresh directory below the system's temporary directory, removed on drop.
pub(crate) struct TempDir(pub(crate) PathBuf);

impl TempDir {
    pub(crate) fn new(tag: &str) -> Self {
        use std::sync::atomic::{AtomicU32, Ordering};
        static N: AtomicU32 = AtomicU32::new(0);
        let path = std::env::temp_dir().join(format!(
            "ftp-server-{tag}-{}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        ));
        let _ = std::fs::remove_dir_all(&path);
        std::fs::create_dir_all(&path).unwrap();
        Self(path)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn cx() -> StorageContext {
    StorageContext::new("tester", Permissions::ALL, BlockingPool::thread_per_job())
}

fn vp(path: &str) -> VirtualPath {
    VirtualPath::root().resolve(path.as_bytes()).unwrap()
}

fn kind<T>(result: Result<T, StorageError>) -> StorageErrorKind {
    match result {
        Ok(_) => panic!("expected an error"),
        Err(e) => e.kind,
    }
}

fn read_all(storage: &dyn Storage, path: &str, offset: u64) -> Result<Vec<u8>, StorageError> {
    block_on(async {
        let mut download = storage.open_read(cx(), vp(path), offset).await?;
        let mut out = Vec::new();
        let mut buf = vec![0u8; 7];
        loop {
            let (back, n) = download.reader.read(buf).await;
            buf = back;
            let n = n.map_err(|e| storage_error(&e))?;
            if n == 0 {
                return Ok(out);
            }
            out.extend_from_slice(&buf[..n]);
        }
    })
}

fn upload(storage: &dyn Storage, path: &str, mode: StoreMode, offset: u64, data: &[u8]) -> Upload {
    block_on(async {
        let mut upload = storage
            .open_write(cx(), vp(path), mode, offset)
            .await
            .unwrap();
        for chunk in data.chunks(5) {
            let (_, result) = upload.writer.write(chunk.to_vec()).await;
            result.unwrap();
        }
        upload
    })
}

fn write_file(storage: &dyn Storage, path: &str, data: &[u8]) {
    let upload = upload(storage, path, StoreMode::Create, 0, data);
    block_on(upload.writer.commit()).unwrap();
}

/// Every entry of a listing, read in batches of `batch`, each batch checked against its bound.
pub(crate) async fn list_all(
    storage: &dyn Storage,
    path: &str,
    batch: usize,
) -> Result<Vec<DirEntry>, StorageError> {
    let mut lister = storage.list(cx(), vp(path)).await?;
    let mut entries = Vec::new();
    loop {
        let next = lister.next_batch(batch).await?;
        assert!(next.len() <= batch, "a batch larger than asked for");
        if next.is_empty() {
            assert!(
                lister.next_batch(batch).await?.is_empty(),
                "listed past its end"
            );
            return Ok(entries);
        }
        entries.extend(next);
    }
}

fn names(storage: &dyn Storage, path: &str) -> Vec<String> {
    // Batches of 2: every listing in the suite spans batches.
    block_on(list_all(storage, path, 2))
        .unwrap()
        .into_iter()
        .map(|e| String::from_utf8(e.name.to_vec()).unwrap())
        .collect()
}

/// REST + STOR keeps the prefix; APPE appends (back ends that can).
fn resumes_and_appends(storage: &dyn Storage) {
    let resumed = upload(storage, "/pub/a.txt", StoreMode::Create, 4, b" NEW");
    block_on(resumed.writer.commit()).unwrap();
    assert_eq!(read_all(storage, "/pub/a.txt", 0).unwrap(), b"new  NEW");
    let appended = upload(storage, "/pub/a.txt", StoreMode::Append, 0, b"+tail");
    block_on(appended.writer.commit()).unwrap();
    assert_eq!(
        read_all(storage, "/pub/a.txt", 0).unwrap(),
        b"new  NEW+tail"
    );
    let appended = upload(storage, "/pub/fresh", StoreMode::Append, 0, b"first");
    block_on(appended.writer.commit()).unwrap();
    assert_eq!(read_all(storage, "/pub/fresh", 0).unwrap(), b"first");
    assert_eq!(
        kind(block_on(storage.open_write(
            cx(),
            vp("/pub/a.txt"),
            StoreMode::Create,
            1000
        ))),
        StorageErrorKind::InvalidOffset
    );
    assert_eq!(
        kind(block_on(storage.open_write(
            cx(),
            vp("/pub/none"),
            StoreMode::Create,
            3
        ))),
        StorageErrorKind::InvalidOffset
    );
}

/// The behaviour every back end shares; where a back end's [`Storage::capabilities`] leave
/// something out, the suite checks that it is refused instead.
fn conformance(storage: &dyn Storage) {
    // Directories and files.
    block_on(storage.make_dir(cx(), vp("/pub"))).unwrap();
    assert_eq!(
        kind(block_on(storage.make_dir(cx(), vp("/pub")))),
        StorageErrorKind::AlreadyExists
    );
    assert_eq!(
        kind(block_on(storage.make_dir(cx(), vp("/no/such")))),
        StorageErrorKind::NotFound
    );
    write_file(storage, "/pub/a.txt", b"hello world");
    let meta = block_on(storage.metadata(cx(), vp("/pub/a.txt"))).unwrap();
    assert_eq!(meta.kind, FileKind::File);
    assert_eq!(meta.size, Some(11));
    assert!(meta.modified.is_some());
    let file_perm = if storage.capabilities().append {
        "adfrw"
    } else {
        "dfrw"
    };
    assert_eq!(meta.perm.as_deref(), Some(file_perm));
    let dir = block_on(storage.metadata(cx(), vp("/pub"))).unwrap();
    assert_eq!(dir.kind, FileKind::Dir);
    assert_eq!(names(storage, "/"), ["pub"]);
    assert_eq!(names(storage, "/pub"), ["a.txt"]);
    assert_eq!(
        kind(block_on(storage.list(cx(), vp("/pub/a.txt")))),
        StorageErrorKind::NotADirectory
    );
    assert_eq!(
        kind(block_on(storage.metadata(cx(), vp("/missing")))),
        StorageErrorKind::NotFound
    );

    // Reads, with offsets.
    assert_eq!(read_all(storage, "/pub/a.txt", 0).unwrap(), b"hello world");
    assert_eq!(read_all(storage, "/pub/a.txt", 6).unwrap(), b"world");
    assert_eq!(read_all(storage, "/pub/a.txt", 11).unwrap(), b"");
    assert_eq!(
        kind(read_all(storage, "/pub/a.txt", 12)),
        StorageErrorKind::InvalidOffset
    );
    assert_eq!(
        kind(read_all(storage, "/pub", 0)),
        StorageErrorKind::IsADirectory
    );

    // An upload is invisible until commit; the old version stays until then.
    // The last bytes may come with the commit.
    let pending = upload(storage, "/pub/a.txt", StoreMode::Create, 0, b"new ");
    assert_eq!(read_all(storage, "/pub/a.txt", 0).unwrap(), b"hello world");
    assert_eq!(names(storage, "/pub"), ["a.txt"]);
    block_on(pending.writer.write_and_commit(b"content".to_vec())).unwrap();
    assert_eq!(read_all(storage, "/pub/a.txt", 0).unwrap(), b"new content");

    // Aborted and dropped uploads leave nothing.
    let aborted = upload(storage, "/pub/b.bin", StoreMode::Create, 0, b"partial");
    block_on(aborted.writer.abort());
    let dropped = upload(storage, "/pub/c.bin", StoreMode::Create, 0, b"partial");
    drop(dropped);
    assert_eq!(names(storage, "/pub"), ["a.txt"]);
    assert_eq!(
        kind(block_on(storage.metadata(cx(), vp("/pub/b.bin")))),
        StorageErrorKind::NotFound
    );

    let caps = storage.capabilities();
    if caps.resume_upload && caps.append {
        resumes_and_appends(storage);
    } else {
        // A flat store: REST + STOR and APPE are refused (502), whatever the offset; the
        // files the other back ends build that way are written whole instead.
        assert!(!caps.resume_upload && !caps.append);
        for (path, mode, offset) in [
            ("/pub/a.txt", StoreMode::Create, 4),
            ("/pub/a.txt", StoreMode::Create, 1000),
            ("/pub/none", StoreMode::Create, 3),
            ("/pub/a.txt", StoreMode::Append, 0),
            ("/pub/fresh", StoreMode::Append, 0),
        ] {
            assert_eq!(
                kind(block_on(storage.open_write(cx(), vp(path), mode, offset))),
                StorageErrorKind::Unsupported,
                "{path} at {offset}"
            );
        }
        write_file(storage, "/pub/a.txt", b"new  NEW+tail");
        write_file(storage, "/pub/fresh", b"first");
    }
    assert_eq!(
        kind(block_on(storage.open_write(
            cx(),
            vp("/pub"),
            StoreMode::Create,
            0
        ))),
        StorageErrorKind::IsADirectory
    );

    // STOU picks fresh names.
    let hint = Some(Bytes::from_static(b"a.txt"));
    let unique = upload(storage, "/pub", StoreMode::Unique { hint }, 0, b"u1");
    assert_eq!(unique.stored_as.as_deref(), Some(&b"a.txt.1"[..]));
    block_on(unique.writer.commit()).unwrap();
    assert_eq!(read_all(storage, "/pub/a.txt.1", 0).unwrap(), b"u1");
    assert_eq!(
        read_all(storage, "/pub/a.txt", 0).unwrap(),
        b"new  NEW+tail"
    );

    // Rename, delete, remove directories.
    block_on(storage.rename(cx(), vp("/pub/a.txt.1"), vp("/renamed"))).unwrap();
    assert_eq!(read_all(storage, "/renamed", 0).unwrap(), b"u1");
    block_on(storage.rename(cx(), vp("/renamed"), vp("/renamed"))).unwrap();
    assert_eq!(read_all(storage, "/renamed", 0).unwrap(), b"u1");
    assert_eq!(
        kind(block_on(storage.rename(cx(), vp("/pub"), vp("/pub/inner")))),
        StorageErrorKind::InvalidName
    );
    assert_eq!(
        kind(block_on(storage.remove_dir(cx(), vp("/pub")))),
        StorageErrorKind::PermissionDenied
    );
    assert_eq!(
        kind(block_on(storage.delete(cx(), vp("/pub")))),
        StorageErrorKind::IsADirectory
    );
    for file in ["/pub/a.txt", "/pub/fresh", "/renamed"] {
        block_on(storage.delete(cx(), vp(file))).unwrap();
    }
    block_on(storage.remove_dir(cx(), vp("/pub"))).unwrap();
    assert!(names(storage, "/").is_empty());
    assert_eq!(
        kind(block_on(storage.delete(cx(), vp("/")))),
        StorageErrorKind::PermissionDenied
    );
}

#[test]
fn memory_back_end_conforms() {
    conformance(&MemStorage::new());
}

#[test]
fn file_system_back_end_conforms() {
    let dir = TempDir::new("conform");
    conformance(&FsStorage::new(&dir.0).unwrap());
}

/// A folder of `n` files lists completely, in name order, in batches no larger than asked.
pub(crate) fn lists_in_batches(storage: &dyn Storage, n: usize) {
    block_on(storage.make_dir(cx(), vp("/many"))).unwrap();
    let mut expected: Vec<String> = (0..n).map(|i| format!("f{i:05}")).collect();
    for name in &expected {
        write_file(storage, &format!("/many/{name}"), name.as_bytes());
    }
    expected.sort();
    for batch in [1, 7, LIST_BATCH] {
        let entries = block_on(list_all(storage, "/many", batch)).unwrap();
        let names: Vec<String> = entries
            .iter()
            .map(|e| String::from_utf8(e.name.to_vec()).unwrap())
            .collect();
        assert_eq!(names, expected, "batches of {batch}");
        assert!(entries.iter().all(|e| e.metadata.size == Some(6)));
    }
}

#[test]
fn memory_lists_in_batches() {
    lists_in_batches(&MemStorage::new(), 2500);
}

#[test]
fn file_system_lists_in_batches() {
    let dir = TempDir::new("batches");
    lists_in_batches(&FsStorage::new(&dir.0).unwrap(), 2500);
}

#[test]
fn memory_uploads_are_bounded() {
    let storage = MemStorage::new().max_file_size(8);
    let mut up = block_on(storage.open_write(cx(), vp("/f"), StoreMode::Create, 0)).unwrap();
    let (_, ok) = block_on(up.writer.write(b"12345".to_vec()));
    ok.unwrap();
    let (_, too_much) = block_on(up.writer.write(b"6789".to_vec()));
    assert_eq!(too_much.unwrap_err().kind(), io::ErrorKind::QuotaExceeded);
    drop(up);
    assert_eq!(storage.get("/f"), None);
    storage.put("/d/e/f", &b"x"[..]).unwrap();
    assert_eq!(storage.get("/d/e/f").as_deref(), Some(&b"x"[..]));
}

#[test]
fn file_system_jail_refuses_symlinks_leading_outside() {
    let outside = TempDir::new("outside");
    std::fs::write(outside.0.join("secret"), b"top secret").unwrap();
    let dir = TempDir::new("jail");
    let root = &dir.0;
    std::fs::create_dir(root.join("sub")).unwrap();
    std::fs::write(root.join("sub/inside.txt"), b"inside").unwrap();
    std::os::unix::fs::symlink(outside.0.join("secret"), root.join("escape")).unwrap();
    std::os::unix::fs::symlink(&outside.0, root.join("escape_dir")).unwrap();
    std::os::unix::fs::symlink("sub/inside.txt", root.join("good_link")).unwrap();
    std::os::unix::fs::symlink("../../../../../../etc/passwd", root.join("sub/up")).unwrap();
    std::os::unix::fs::symlink("nowhere", root.join("dangling")).unwrap();
    let storage = FsStorage::new(root).unwrap();

    for path in ["/escape", "/escape_dir/secret", "/sub/up"] {
        assert_eq!(
            kind(read_all(&storage, path, 0)),
            StorageErrorKind::PermissionDenied,
            "{path}"
        );
        assert_eq!(
            kind(block_on(storage.metadata(cx(), vp(path)))),
            StorageErrorKind::PermissionDenied,
            "{path}"
        );
    }
    assert_eq!(
        kind(block_on(storage.list(cx(), vp("/escape_dir")))),
        StorageErrorKind::PermissionDenied
    );
    assert_eq!(
        kind(block_on(storage.open_write(
            cx(),
            vp("/escape_dir/new"),
            StoreMode::Create,
            0
        ))),
        StorageErrorKind::PermissionDenied
    );
    assert_eq!(
        kind(block_on(storage.open_write(
            cx(),
            vp("/escape"),
            StoreMode::Append,
            0
        ))),
        StorageErrorKind::PermissionDenied
    );
    assert_eq!(
        kind(block_on(storage.make_dir(cx(), vp("/escape_dir/x")))),
        StorageErrorKind::PermissionDenied
    );
    // Links inside are followed; links outside or nowhere are not listed.
    assert_eq!(read_all(&storage, "/good_link", 0).unwrap(), b"inside");
    assert_eq!(names(&storage, "/"), ["good_link", "sub"]);
    assert_eq!(names(&storage, "/sub"), ["inside.txt"]);
    // Links leading outside cannot be deleted either; links inside can (the link itself).
    assert_eq!(
        kind(block_on(storage.delete(cx(), vp("/escape")))),
        StorageErrorKind::PermissionDenied
    );
    std::os::unix::fs::symlink("sub/inside.txt", root.join("spare_link")).unwrap();
    block_on(storage.delete(cx(), vp("/spare_link"))).unwrap();
    assert_eq!(read_all(&storage, "/sub/inside.txt", 0).unwrap(), b"inside");
    assert_eq!(
        std::fs::read(outside.0.join("secret")).unwrap(),
        b"top secret"
    );
    // STOR over a link replaces the link, never writes through it.
    std::os::unix::fs::symlink(outside.0.join("secret"), root.join("escape2")).unwrap();
    write_file(&storage, "/escape2", b"replaced");
    assert_eq!(
        std::fs::read(outside.0.join("secret")).unwrap(),
        b"top secret"
    );
    assert!(!std::fs::symlink_metadata(root.join("escape2"))
        .unwrap()
        .file_type()
        .is_symlink());
}

/// A small file is read whole when it is opened (its download needs no more trips to the
/// blocking pool), yet a file that grows after that is still sent to its end; only large files
/// offer their file for `sendfile`.
#[test]
fn file_system_reads_small_files_when_opening_them() {
    use std::io::Write;
    let dir = TempDir::new("read-ahead");
    let storage = FsStorage::new(&dir.0).unwrap();
    let small: Vec<u8> = (0..10_000u32).map(|i| (i % 251) as u8).collect();
    std::fs::write(dir.0.join("small"), &small).unwrap();
    std::fs::write(dir.0.join("large"), vec![7u8; 100_000]).unwrap();
    block_on(async {
        let mut download = storage.open_read(cx(), vp("/small"), 0).await.unwrap();
        assert!(download.reader.bypass_file().is_none());
        // Overwritten in place: a reader that had not read the bytes yet would see zeros.
        std::fs::OpenOptions::new()
            .write(true)
            .open(dir.0.join("small"))
            .unwrap()
            .write_all(&vec![0; small.len()])
            .unwrap();
        let mut out = Vec::new();
        let mut buf = vec![0u8; 4096];
        loop {
            let (back, n) = download.reader.read(buf).await;
            buf = back;
            match n.unwrap() {
                0 => break,
                n => out.extend_from_slice(&buf[..n]),
            }
        }
        assert_eq!(out, small, "the bytes were read at the open");

        std::fs::write(dir.0.join("growing"), b"12345").unwrap();
        let mut download = storage.open_read(cx(), vp("/growing"), 2).await.unwrap();
        let mut file = std::fs::OpenOptions::new()
            .append(true)
            .open(dir.0.join("growing"))
            .unwrap();
        file.write_all(b"678").unwrap();
        let (buf, n) = download.reader.read(vec![0; 64]).await;
        assert_eq!(
            &buf[..n.unwrap()],
            b"345",
            "read at the open, one byte past the size"
        );
        let (_, n) = download.reader.read(buf).await;
        assert_eq!(n.unwrap(), 0, "the file had not grown at the open");

        let download = storage.open_read(cx(), vp("/large"), 0).await.unwrap();
        assert!(download.reader.bypass_file().is_some());
        let download = storage.open_read(cx(), vp("/large"), 90_000).await.unwrap();
        assert!(
            download.reader.bypass_file().is_none(),
            "10,000 bytes from the offset"
        );
    });
}

#[test]
fn file_system_refuses_special_files_and_hides_uploads_in_progress() {
    let dir = TempDir::new("special");
    let status = std::process::Command::new("mkfifo")
        .arg(dir.0.join("fifo"))
        .status();
    let storage = FsStorage::new(&dir.0).unwrap();
    if matches!(status, Ok(s) if s.success()) {
        assert_eq!(
            kind(read_all(&storage, "/fifo", 0)),
            StorageErrorKind::PermissionDenied
        );
        assert_eq!(
            kind(block_on(storage.open_write(
                cx(),
                vp("/fifo"),
                StoreMode::Create,
                0
            ))),
            StorageErrorKind::PermissionDenied
        );
    }
    let pending = upload(&storage, "/big", StoreMode::Create, 0, b"data");
    let on_disk: Vec<_> = std::fs::read_dir(&dir.0)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .filter(|n| n.starts_with(fs::TEMP_PREFIX))
        .collect();
    assert_eq!(
        on_disk.len(),
        1,
        "the upload writes a hidden temporary file"
    );
    assert!(!names(&storage, "/").iter().any(|n| n.starts_with('.')));
    assert_eq!(
        kind(block_on(
            storage.metadata(cx(), vp(&format!("/{}", on_disk[0])))
        )),
        StorageErrorKind::NotFound
    );
    drop(pending);
    let left: Vec<_> = std::fs::read_dir(&dir.0)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .filter(|n| n.starts_with(fs::TEMP_PREFIX))
        .collect();
    assert!(
        left.is_empty(),
        "a dropped upload removes its temporary file"
    );
}

#[test]
fn file_system_commit_dropped_mid_way_settles_before_the_drop_returns() {
    use futures_lite::future::poll_once;
    use std::time::Duration;

    let dir = TempDir::new("commit-drop");
    let storage = FsStorage::new(&dir.0).unwrap();
    // A pool whose jobs start late: the commit is still queued when its future is dropped.
    let slow = BlockingPool::new(|job| {
        std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(300));
            job();
        });
    });
    let slow_cx = StorageContext::new("tester", Permissions::ALL, slow);
    let entries = || std::fs::read_dir(&dir.0).unwrap().count();
    for keep in [false, true] {
        let name = format!("up-{keep}.bin");
        let mut upload =
            block_on(storage.open_write(slow_cx.clone(), vp(&name), StoreMode::Create, 0)).unwrap();
        let (_, written) = block_on(upload.writer.write(b"every ".to_vec()));
        written.unwrap();
        // The last bytes come with the commit, in the same job on the pool.
        let mut commit = upload.writer.write_and_commit(b"byte".to_vec());
        assert!(
            block_on(poll_once(&mut commit)).is_none(),
            "the commit waits for the pool"
        );
        if keep {
            block_on(commit).unwrap();
            assert_eq!(std::fs::read(dir.0.join(&name)).unwrap(), b"every byte");
        } else {
            drop(commit);
            // Settled when the drop returns: no temporary file, no target.
            assert_eq!(entries(), 0, "an aborted upload left something behind");
            // And the queued rename never makes the file appear later.
            std::thread::sleep(Duration::from_millis(600));
            assert_eq!(entries(), 0, "the dropped commit renamed the upload later");
        }
    }
}

#[cfg(feature = "opendal")]
#[path = "../../tests/support/s3_server.rs"]
mod s3_server;

/// The OpenDAL back end on a real S3 server (s3s-fs), from threads that run no tokio runtime
/// (`block_on` here is futures-lite's): every call crosses to the storage's own runtime.
#[cfg(feature = "opendal")]
mod object_store {
    use super::s3_server::{S3Server, ACCESS_KEY, BUCKET, SECRET_KEY};
    use super::*;

    fn config(server: &S3Server, prefix: &str) -> S3Config {
        S3Config {
            bucket: BUCKET.into(),
            prefix: prefix.into(),
            endpoint: Some(server.endpoint.clone()),
            region: None,
            access_key_id: ACCESS_KEY.into(),
            secret_access_key: SECRET_KEY.into(),
        }
    }

    /// s3s-fs keeps objects as files, so folders need the hidden marker.
    fn storage(server: &S3Server) -> OpenDalStorage {
        OpenDalStorage::s3(&config(server, ""))
            .unwrap()
            .folder_marker(FolderMarker::Object(".folder".into()))
    }

    #[test]
    fn object_store_back_end_conforms() {
        let server = S3Server::start();
        conformance(&storage(&server));
    }

    #[test]
    fn object_store_lists_across_pages() {
        // More than one S3 page (1000 keys) and more than one batch.
        let server = S3Server::start();
        lists_in_batches(&storage(&server), 1100);
    }

    #[test]
    fn object_store_serves_a_prefix_on_the_applications_runtime() {
        let server = S3Server::start();
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        let operator = config(&server, "srv/data").operator().unwrap();
        let storage = OpenDalStorage::with_runtime(operator, rt.handle().clone())
            .folder_marker(FolderMarker::Object(".folder".into()));
        block_on(storage.make_dir(cx(), vp("/pub"))).unwrap();
        write_file(&storage, "/pub/x.txt", b"below the prefix");
        // The hidden marker's name is not for uploads or renames.
        let marker = block_on(storage.open_write(cx(), vp("/pub/.folder"), StoreMode::Create, 0));
        assert_eq!(kind(marker), StorageErrorKind::InvalidName);
        let renamed = block_on(storage.rename(cx(), vp("/pub/x.txt"), vp("/.folder")));
        assert_eq!(kind(renamed), StorageErrorKind::InvalidName);
        let on_disk = server.bucket_dir().join("srv/data/pub/x.txt");
        assert_eq!(std::fs::read(on_disk).unwrap(), b"below the prefix");
        assert_eq!(names(&storage, "/"), ["pub"]);
        // From inside the runtime too.
        let inside = rt.block_on(list_all(&storage, "/pub", 10)).unwrap();
        assert_eq!(inside.len(), 1);
    }

    #[test]
    fn object_store_multipart_uploads_are_invisible_until_commit_and_abort_cleanly() {
        let server = S3Server::start();
        let storage = storage(&server).part_size(5 << 20);
        let data: Vec<u8> = (0..12u32 << 20).map(|i| (i % 251) as u8).collect();
        let big_upload = |name: &str| {
            block_on(async {
                let mut up = storage
                    .open_write(cx(), vp(name), StoreMode::Create, 0)
                    .await
                    .unwrap();
                for chunk in data.chunks(1 << 20) {
                    let (_, written) = up.writer.write(chunk.to_vec()).await;
                    written.unwrap();
                }
                up
            })
        };
        // Parts have been sent, but nothing shows before the commit.
        let pending = big_upload("/big.bin");
        assert!(names(&storage, "/").is_empty());
        assert_eq!(server.pending_uploads(), 1, "parts went to the store");
        block_on(pending.writer.commit()).unwrap();
        assert_eq!(read_all(&storage, "/big.bin", 0).unwrap(), data);
        assert_eq!(
            read_all(&storage, "/big.bin", 5_000_000).unwrap(),
            &data[5_000_000..]
        );
        // Aborted and dropped multipart uploads leave nothing.
        block_on(big_upload("/aborted.bin").writer.abort());
        drop(big_upload("/dropped.bin"));
        assert_eq!(server.settle_uploads(), 0, "multipart uploads left pending");
        assert_eq!(names(&storage, "/"), ["big.bin"]);
        // A commit dropped before it ran is settled when the drop returns: nothing appears.
        let up = big_upload("/commit-dropped.bin");
        let mut commit = up.writer.commit();
        let _ = block_on(futures_lite::future::poll_once(&mut commit));
        drop(commit);
        assert_eq!(server.settle_uploads(), 0, "multipart uploads left pending");
        let left = names(&storage, "/");
        assert!(
            left == ["big.bin"] || left == ["big.bin", "commit-dropped.bin"],
            "{left:?}"
        );
        if left.len() == 2 {
            // The commit had started: then the whole file is there.
            assert_eq!(read_all(&storage, "/commit-dropped.bin", 0).unwrap(), data);
        }
    }
}
