//! Many output files written a line at a time: claim files per facility
//! and month, DPC files per hospital and month, care files per provider and
//! month. Opening each file for every line (or every block) would cost tens
//! of millions of opens at scale; keeping them all open would exhaust file
//! handles. So lines are encoded and queued per file, and every file's
//! queue is appended to disk when the total passes a limit, which bounds
//! memory and opens alike.

use crate::SynthError;
use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};

/// Bytes queued across all files before they are appended to disk.
const LIMIT: usize = 32 << 20;

/// Queued lines of many files under one directory.
pub(crate) struct Spool {
    root: PathBuf,
    files: BTreeMap<String, Queue>,
    queued: usize,
}

struct Queue {
    lines: u64,
    bytes: Vec<u8>,
}

impl Spool {
    pub(crate) fn new(root: &Path) -> Self {
        Self {
            root: root.to_path_buf(),
            files: BTreeMap::new(),
            queued: 0,
        }
    }

    /// Lines queued or written so far to a file (0 for a new one).
    pub(crate) fn lines(&self, relative: &str) -> u64 {
        self.files.get(relative).map_or(0, |q| q.lines)
    }

    /// Queues one line, encoded as Shift_JIS with CRLF; returns its 1-based
    /// line number. A character with no Shift_JIS form is an error naming
    /// the file and line.
    pub(crate) fn line(&mut self, relative: &str, text: &str) -> Result<u64, SynthError> {
        let (encoded, _, unmappable) = encoding_rs::SHIFT_JIS.encode(text);
        let queue = self.files.entry(relative.to_owned()).or_insert(Queue {
            lines: 0,
            bytes: Vec::new(),
        });
        queue.lines += 1;
        if unmappable {
            return Err(SynthError::Invalid(format!(
                "{relative}: line {}: a character has no Shift_JIS form",
                queue.lines
            )));
        }
        queue.bytes.extend_from_slice(&encoded);
        queue.bytes.extend_from_slice(b"\r\n");
        self.queued += encoded.len() + 2;
        Ok(queue.lines)
    }

    /// Appends every queue to disk if the limit is passed.
    pub(crate) fn relieve(&mut self) -> Result<(), SynthError> {
        if self.queued > LIMIT {
            self.flush()?;
        }
        Ok(())
    }

    fn flush(&mut self) -> Result<(), SynthError> {
        for (relative, queue) in &mut self.files {
            if queue.bytes.is_empty() {
                continue;
            }
            let path = self.root.join(relative);
            let io = |source| SynthError::Io {
                path: path.clone(),
                source,
            };
            if let Some(parent) = path.parent() {
                std::fs::create_dir_all(parent).map_err(io)?;
            }
            std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(&path)
                .and_then(|mut file| file.write_all(&queue.bytes))
                .map_err(io)?;
            queue.bytes.clear();
        }
        self.queued = 0;
        Ok(())
    }

    /// Writes everything queued. Returns the number of files and their bytes.
    pub(crate) fn finish(mut self) -> Result<(u64, u64), SynthError> {
        self.flush()?;
        let mut bytes = 0;
        for relative in self.files.keys() {
            let path = self.root.join(relative);
            bytes += std::fs::metadata(&path)
                .map_err(|source| SynthError::Io {
                    path: path.clone(),
                    source,
                })?
                .len();
        }
        Ok((self.files.len() as u64, bytes))
    }

    /// The full path of a file.
    pub(crate) fn path(&self, relative: &str) -> PathBuf {
        self.root.join(relative)
    }
}
