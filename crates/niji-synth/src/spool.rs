//! Many output files written a line at a time: claim files per facility
//! and month, DPC files per hospital and month, care files per provider and
//! month, FHIR NDJSON per hospital and month. Persons are generated one
//! after another, and each touches files across every month, so every
//! block of persons adds a little to nearly every file.
//!
//! Opening each file for every line (or every block) would cost hundreds of
//! millions of opens at scale, and keeping them all open would exhaust file
//! handles. So lines are encoded and queued per file in memory. When the
//! queues pass [`LIMIT`], they are appended, tagged with their file, to a
//! few sequential run files (one per bucket of files); at the end each
//! bucket is read back once and every file in it written whole, once. That
//! is an external sort by file: memory stays bounded by the limit and one
//! bucket, and each output file is opened once however large the run. A run
//! that never passes the limit writes its files straight from memory.
//!
//! The claim, DPC and care files are Shift_JIS with CRLF; the FHIR NDJSON
//! files are UTF-8 with LF, as the bulk-data format requires.

use crate::SynthError;
use std::collections::HashMap;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

/// Bytes queued across all files before they go to the run files.
const LIMIT: usize = 32 << 20;

/// Persons per bucket of run files: at about 10 MB of claims per 1,000
/// persons, a bucket read back at the end stays near 100 MB.
const PERSONS_PER_BUCKET: u64 = 10_000;

/// How a spool's lines are encoded and ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Text {
    /// Shift_JIS (CP932) with CRLF, as レセ電, DPC and care files are.
    ShiftJisCrlf,
    /// UTF-8 with LF (NDJSON).
    Utf8Lf,
}

/// Queued lines of many files under one directory.
pub(crate) struct Spool {
    root: PathBuf,
    /// Where the run files go: `ROOT/.spool/NAME/BUCKET.run`.
    runs: PathBuf,
    buckets: u64,
    text: Text,
    files: HashMap<String, Queue>,
    queued: usize,
    /// Bytes queued before a spill: [`LIMIT`], smaller in tests.
    limit: usize,
    /// Whether anything went to the run files yet.
    spilled: bool,
}

struct Queue {
    lines: u64,
    bytes: Vec<u8>,
}

impl Spool {
    /// A spool named `name` (unique within `root`) for a run of `persons`.
    pub(crate) fn new(root: &Path, name: &str, text: Text, persons: u64) -> Self {
        Self {
            root: root.to_path_buf(),
            runs: root.join(".spool").join(name),
            buckets: persons.div_ceil(PERSONS_PER_BUCKET).clamp(1, 4096),
            text,
            files: HashMap::new(),
            queued: 0,
            limit: LIMIT,
            spilled: false,
        }
    }

    /// Lines queued or written so far to a file (0 for a new one).
    pub(crate) fn lines(&self, relative: &str) -> u64 {
        self.files.get(relative).map_or(0, |q| q.lines)
    }

    /// Queues one line in the spool's encoding; returns its 1-based line
    /// number. A character with no Shift_JIS form is an error naming the
    /// file and line.
    pub(crate) fn line(&mut self, relative: &str, text: &str) -> Result<u64, SynthError> {
        // Look up before inserting: the key is allocated once per file, not
        // once per line.
        if !self.files.contains_key(relative) {
            self.files.insert(
                relative.to_owned(),
                Queue {
                    lines: 0,
                    bytes: Vec::new(),
                },
            );
        }
        let queue = self.files.get_mut(relative).expect("inserted above");
        queue.lines += 1;
        let before = queue.bytes.len();
        match self.text {
            Text::ShiftJisCrlf => {
                if !encode_shift_jis(text, &mut queue.bytes) {
                    queue.bytes.truncate(before);
                    return Err(SynthError::Invalid(format!(
                        "{relative}: line {}: a character has no Shift_JIS form",
                        queue.lines
                    )));
                }
                queue.bytes.extend_from_slice(b"\r\n");
            }
            Text::Utf8Lf => {
                queue.bytes.extend_from_slice(text.as_bytes());
                queue.bytes.push(b'\n');
            }
        }
        self.queued += queue.bytes.len() - before;
        Ok(queue.lines)
    }

    /// Moves every queue to the run files if the limit is passed.
    pub(crate) fn relieve(&mut self) -> Result<(), SynthError> {
        if self.queued > self.limit {
            self.spill()?;
        }
        Ok(())
    }

    fn bucket(&self, relative: &str) -> u64 {
        crate::names::stable_hash(relative) % self.buckets
    }

    fn run_path(&self, bucket: u64) -> PathBuf {
        self.runs.join(format!("{bucket:04}.run"))
    }

    /// Appends every non-empty queue to its bucket's run file as
    /// `path length, path, data length, data` (lengths u64 little-endian).
    fn spill(&mut self) -> Result<(), SynthError> {
        let mut by_bucket: HashMap<u64, Vec<&str>> = HashMap::new();
        for (relative, queue) in &self.files {
            if !queue.bytes.is_empty() {
                by_bucket
                    .entry(self.bucket(relative))
                    .or_default()
                    .push(relative);
            }
        }
        create_dir(&self.runs)?;
        for (bucket, relatives) in by_bucket {
            let path = self.run_path(bucket);
            let io = |source| SynthError::Io {
                path: path.clone(),
                source,
            };
            let file = std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(&path)
                .map_err(io)?;
            let mut out = BufWriter::with_capacity(1 << 20, file);
            for relative in relatives {
                let bytes = &self.files[relative].bytes;
                for part in [
                    &(relative.len() as u64).to_le_bytes()[..],
                    relative.as_bytes(),
                    &(bytes.len() as u64).to_le_bytes()[..],
                    bytes,
                ] {
                    out.write_all(part).map_err(io)?;
                }
            }
            out.flush().map_err(io)?;
        }
        // Release the buffers, not just empty them: hundreds of thousands of
        // files each keeping its largest queue's capacity would hold memory
        // that grows with the run.
        for queue in self.files.values_mut() {
            queue.bytes = Vec::new();
        }
        self.queued = 0;
        self.spilled = true;
        Ok(())
    }

    /// Writes every file whole. Returns the number of files and their bytes.
    pub(crate) fn finish(mut self) -> Result<(u64, u64), SynthError> {
        let mut made = std::collections::HashSet::new();
        let mut bytes = 0;
        if !self.spilled {
            for (relative, queue) in &self.files {
                bytes += write_whole(&self.root, relative, &[&queue.bytes], &mut made)?;
            }
            return Ok((self.files.len() as u64, bytes));
        }
        self.spill()?;
        for bucket in 0..self.buckets {
            let path = self.run_path(bucket);
            if !path.exists() {
                continue;
            }
            let io = |source| SynthError::Io {
                path: path.clone(),
                source,
            };
            let run = std::fs::read(&path).map_err(io)?;
            let parts = parse_run(&run)
                .ok_or_else(|| io(std::io::Error::other("a run file is damaged")))?;
            // Parts of a file keep their order: runs are read as written.
            let mut grouped: HashMap<&str, Vec<&[u8]>> = HashMap::new();
            for (relative, data) in parts {
                grouped.entry(relative).or_default().push(data);
            }
            for (relative, data) in &grouped {
                bytes += write_whole(&self.root, relative, data, &mut made)?;
            }
            std::fs::remove_file(&path).map_err(io)?;
        }
        let _ = std::fs::remove_dir(&self.runs);
        // The last spool to finish removes the shared parent.
        let _ = std::fs::remove_dir(self.root.join(".spool"));
        Ok((self.files.len() as u64, bytes))
    }

    /// The full path of a file.
    pub(crate) fn path(&self, relative: &str) -> PathBuf {
        self.root.join(relative)
    }
}

/// The (file, data) parts of a run file, or None if it is cut short.
fn parse_run(run: &[u8]) -> Option<Vec<(&str, &[u8])>> {
    let mut parts = Vec::new();
    let mut at = 0;
    let take = |n: usize, at: &mut usize| {
        let slice = run.get(*at..*at + n)?;
        *at += n;
        Some(slice)
    };
    while at < run.len() {
        let len = u64::from_le_bytes(take(8, &mut at)?.try_into().ok()?) as usize;
        let relative = std::str::from_utf8(take(len, &mut at)?).ok()?;
        let len = u64::from_le_bytes(take(8, &mut at)?.try_into().ok()?) as usize;
        parts.push((relative, take(len, &mut at)?));
    }
    Some(parts)
}

fn create_dir(path: &Path) -> Result<(), SynthError> {
    std::fs::create_dir_all(path).map_err(|source| SynthError::Io {
        path: path.to_path_buf(),
        source,
    })
}

/// Creates `root/relative` holding `parts` in order; returns its length.
fn write_whole(
    root: &Path,
    relative: &str,
    parts: &[&[u8]],
    made: &mut std::collections::HashSet<PathBuf>,
) -> Result<u64, SynthError> {
    let path = root.join(relative);
    if let Some(parent) = path.parent()
        && !made.contains(parent)
    {
        create_dir(parent)?;
        made.insert(parent.to_path_buf());
    }
    let io = |source| SynthError::Io {
        path: path.clone(),
        source,
    };
    let mut file = std::fs::File::create(&path).map_err(io)?;
    let mut length = 0;
    for part in parts {
        file.write_all(part).map_err(io)?;
        length += part.len() as u64;
    }
    Ok(length)
}

/// Appends `text` as Shift_JIS to `out`; false if a character has no
/// Shift_JIS form.
fn encode_shift_jis(text: &str, out: &mut Vec<u8>) -> bool {
    // ASCII lines come back borrowed, without a copy.
    let (encoded, _, unmappable) = encoding_rs::SHIFT_JIS.encode(text);
    out.extend_from_slice(&encoded);
    !unmappable
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Lines for a few files, spread over several spills when `limit` is
    /// small; returns the files as read back.
    fn write(limit: usize, persons: u64) -> (Vec<(String, Vec<u8>)>, u64) {
        let dir = tempfile::tempdir().unwrap();
        let mut spool = Spool::new(dir.path(), "test", Text::ShiftJisCrlf, persons);
        spool.limit = limit;
        let mut counts: HashMap<String, u64> = HashMap::new();
        for i in 0..500 {
            let file = format!("m{}/f{}.txt", i % 3, i % 7);
            let n = spool
                .line(&file, &format!("行{i},{}", "x".repeat(i % 11)))
                .unwrap();
            let count = counts.entry(file).or_default();
            *count += 1;
            assert_eq!(n, *count, "line numbers count per file");
            spool.relieve().unwrap();
        }
        let (files, bytes) = spool.finish().unwrap();
        assert!(!dir.path().join(".spool").exists(), "run files left behind");
        let mut read: Vec<(String, Vec<u8>)> = Vec::new();
        for m in 0..3 {
            for f in 0..7 {
                let relative = format!("m{m}/f{f}.txt");
                if let Ok(bytes) = std::fs::read(dir.path().join(&relative)) {
                    read.push((relative, bytes));
                }
            }
        }
        assert_eq!(files as usize, read.len());
        (read, bytes)
    }

    #[test]
    fn spilled_files_equal_files_written_from_memory() {
        let (direct, direct_bytes) = write(LIMIT, 1);
        let (spilled, spilled_bytes) = write(64, 50_000);
        assert_eq!(direct, spilled);
        assert_eq!(direct_bytes, spilled_bytes);
        let total: usize = direct.iter().map(|(_, b)| b.len()).sum();
        assert_eq!(total as u64, direct_bytes);
        // Shift_JIS with CRLF, lines in the order given.
        let (encoded, _, _) = encoding_rs::SHIFT_JIS.encode("行0,\r\n");
        assert!(direct[0].1.starts_with(&encoded));
    }

    #[test]
    fn a_character_without_a_shift_jis_form_names_file_and_line() {
        let dir = tempfile::tempdir().unwrap();
        let mut spool = Spool::new(dir.path(), "test", Text::ShiftJisCrlf, 1);
        spool.line("a.txt", "ok").unwrap();
        let err = spool.line("a.txt", "😀").unwrap_err().to_string();
        assert_eq!(err, "a.txt: line 2: a character has no Shift_JIS form");
    }
}
