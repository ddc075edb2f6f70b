//! LIST, NLST and MLSD output from storage entries, with ftp-proto's listing writers, streamed
//! a batch at a time ([`ListingReader`]).

use std::io;

use ftp_proto::listing::{format_nlst, Entry, EntryKind, LsFormatter, MlsxEntry, UnixMode};
use ftp_proto::server::ListFormat;
use ftp_proto::Timestamp;

use crate::storage::{
    timestamp, BoxFuture, DirEntry, DirLister, FileKind, FileRead, StorageError, LIST_BATCH,
};

fn entry_kind(kind: FileKind) -> EntryKind {
    match kind {
        FileKind::File => EntryKind::File,
        FileKind::Dir => EntryKind::Dir,
        FileKind::Symlink => EntryKind::Symlink,
        _ => EntryKind::Unknown,
    }
}

/// The listing's bytes (CRLF line ends: LIST and NLST go as TYPE A, MLSD as its own format).
/// Entries a listing cannot carry (names with CR, LF or NUL) are left out.
#[cfg(test)]
pub(crate) fn format(entries: &[DirEntry], format: ListFormat) -> Vec<u8> {
    format_batch(entries, format, now())
}

/// The clock for `ls -l` dates (recent files show the time, older ones the year).
pub(crate) fn now() -> Timestamp {
    timestamp(std::time::SystemTime::now())
        .unwrap_or_else(|| Timestamp::new(2000, 1, 1, 0, 0, 0).expect("valid"))
}

/// One batch of a listing, formatted as [`format`] does. LIST's `ls -l` columns are as wide as
/// this batch needs: a listing of up to [`LIST_BATCH`] entries is one batch and has the same
/// columns throughout; a longer one may shift its columns between batches (each line still
/// parses on its own, which is all FTP clients rely on).
pub(crate) fn format_batch(entries: &[DirEntry], format: ListFormat, now: Timestamp) -> Vec<u8> {
    let mut out = Vec::with_capacity(entries.len() * 64);
    match format {
        ListFormat::Nlst => {
            for entry in entries {
                let _ = format_nlst([&entry.name], &mut out);
            }
        }
        ListFormat::Mlsd { facts } => {
            for entry in entries {
                let facts = entry.metadata.mlsx_facts(facts);
                let _ = MlsxEntry::new(facts, entry.name.clone()).write_mlsd_line(&mut out);
            }
        }
        _ => {
            let entries: Vec<Entry> = entries.iter().map(ls_entry).collect();
            let formatter = LsFormatter::for_entries(now, &entries);
            for entry in &entries {
                let _ = formatter.write_entry(entry, &mut out);
            }
        }
    }
    out
}

/// A listing as a byte source for the data connection: formats the next batch of entries
/// when the previous one has been sent, so it holds one batch (at most [`LIST_BATCH`]
/// entries and their lines) at a time, whatever the size of the directory.
pub(crate) struct ListingReader {
    lister: Option<Box<dyn DirLister>>,
    format: ListFormat,
    now: Timestamp,
    /// The formatted batch being sent, and how much of it was.
    pending: Vec<u8>,
    sent: usize,
}

impl ListingReader {
    /// The listing of a directory.
    pub(crate) fn directory(lister: Box<dyn DirLister>, format: ListFormat) -> Self {
        Self {
            lister: Some(lister),
            format,
            now: now(),
            pending: Vec::new(),
            sent: 0,
        }
    }

    /// The listing of one file (LIST or NLST of a file's name).
    pub(crate) fn file(entry: DirEntry, format: ListFormat) -> Self {
        let now = now();
        Self {
            lister: None,
            format,
            now,
            pending: format_batch(std::slice::from_ref(&entry), format, now),
            sent: 0,
        }
    }

    async fn fill(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        loop {
            if self.sent < self.pending.len() {
                let n = (self.pending.len() - self.sent).min(buf.len());
                buf[..n].copy_from_slice(&self.pending[self.sent..self.sent + n]);
                self.sent += n;
                return Ok(n);
            }
            let Some(lister) = &mut self.lister else {
                return Ok(0);
            };
            let batch = lister
                .next_batch(LIST_BATCH)
                .await
                .map_err(|e: StorageError| {
                    io::Error::other(format!("listing failed: {:?}", e.kind))
                })?;
            if batch.is_empty() {
                self.lister = None;
            }
            self.pending = format_batch(&batch, self.format, self.now);
            self.sent = 0;
        }
    }
}

impl FileRead for ListingReader {
    fn read(&mut self, mut buf: Vec<u8>) -> BoxFuture<'_, (Vec<u8>, io::Result<usize>)> {
        Box::pin(async move {
            let result = self.fill(&mut buf).await;
            (buf, result)
        })
    }
}

fn ls_entry(entry: &DirEntry) -> Entry {
    let meta = &entry.metadata;
    let mut out = Entry::new(entry.name.clone(), entry_kind(meta.kind));
    out.size = meta.size;
    out.modified = meta.modified;
    out.mode = meta
        .unix_mode
        .map(|mode| UnixMode::new((mode & 0o7777) as u16));
    out.links = Some(1);
    out
}

#[cfg(test)]
mod tests {
    use bytes::Bytes;
    use ftp_proto::server::FactSet;

    use super::*;
    use crate::storage::Metadata;

    fn entry(name: &'static str, kind: FileKind, size: u64) -> DirEntry {
        let mut metadata = Metadata::new(kind);
        metadata.size = Some(size);
        metadata.modified = Timestamp::new(2020, 5, 17, 10, 30, 0).ok();
        metadata.perm = Some(if kind == FileKind::Dir { "el" } else { "r" }.into());
        metadata.unix_mode = Some(if kind == FileKind::Dir { 0o755 } else { 0o644 });
        DirEntry {
            name: Bytes::from_static(name.as_bytes()),
            metadata,
        }
    }

    /// A folder of `total` entries made up as they are asked for, counting the batches.
    struct Generated {
        next: usize,
        total: usize,
        batches: std::sync::Arc<std::sync::atomic::AtomicUsize>,
    }

    impl DirLister for Generated {
        fn next_batch(&mut self, max: usize) -> BoxFuture<'_, Result<Vec<DirEntry>, StorageError>> {
            self.batches
                .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            let end = (self.next + max).min(self.total);
            let batch = (self.next..end)
                .map(|i| {
                    let mut e = entry("x", FileKind::File, i as u64);
                    e.name = Bytes::from(format!("file-{i:07}"));
                    e
                })
                .collect();
            self.next = end;
            Box::pin(std::future::ready(Ok(batch)))
        }
    }

    fn read_some(reader: &mut ListingReader, bytes: usize) -> Vec<u8> {
        let mut out = Vec::new();
        let mut buf = vec![0u8; 4096];
        while out.len() < bytes {
            let (back, n) = futures_lite::future::block_on(reader.read(buf));
            buf = back;
            let n = n.unwrap();
            if n == 0 {
                break;
            }
            out.extend_from_slice(&buf[..n]);
        }
        out
    }

    #[test]
    fn listings_are_formatted_a_batch_at_a_time() {
        let batches = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let huge = Generated {
            next: 0,
            total: 10_000_000,
            batches: std::sync::Arc::clone(&batches),
        };
        let mut reader = ListingReader::directory(Box::new(huge), ListFormat::Nlst);
        let start = read_some(&mut reader, 100_000);
        assert!(start.starts_with(b"file-0000000\r\nfile-0000001\r\n"));
        // 100 kB of names is a handful of batches of a folder of ten million.
        let asked = batches.load(std::sync::atomic::Ordering::Relaxed);
        assert!(asked <= 10, "{asked} batches read ahead");
    }

    #[test]
    fn a_listing_within_one_batch_is_formatted_as_a_whole() {
        let entries: Vec<DirEntry> = (0..LIST_BATCH)
            .map(|i| entry("x", FileKind::File, (i * i * 977) as u64))
            .enumerate()
            .map(|(i, mut e)| {
                e.name = Bytes::from(format!("f{i}"));
                e
            })
            .collect();
        let lister = Box::new(crate::storage::VecLister::new(entries.clone()));
        let mut reader = ListingReader::directory(lister, ListFormat::List);
        let streamed = read_some(&mut reader, usize::MAX);
        assert_eq!(streamed, format(&entries, ListFormat::List));
    }

    #[test]
    fn formats_each_listing_kind() {
        let entries = [
            entry("pub", FileKind::Dir, 4096),
            entry("readme.txt", FileKind::File, 1234567),
            entry("bad\r\nname", FileKind::File, 1),
        ];
        let nlst = format(&entries, ListFormat::Nlst);
        assert_eq!(nlst, b"pub\r\nreadme.txt\r\n");
        let mlsd = format(
            &entries,
            ListFormat::Mlsd {
                facts: FactSet::TYPE.union(FactSet::SIZE).union(FactSet::PERM),
            },
        );
        assert_eq!(
            String::from_utf8(mlsd).unwrap(),
            "Type=dir;Perm=el; pub\r\nType=file;Size=1234567;Perm=r; readme.txt\r\n"
        );
        let list = String::from_utf8(format(&entries, ListFormat::List)).unwrap();
        let lines: Vec<&str> = list.split("\r\n").filter(|l| !l.is_empty()).collect();
        assert_eq!(lines.len(), 2);
        assert!(lines[0].starts_with("drwxr-xr-x"), "{list}");
        assert!(lines[0].ends_with(" May 17  2020 pub"), "{list}");
        assert!(lines[1].starts_with("-rw-r--r--"), "{list}");
        assert!(
            lines[1].ends_with(" 1234567 May 17  2020 readme.txt"),
            "{list}"
        );
        // Stable columns: the name starts at the same offset on every line.
        assert_eq!(lines[0].len() - 3, lines[1].len() - 10);
    }
}
