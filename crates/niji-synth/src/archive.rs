//! Checkup documents packed into ZIP archives on a thread of their own.
//!
//! Real checkup results travel as ZIP submissions of many CDA documents,
//! and one file per document would cost a run over a million file creations
//! at scale. Each fiscal year's documents go into archives of at most
//! [`BATCH`] documents, so the archive writers' central directories (the
//! only state that grows with the entries) stay bounded.
//!
//! Deflating is the costliest part of writing a checkup, so it runs on a
//! second thread: the generator hands each document over a bounded channel
//! and goes on. One thread writes every archive in the order documents
//! arrive, which keeps the output byte-identical.

use crate::SynthError;
use chrono::{Datelike, NaiveDate};
use std::collections::BTreeMap;
use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::sync::mpsc::{Receiver, SyncSender, sync_channel};
use std::thread::JoinHandle;
use zip::write::SimpleFileOptions;
use zip::{CompressionMethod, DateTime, ZipWriter};

/// Documents per archive.
pub const BATCH: u64 = 20_000;

/// Documents in flight between the generator and the archive thread.
const IN_FLIGHT: usize = 256;

/// One document for an archive.
struct Entry {
    /// The archive, relative to the output directory.
    archive: String,
    /// The fiscal year, which keeps one archive open at a time per year.
    year: i32,
    /// The document's name inside the archive.
    name: String,
    /// The day of the checkup, recorded as the entry's time.
    date: NaiveDate,
    bytes: Vec<u8>,
}

/// The sending end; [`Archiver::finish`] reports the thread's result.
pub(crate) struct Archiver {
    sender: Option<SyncSender<Entry>>,
    thread: Option<JoinHandle<Result<(u64, u64), SynthError>>>,
    /// Documents sent per fiscal year, which numbers the archives.
    per_year: BTreeMap<i32, u64>,
    batch: u64,
}

impl Archiver {
    /// Starts the archive thread; archives hold at most `batch` documents.
    pub(crate) fn start(root: &Path, batch: u64) -> Self {
        let (sender, receiver) = sync_channel(IN_FLIGHT);
        let root = root.to_path_buf();
        let thread = std::thread::Builder::new()
            .name("niji-synth-archives".into())
            .spawn(move || write_archives(&root, receiver))
            .expect("spawn the archive thread");
        Self {
            sender: Some(sender),
            thread: Some(thread),
            per_year: BTreeMap::new(),
            batch: batch.max(1),
        }
    }

    /// Queues a document of fiscal year `year`, named `name` inside its
    /// archive; returns the archive's path relative to the output directory.
    pub(crate) fn document(
        &mut self,
        year: i32,
        name: String,
        date: NaiveDate,
        bytes: Vec<u8>,
    ) -> Result<String, SynthError> {
        let sent = self.per_year.entry(year).or_insert(0);
        let archive = format!("checkups/FY{year}/batch-{:04}.zip", *sent / self.batch + 1);
        *sent += 1;
        let entry = Entry {
            archive: archive.clone(),
            year,
            name,
            date,
            bytes,
        };
        let sender = self.sender.as_ref().expect("sender lives until finish");
        if sender.send(entry).is_err() {
            // The thread stopped on an error; report it.
            return Err(self.join().err().unwrap_or_else(|| {
                SynthError::Invalid("the checkup archive thread stopped".into())
            }));
        }
        Ok(archive)
    }

    /// Closes every archive; returns (archives, bytes).
    pub(crate) fn finish(mut self) -> Result<(u64, u64), SynthError> {
        self.join()
    }

    fn join(&mut self) -> Result<(u64, u64), SynthError> {
        drop(self.sender.take());
        match self.thread.take() {
            Some(thread) => thread.join().unwrap_or_else(|_| {
                Err(SynthError::Invalid(
                    "the checkup archive thread panicked".into(),
                ))
            }),
            None => Ok((0, 0)),
        }
    }
}

impl Drop for Archiver {
    fn drop(&mut self) {
        // A failed run drops the archiver early; wait for the thread so
        // it is not writing while the staging directory is removed.
        let _ = self.join();
    }
}

struct Open {
    archive: String,
    path: PathBuf,
    zip: ZipWriter<BufWriter<File>>,
}

fn write_archives(root: &Path, receiver: Receiver<Entry>) -> Result<(u64, u64), SynthError> {
    let mut open: BTreeMap<i32, Open> = BTreeMap::new();
    let (mut archives, mut bytes) = (0, 0);
    for entry in receiver {
        let current = open.get(&entry.year).map(|o| o.archive.as_str());
        if current != Some(entry.archive.as_str()) {
            if let Some(done) = open.remove(&entry.year) {
                bytes += close(done)?;
            }
            open.insert(entry.year, create(root, &entry.archive)?);
            archives += 1;
        }
        let archive = open.get_mut(&entry.year).expect("opened above");
        add(archive, &entry)?;
    }
    for (_, done) in open {
        bytes += close(done)?;
    }
    Ok((archives, bytes))
}

fn create(root: &Path, archive: &str) -> Result<Open, SynthError> {
    let (path, file) = crate::writer::create_file(root, archive)?;
    Ok(Open {
        archive: archive.to_owned(),
        zip: ZipWriter::new(BufWriter::with_capacity(1 << 20, file)),
        path,
    })
}

fn add(archive: &mut Open, entry: &Entry) -> Result<(), SynthError> {
    let zip_error = |e: zip::result::ZipError| SynthError::Io {
        path: archive.path.clone(),
        source: std::io::Error::other(format!("{}: {e}", entry.name)),
    };
    let time = DateTime::from_date_and_time(
        entry.date.year().clamp(1980, 2107) as u16,
        entry.date.month() as u8,
        entry.date.day() as u8,
        0,
        0,
        0,
    )
    .unwrap_or_default();
    // Level 1: checkup XML is repetitive enough that the fastest level
    // already shrinks it about tenfold.
    let options = SimpleFileOptions::default()
        .compression_method(CompressionMethod::Deflated)
        .compression_level(Some(1))
        .last_modified_time(time)
        .unix_permissions(0o644);
    archive
        .zip
        .start_file(entry.name.as_str(), options)
        .map_err(zip_error)?;
    archive
        .zip
        .write_all(&entry.bytes)
        .map_err(|source| SynthError::Io {
            path: archive.path.clone(),
            source,
        })
}

fn close(archive: Open) -> Result<u64, SynthError> {
    let io = |source| SynthError::Io {
        path: archive.path.clone(),
        source,
    };
    let mut file = archive
        .zip
        .finish()
        .map_err(|e| io(std::io::Error::other(e.to_string())))?;
    file.flush().map_err(io)?;
    let file = file.into_inner().map_err(|e| io(e.into_error()))?;
    Ok(file.metadata().map_err(io)?.len())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read;

    fn day(y: i32, m: u32, d: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, d).unwrap()
    }

    #[test]
    fn archives_roll_over_at_the_batch_size_per_year() {
        let dir = tempfile::tempdir().unwrap();
        let mut archiver = Archiver::start(dir.path(), 2);
        let mut placed = Vec::new();
        for (i, year) in [2019, 2020, 2019, 2019, 2020].into_iter().enumerate() {
            let doc = format!("<doc n=\"{i}\"/>").into_bytes();
            let at = archiver
                .document(year, format!("{i}.xml"), day(year, 6, 1), doc)
                .unwrap();
            placed.push(at);
        }
        assert_eq!(archiver.finish().unwrap().0, 3);
        assert_eq!(
            placed,
            [
                "checkups/FY2019/batch-0001.zip",
                "checkups/FY2020/batch-0001.zip",
                "checkups/FY2019/batch-0001.zip",
                "checkups/FY2019/batch-0002.zip",
                "checkups/FY2020/batch-0001.zip",
            ]
        );
        let file = File::open(dir.path().join("checkups/FY2019/batch-0001.zip")).unwrap();
        let mut zip = zip::ZipArchive::new(file).unwrap();
        assert_eq!(zip.len(), 2);
        let mut text = String::new();
        zip.by_name("2.xml")
            .unwrap()
            .read_to_string(&mut text)
            .unwrap();
        assert_eq!(text, "<doc n=\"2\"/>");
    }

    #[test]
    fn a_write_failure_is_reported_with_its_path() {
        let dir = tempfile::tempdir().unwrap();
        // A file where the checkups directory should be.
        std::fs::write(dir.path().join("checkups"), b"").unwrap();
        let mut archiver = Archiver::start(dir.path(), 10);
        let mut failed = None;
        for i in 0..1000 {
            let sent = archiver.document(2019, format!("{i}.xml"), day(2019, 6, 1), vec![b'x']);
            if let Err(e) = sent {
                failed = Some(e);
                break;
            }
        }
        let err = failed.or_else(|| archiver.finish().err()).unwrap();
        assert!(err.to_string().contains("checkups"), "{err}");
    }
}
