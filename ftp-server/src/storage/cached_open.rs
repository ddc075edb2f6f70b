//! Opening a file for download on the calling thread, without a trip to the blocking pool,
//! when the kernel can do it from its caches (Linux): the path with `openat2(2)`'s
//! `RESOLVE_CACHED` (which fails with `EAGAIN` rather than read a directory from disk), a
//! small file's bytes with `preadv2(2)`'s `RWF_NOWAIT` (the same for pages not in memory).
//! A pool trip costs two thread hand-offs, more than opening and reading a cached file of a
//! few KiB: without it the 1 KiB RETRs of `benches/benches/server_load.rs` ran 13 % (tokio)
//! and 24 % (async-io) faster.
//!
//! Only the plain case is taken here: anything else (not cached, not a regular file, a name
//! the resolution refuses, an error) returns `None`, and [`super::fs`]'s blocking way runs as
//! before and gives every error its answer. The resolution stays below the root
//! (`RESOLVE_BENEATH`: no `..` above it, no absolute or magic link), so what opens here is a
//! file the blocking way would have served too.

use std::fs::File;
use std::os::fd::OwnedFd;

/// What [`open`] opened: the file positioned after `ahead`'s bytes (none when they are all
/// that is left of it: it is closed at once), its size, and a small file's bytes read at once
/// (with whether the file ended after them).
pub(super) struct Opened {
    pub(super) file: Option<File>,
    pub(super) size: u64,
    pub(super) ahead: Option<(Vec<u8>, bool)>,
}

/// Opens `relative` (names separated by `/`, no `.` or `..`) below the directory `root` for
/// reading from `offset`, if nothing about it has to wait for a disk; reads it whole when at
/// most `read_whole` bytes remain and they are all in memory.
#[cfg(target_os = "linux")]
pub(super) fn open(
    root: &OwnedFd,
    relative: &[u8],
    offset: u64,
    read_whole: u64,
) -> Option<Opened> {
    use std::os::unix::ffi::OsStrExt;
    use std::sync::atomic::{AtomicBool, Ordering};

    use rustix::fs::{fcntl_setfl, fstat, openat2, FileType, Mode, OFlags};
    use rustix::fs::{seek, ResolveFlags, SeekFrom};
    use rustix::io::Errno;

    /// Off once the kernel shows it cannot (older than Linux 5.12, or a sandbox that refuses
    /// the call): no use asking again for every file.
    static SUPPORTED: AtomicBool = AtomicBool::new(true);

    // A name with a NUL cannot be passed (the blocking way refuses it too); it is refused
    // here, before the call, so that its `EINVAL` is not taken for a kernel's.
    if !SUPPORTED.load(Ordering::Relaxed) || relative.contains(&0) {
        return None;
    }
    let path = if relative.is_empty() {
        std::ffi::OsStr::new(".")
    } else {
        std::ffi::OsStr::from_bytes(relative)
    };
    // O_NONBLOCK: a FIFO must not wait for a writer (it is refused below).
    let flags = OFlags::RDONLY | OFlags::CLOEXEC | OFlags::NOCTTY | OFlags::NONBLOCK;
    let resolve = ResolveFlags::CACHED | ResolveFlags::BENEATH | ResolveFlags::NO_MAGICLINKS;
    let fd = match openat2(root, path, flags, Mode::empty(), resolve) {
        Ok(fd) => fd,
        Err(Errno::NOSYS | Errno::INVAL | Errno::PERM) => {
            SUPPORTED.store(false, Ordering::Relaxed);
            return None;
        }
        Err(_) => return None,
    };
    let stat = fstat(&fd).ok()?;
    if FileType::from_raw_mode(stat.st_mode) != FileType::RegularFile {
        return None;
    }
    let size = u64::try_from(stat.st_size).ok()?;
    if offset > size {
        return None;
    }
    let remaining = size - offset;
    let ahead = (remaining <= read_whole)
        .then(|| read_cached(&fd, offset, remaining))
        .flatten();
    if ahead.as_ref().is_some_and(|(_, ended)| *ended) {
        return Some(Opened {
            file: None,
            size,
            ahead,
        });
    }
    // Blocking reads from here on (the blocking pool's); of the flags F_SETFL changes, the
    // open asked for O_NONBLOCK only.
    fcntl_setfl(&fd, OFlags::empty()).ok()?;
    let position = offset + ahead.as_ref().map_or(0, |(bytes, _)| bytes.len() as u64);
    seek(&fd, SeekFrom::Start(position)).ok()?;
    Some(Opened {
        file: Some(File::from(fd)),
        size,
        ahead,
    })
}

/// The `remaining` bytes from `offset` when they are all in memory, and whether the file
/// ended there: one byte more is asked for, so that a file that grew is noticed (and read on
/// later).
#[cfg(target_os = "linux")]
fn read_cached(fd: &OwnedFd, offset: u64, remaining: u64) -> Option<(Vec<u8>, bool)> {
    use rustix::io::{preadv2, ReadWriteFlags};

    let mut bytes = vec![0; usize::try_from(remaining).ok()? + 1];
    let n = preadv2(
        fd,
        &mut [std::io::IoSliceMut::new(&mut bytes)],
        offset,
        ReadWriteFlags::NOWAIT,
    )
    .ok()?;
    // A short read is the end of the file only if it stopped exactly at the size seen;
    // otherwise part of it is not in memory, and the blocking way reads it.
    let ended = match n as u64 {
        n if n == remaining => true,
        n if n == remaining + 1 => false,
        _ => return None,
    };
    bytes.truncate(n);
    Some((bytes, ended))
}

#[cfg(not(target_os = "linux"))]
pub(super) fn open(_: &OwnedFd, _: &[u8], _: u64, _: u64) -> Option<Opened> {
    None
}

#[cfg(all(test, target_os = "linux"))]
mod tests {
    use std::io::Read;

    use super::*;
    use crate::storage::tests::TempDir;

    fn root_of(dir: &TempDir) -> OwnedFd {
        OwnedFd::from(File::open(&dir.0).unwrap())
    }

    /// [`open`], tried again for a while: a cached lookup also gives up (`EAGAIN`) when a
    /// rename anywhere on the system (the tests running beside) races its walk.
    fn open_soon(root: &OwnedFd, relative: &[u8], offset: u64, read_whole: u64) -> Opened {
        for _ in 0..200 {
            if let Some(opened) = open(root, relative, offset, read_whole) {
                return opened;
            }
            std::thread::sleep(std::time::Duration::from_millis(5));
        }
        panic!(
            "{} did not open from the caches",
            String::from_utf8_lossy(relative)
        );
    }

    #[test]
    fn a_small_cached_file_comes_whole_and_closed_a_larger_one_open_at_its_offset() {
        let dir = TempDir::new("cached-small");
        std::fs::create_dir(dir.0.join("sub")).unwrap();
        std::fs::write(dir.0.join("sub/f.txt"), b"0123456789").unwrap();
        let root = root_of(&dir);
        let opened = open_soon(&root, b"sub/f.txt", 4, 100);
        assert_eq!(opened.size, 10);
        assert_eq!(opened.ahead, Some((b"456789".to_vec(), true)));
        assert!(
            opened.file.is_none(),
            "nothing is left to read from the file"
        );
        // Larger than `read_whole`: nothing read, the file open at the offset, for the
        // blocking pool's reads.
        let opened = open_soon(&root, b"sub/f.txt", 3, 5);
        assert_eq!(opened.ahead, None);
        let mut file = opened.file.expect("the file, open");
        let flags = rustix::fs::fcntl_getfl(&file).unwrap();
        assert!(!flags.contains(rustix::fs::OFlags::NONBLOCK), "{flags:?}");
        let mut rest = String::new();
        file.read_to_string(&mut rest).unwrap();
        assert_eq!(rest, "3456789");
    }

    #[test]
    fn anything_but_a_plain_cached_file_below_the_root_takes_the_blocking_way() {
        let outside = TempDir::new("cached-outside");
        std::fs::write(outside.0.join("secret"), b"top secret").unwrap();
        let dir = TempDir::new("cached-jail");
        std::fs::create_dir(dir.0.join("sub")).unwrap();
        std::fs::write(dir.0.join("sub/inside.txt"), b"inside").unwrap();
        let link = |target: &std::path::Path, name: &str| {
            std::os::unix::fs::symlink(target, dir.0.join(name)).unwrap();
        };
        link(&outside.0.join("secret"), "escape");
        link(std::path::Path::new("../../../../../etc/passwd"), "sub/up");
        link(&dir.0.join("sub/inside.txt"), "absolute_inside");
        link(std::path::Path::new("sub/inside.txt"), "relative_inside");
        let made = std::process::Command::new("mkfifo")
            .arg(dir.0.join("fifo"))
            .status()
            .unwrap();
        assert!(made.success());
        let root = root_of(&dir);
        for refused in [
            "escape",
            "sub/up",
            "absolute_inside",
            "fifo",
            "sub",
            "",
            "none",
        ] {
            assert!(
                open(&root, refused.as_bytes(), 0, 100).is_none(),
                "{refused}"
            );
        }
        assert!(
            open(&root, b"sub/inside.txt", 7, 100).is_none(),
            "offset past the end"
        );
        // A link that stays below the root may open here (the kernel gives up following
        // links from its caches while renames run anywhere on the system; the blocking way
        // then serves it), and then it is the file it names.
        if let Some(opened) = open(&root, b"relative_inside", 0, 100) {
            assert_eq!(opened.ahead, Some((b"inside".to_vec(), true)));
        }
    }
}
