//! Local files written by downloads: [`PartFile`], a temporary file beside the target that
//! replaces it only when the download succeeded, so a refused or cut-short download never
//! truncates or overwrites what was there.

use std::fs::{File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU32, Ordering};

use crate::error::Error;

/// A download's temporary file, `.NAME.part-PID-N` in the target's folder (the same file
/// system, so the final rename is atomic). Removed when dropped without
/// [`commit`](Self::commit). What `retrieve_to` writes through; public for programs that
/// move the bytes themselves (with a progress bar, say).
#[derive(Debug)]
pub struct PartFile {
    file: Option<File>,
    temp: PathBuf,
    target: PathBuf,
}

impl PartFile {
    /// Creates the temporary file for `target` (which is neither opened nor touched).
    pub fn beside(target: &Path) -> Result<Self, Error> {
        static NEXT: AtomicU32 = AtomicU32::new(0);
        let name = target
            .file_name()
            .ok_or_else(|| local_error(target, io::Error::other("names no file")))?;
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        let mut temp_name = std::ffi::OsString::from(".");
        temp_name.push(name);
        temp_name.push(format!(".part-{}-{n}", std::process::id()));
        let temp = target.with_file_name(temp_name);
        let file = OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&temp)
            .map_err(|e| local_error(&temp, e))?;
        Ok(Self {
            file: Some(file),
            temp,
            target: target.to_path_buf(),
        })
    }

    /// Appends `data` to the temporary file.
    pub fn write(&mut self, data: &[u8]) -> Result<(), Error> {
        match self.file.as_mut() {
            Some(file) => file.write_all(data).map_err(|e| local_error(&self.temp, e)),
            None => Err(self.gone()),
        }
    }

    /// Flushes the temporary file to disk and renames it over the target.
    pub fn commit(mut self) -> Result<(), Error> {
        let file = self.file.take().ok_or_else(|| self.gone())?;
        file.sync_all().map_err(|e| local_error(&self.temp, e))?;
        drop(file);
        std::fs::rename(&self.temp, &self.target).map_err(|e| local_error(&self.target, e))
    }

    fn gone(&self) -> Error {
        local_error(&self.temp, io::Error::other("already committed"))
    }
}

impl Drop for PartFile {
    fn drop(&mut self) {
        if self.file.take().is_some() {
            let _ = std::fs::remove_file(&self.temp);
        }
    }
}

/// [`Error::Local`] for `path`.
pub(crate) fn local_error(path: &Path, source: io::Error) -> Error {
    Error::Local {
        path: path.to_path_buf(),
        source,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scratch(name: &str) -> PathBuf {
        let dir =
            std::env::temp_dir().join(format!("ftp-client-part-{}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }

    #[test]
    fn the_target_changes_only_at_commit() {
        let dir = scratch("commit");
        let target = dir.join("a.txt");
        std::fs::write(&target, b"old").unwrap();
        let mut part = PartFile::beside(&target).unwrap();
        part.write(b"new bytes").unwrap();
        assert_eq!(std::fs::read(&target).unwrap(), b"old");
        part.commit().unwrap();
        assert_eq!(std::fs::read(&target).unwrap(), b"new bytes");
        assert_eq!(
            std::fs::read_dir(&dir).unwrap().count(),
            1,
            "no temporary file left"
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn dropped_it_leaves_the_target_and_no_temporary_file() {
        let dir = scratch("drop");
        let target = dir.join("a.txt");
        std::fs::write(&target, b"old").unwrap();
        let mut part = PartFile::beside(&target).unwrap();
        part.write(b"partial").unwrap();
        drop(part);
        assert_eq!(std::fs::read(&target).unwrap(), b"old");
        assert_eq!(std::fs::read_dir(&dir).unwrap().count(), 1);
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
