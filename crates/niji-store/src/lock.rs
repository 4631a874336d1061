//! The single-writer lock of a data directory.
//!
//! DuckDB lets one process open a database file for writing. Its own refusal
//! is a low-level message; this lock comes first and turns the same situation
//! into "store in use by pid N", naming the process an operator has to look
//! at. The lock is `flock`-style (`File::try_lock`), so the kernel releases it
//! when the holder exits, however it exits: a crashed process never leaves a
//! stale lock behind, only a stale pid in a file nobody reads.

use crate::StoreError;
use std::fs::{File, OpenOptions, TryLockError};
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

/// Held for as long as a [`crate::Store`] is open.
#[derive(Debug)]
pub(crate) struct WriterLock {
    _file: File,
}

impl WriterLock {
    /// Takes the lock at `path`, or says which process holds it.
    pub(crate) fn acquire(path: &Path) -> Result<Self, StoreError> {
        let io = |source| StoreError::Io {
            path: path.to_path_buf(),
            source,
        };
        let mut file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(path)
            .map_err(io)?;
        match file.try_lock() {
            Ok(()) => {}
            Err(TryLockError::WouldBlock) => {
                return Err(StoreError::InUse {
                    path: path.to_path_buf(),
                    pid: holder_pid(&mut file),
                });
            }
            Err(TryLockError::Error(source)) => return Err(io(source)),
        }
        file.set_len(0).map_err(io)?;
        file.seek(SeekFrom::Start(0)).map_err(io)?;
        write!(file, "{}", std::process::id()).map_err(io)?;
        file.sync_data().map_err(io)?;
        Ok(Self { _file: file })
    }
}

/// The pid the holder wrote, if it has written it yet.
fn holder_pid(file: &mut File) -> Option<u32> {
    let mut text = String::new();
    file.read_to_string(&mut text).ok()?;
    text.trim().parse().ok()
}

/// The lock file of a store file: `control.duckdb` → `control.lock`.
pub(crate) fn lock_path(store_file: &Path) -> PathBuf {
    store_file.with_extension("lock")
}
