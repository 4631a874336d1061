//! Release storage: a release as a directory of partitioned Parquet with
//! its manifest, which every engine reads in place.
//!
//! ```text
//! releases/claims/
//!   manifest.json                       tables, columns, counting aids, files with checksums
//!   tables/persons/part_0.parquet
//!   tables/claims/fiscal_year=2024/month=4/part_0.parquet
//!   tables/claims/fiscal_year=2024/month=5/part_0.parquet
//!   …
//! ```
//!
//! A table with a date column is laid out in Hive style by the Japanese
//! fiscal year (April to March) and month of that column, so that a file
//! holds one month of claims and storage can be added a year at a time.
//! The directories are layout only: the files hold every column, and
//! engines read them as plain Parquet (no partition columns are inferred),
//! so that DuckDB and DataFusion see one schema. The platform's counting
//! aids stay beside the rows: the hidden person bucket and person index
//! are columns of every file, the most rows one person has and the number
//! of persons are in the manifest, as are the column descriptions.
//!
//! A release is written from the build's DuckDB working file
//! ([`publish`]) into `NAME.partial` and renamed when complete, its files
//! and directories read-only. Readers go through `object_store` (the local
//! filesystem here; the manifest's paths are relative, so the same layout
//! works on S3-compatible storage), and [`Release::open`] checks that the
//! directory holds exactly the manifest's files at their sizes, so that
//! every engine reads the same rows; [`Release::verify`] checks every
//! file's SHA-256.

use crate::QueryError;
use crate::plan::{ident as quote_ident, text_literal as quote_literal};
use duckdb::Connection;
use futures::TryStreamExt;
use niji_core::{bucket, person_index, person_rows};
use object_store::ObjectStore;
use object_store::local::LocalFileSystem;
use object_store::path::Path as StorePath;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// The manifest's file name in a release directory.
pub const MANIFEST: &str = "manifest.json";

/// The layout's version, in the manifest.
pub const FORMAT: u32 = 1;

/// The directory of a release's table files.
const TABLES: &str = "tables";

/// A file Parquet writers split at (bytes), so that a large month becomes
/// several files engines can read in parallel.
const FILE_SIZE: &str = "256MB";

/// What a release directory holds.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Manifest {
    /// [`FORMAT`].
    pub format: u32,
    /// The release's name.
    pub release: String,
    /// Its number of persons, the width of the person index.
    pub persons: u64,
    /// Its tables.
    pub tables: Vec<TableEntry>,
}

/// One table of a release.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TableEntry {
    /// Its name.
    pub name: String,
    /// Its rows.
    pub rows: u64,
    /// The most rows one person has in it (`niji_core::person_rows`).
    pub most_rows: u64,
    /// The date column whose fiscal year and month lay out its files.
    pub partitioned_by: Option<String>,
    /// Its columns in order, the hidden ones included.
    pub columns: Vec<ColumnEntry>,
    /// Its files, paths relative to the release directory.
    pub files: Vec<FileEntry>,
}

/// One column of a release table.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ColumnEntry {
    /// Its name.
    pub name: String,
    /// DuckDB's name of its type (`VARCHAR`, `BIGINT`, `DATE`, …).
    pub data_type: String,
    /// What it holds and how the release processed it.
    pub description: String,
}

/// One Parquet file of a release table.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileEntry {
    /// Its path relative to the release directory, with `/`.
    pub path: String,
    /// Its size in bytes.
    pub bytes: u64,
    /// Its rows.
    pub rows: u64,
    /// Its SHA-256, hex.
    pub sha256: String,
}

impl TableEntry {
    /// Whether it has column `name`.
    pub fn has_column(&self, name: &str) -> bool {
        self.columns.iter().any(|c| c.name == name)
    }
}

/// A release directory whose listing matches its manifest.
#[derive(Debug, Clone)]
pub struct Release {
    /// The directory.
    pub dir: PathBuf,
    /// Its manifest.
    pub manifest: Manifest,
}

/// Whether `path` is a release directory (rather than a release file of
/// the older single-file layout).
pub fn is_release_dir(path: &Path) -> bool {
    path.join(MANIFEST).is_file()
}

fn problem(path: &Path, reason: impl std::fmt::Display) -> QueryError {
    QueryError::Internal(format!("{}: {reason}", path.display()))
}

/// Runs an `object_store` future to its end. The local filesystem store
/// works without a runtime (it does its blocking work in place when none
/// is running), and the callers are synchronous.
fn wait<T>(future: impl std::future::Future<Output = T>) -> T {
    futures::executor::block_on(future)
}

fn store_of(dir: &Path) -> Result<LocalFileSystem, QueryError> {
    LocalFileSystem::new_with_prefix(dir).map_err(|e| problem(dir, e))
}

impl Release {
    /// Reads the manifest of release directory `dir` and checks that the
    /// directory holds exactly its files, at their sizes.
    pub fn open(dir: &Path) -> Result<Release, QueryError> {
        let store = store_of(dir)?;
        let bytes = wait(async { store.get(&StorePath::from(MANIFEST)).await?.bytes().await })
            .map_err(|e| problem(&dir.join(MANIFEST), e))?;
        let manifest: Manifest = serde_json::from_slice(&bytes)
            .map_err(|e| problem(&dir.join(MANIFEST), format!("line {}: {e}", e.line())))?;
        if manifest.format != FORMAT {
            return Err(problem(
                &dir.join(MANIFEST),
                format!(
                    "layout version {} (this platform reads {FORMAT})",
                    manifest.format
                ),
            ));
        }
        let listed: BTreeMap<String, u64> = wait(async {
            store
                .list(Some(&StorePath::from(TABLES)))
                .map_ok(|meta| (meta.location.to_string(), meta.size))
                .try_collect()
                .await
        })
        .map_err(|e| problem(&dir.join(TABLES), e))?;
        let expected: BTreeMap<String, u64> = manifest
            .tables
            .iter()
            .flat_map(|t| &t.files)
            .map(|f| (f.path.clone(), f.bytes))
            .collect();
        if let Some((path, _)) = listed.iter().find(|(p, _)| !expected.contains_key(*p)) {
            return Err(problem(
                &dir.join(path),
                "a file the manifest does not list",
            ));
        }
        for (path, bytes) in &expected {
            match listed.get(path) {
                None => return Err(problem(&dir.join(path), "missing")),
                Some(size) if size != bytes => {
                    return Err(problem(
                        &dir.join(path),
                        format!("{size} bytes, the manifest says {bytes}"),
                    ));
                }
                Some(_) => {}
            }
        }
        Ok(Release {
            dir: dir.to_owned(),
            manifest,
        })
    }

    /// Checks every file's SHA-256 against the manifest; the first that
    /// differs is the error.
    pub fn verify(&self) -> Result<(), QueryError> {
        let store = store_of(&self.dir)?;
        for file in self.manifest.tables.iter().flat_map(|t| &t.files) {
            let path = self.dir.join(&file.path);
            let digest = wait(async {
                let mut stream = store
                    .get(&StorePath::from(file.path.as_str()))
                    .await?
                    .into_stream();
                let mut context = ring::digest::Context::new(&ring::digest::SHA256);
                while let Some(chunk) = stream.try_next().await? {
                    context.update(&chunk);
                }
                Ok::<_, object_store::Error>(context.finish())
            })
            .map_err(|e| problem(&path, e))?;
            if hex(digest.as_ref()) != file.sha256 {
                return Err(problem(&path, "its SHA-256 differs from the manifest's"));
            }
        }
        Ok(())
    }

    /// Table `name`.
    pub fn table(&self, name: &str) -> Option<&TableEntry> {
        self.manifest.tables.iter().find(|t| t.name == name)
    }

    /// The absolute paths of table `table`'s files.
    pub fn files(&self, table: &TableEntry) -> Vec<PathBuf> {
        table.files.iter().map(|f| self.dir.join(&f.path)).collect()
    }

    /// The directory of table `table`'s files (what an engine that lists
    /// a location reads).
    pub fn table_dir(&self, table: &TableEntry) -> PathBuf {
        self.dir.join(TABLES).join(&table.name)
    }

    /// Table `name`'s pseudonym and `columns`, as one Parquet file (Snappy),
    /// read with DuckDB from the release's files: what a researcher
    /// downloads of a dummy release.
    pub fn columns_parquet(&self, name: &str, columns: &[String]) -> Result<Vec<u8>, QueryError> {
        let table = self
            .table(name)
            .ok_or_else(|| problem(&self.dir, format!("no table `{name}`")))?;
        let mut select = vec![crate::check::PSEUDONYM.to_owned()];
        select.extend(
            columns
                .iter()
                .filter(|c| !c.eq_ignore_ascii_case(crate::check::PSEUDONYM))
                .map(|c| format!("\"{}\"", c.replace('"', "\"\""))),
        );
        let sql = format!(
            "SELECT {} FROM {}",
            select.join(", "),
            self.duckdb_scan(table)
        );
        let conn = duckdb::Connection::open_in_memory().map_err(QueryError::from_duckdb)?;
        let mut stmt = conn.prepare(&sql).map_err(QueryError::from_duckdb)?;
        let batches: Vec<arrow_array::RecordBatch> = stmt
            .query_arrow([])
            .map_err(QueryError::from_duckdb)?
            .collect();
        let schema = stmt.schema();
        let props = parquet::file::properties::WriterProperties::builder()
            .set_compression(parquet::basic::Compression::SNAPPY)
            .build();
        let mut out = Vec::new();
        let mut writer = parquet::arrow::ArrowWriter::try_new(&mut out, schema, Some(props))
            .map_err(QueryError::internal)?;
        for batch in &batches {
            writer.write(batch).map_err(QueryError::internal)?;
        }
        writer.close().map_err(QueryError::internal)?;
        Ok(out)
    }

    /// DuckDB SQL reading table `table`'s files as plain Parquet.
    pub fn duckdb_scan(&self, table: &TableEntry) -> String {
        let files: Vec<String> = self
            .files(table)
            .iter()
            .map(|f| quote_literal(&f.to_string_lossy()))
            .collect();
        format!(
            "read_parquet([{}], hive_partitioning = false)",
            files.join(", ")
        )
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Writes the release directory `out` (named `release`) from the complete
/// DuckDB release file `work`: each table of its schema `main` as Parquet
/// (tables named in `partitions` laid out by the fiscal year and month of
/// the date column given), the manifest with the counting aids of its
/// schema `niji` and its column comments. Written into `out.partial` and
/// renamed when complete; files and directories read-only. `work` is left
/// as it was.
pub fn publish(
    work: &Path,
    out: &Path,
    release: &str,
    partitions: &[(String, String)],
) -> Result<Manifest, QueryError> {
    if out.exists() {
        return Err(problem(out, "exists"));
    }
    let partial = PathBuf::from(format!("{}.partial", out.display()));
    remove_tree(&partial);
    let written = write_release(work, &partial, release, partitions);
    let manifest = match written {
        Ok(m) => m,
        Err(e) => {
            remove_tree(&partial);
            return Err(e);
        }
    };
    std::fs::rename(&partial, out).map_err(|e| {
        remove_tree(&partial);
        problem(out, e)
    })?;
    read_only_tree(out).map_err(|e| problem(out, e))?;
    Ok(manifest)
}

fn write_release(
    work: &Path,
    dir: &Path,
    release: &str,
    partitions: &[(String, String)],
) -> Result<Manifest, QueryError> {
    let db = |e: duckdb::Error| problem(work, e);
    std::fs::create_dir_all(dir.join(TABLES)).map_err(|e| problem(dir, e))?;
    let config = duckdb::Config::default()
        .access_mode(duckdb::AccessMode::ReadOnly)
        .map_err(db)?;
    let conn = Connection::open_with_flags(work, config).map_err(db)?;
    conn.execute_batch(
        "SET autoinstall_known_extensions = false; SET autoload_known_extensions = false;",
    )
    .map_err(db)?;
    let mut stmt = conn
        .prepare(
            "SELECT table_name, column_name, data_type, coalesce(comment, '') FROM duckdb_columns() \
             WHERE database_name = current_database() AND schema_name = 'main' \
             ORDER BY table_name, column_index",
        )
        .map_err(db)?;
    let mut tables: Vec<TableEntry> = Vec::new();
    let rows = stmt
        .query_map([], |r| {
            Ok((
                r.get::<_, String>(0)?,
                ColumnEntry {
                    name: r.get(1)?,
                    data_type: r.get(2)?,
                    description: r.get(3)?,
                },
            ))
        })
        .and_then(|rows| rows.collect::<Result<Vec<_>, _>>())
        .map_err(db)?;
    for (table, column) in rows {
        match tables.last_mut() {
            Some(t) if t.name == table => t.columns.push(column),
            _ => tables.push(TableEntry {
                name: table,
                rows: 0,
                most_rows: 0,
                partitioned_by: None,
                columns: vec![column],
                files: Vec::new(),
            }),
        }
    }
    let most_rows = recorded_most_rows(&conn).map_err(db)?;
    let persons: u64 = conn
        .query_row(
            &format!("SELECT max(persons) FROM niji.{}", person_index::TABLE),
            [],
            |r| r.get::<_, Option<u64>>(0),
        )
        .map_err(db)?
        .unwrap_or(0);
    for table in &mut tables {
        table.most_rows = most_rows.get(&table.name).copied().unwrap_or(0);
        table.partitioned_by = partitions
            .iter()
            .find(|(t, c)| *t == table.name && table.has_column(c))
            .map(|(_, c)| c.clone());
        write_table(&conn, dir, table).map_err(|e| match e {
            Written::Db(e) => problem(work, format!("table {}: {e}", table.name)),
            Written::Io(path, e) => problem(&path, e),
        })?;
    }
    let manifest = Manifest {
        format: FORMAT,
        release: release.to_owned(),
        persons,
        tables,
    };
    let text = serde_json::to_vec_pretty(&manifest).map_err(|e| problem(dir, e))?;
    let path = dir.join(MANIFEST);
    write_synced(&path, &text).map_err(|e| problem(&path, e))?;
    Ok(manifest)
}

enum Written {
    Db(duckdb::Error),
    Io(PathBuf, std::io::Error),
}

impl From<duckdb::Error> for Written {
    fn from(e: duckdb::Error) -> Self {
        Written::Db(e)
    }
}

/// Writes `table`'s rows as Parquet under `dir`, and records its files,
/// rows and checksums.
fn write_table(conn: &Connection, dir: &Path, table: &mut TableEntry) -> Result<(), Written> {
    let target = dir.join(TABLES).join(&table.name);
    let name = quote_ident(&table.name);
    let rows: u64 = conn.query_row(&format!("SELECT count(*) FROM main.{name}"), [], |r| {
        r.get::<_, i64>(0)
    })? as u64;
    table.rows = rows;
    if rows == 0 {
        // One empty file keeps the table's schema for every engine.
        std::fs::create_dir_all(&target).map_err(|e| Written::Io(target.clone(), e))?;
        let file = target.join("part_0.parquet");
        conn.execute_batch(&format!(
            "COPY (SELECT * FROM main.{name}) TO {} (FORMAT parquet)",
            quote_literal(&file.to_string_lossy())
        ))?;
    } else if let Some(column) = &table.partitioned_by {
        let (layout, by) = partition_columns(conn, table, column)?;
        conn.execute_batch(&format!(
            "COPY (SELECT *, {layout} FROM main.{name}) \
             TO {} (FORMAT parquet, PARTITION_BY ({by}), FILENAME_PATTERN 'part_{{i}}', \
                    FILE_SIZE_BYTES '{FILE_SIZE}')",
            quote_literal(&target.to_string_lossy())
        ))?;
    } else {
        conn.execute_batch(&format!(
            "COPY (SELECT * FROM main.{name}) TO {} (FORMAT parquet, FILENAME_PATTERN 'part_{{i}}', \
                    FILE_SIZE_BYTES '{FILE_SIZE}')",
            quote_literal(&target.to_string_lossy())
        ))?;
    }
    let mut files = Vec::new();
    collect_files(&target, &mut files).map_err(|e| Written::Io(target.clone(), e))?;
    files.sort();
    let mut total = 0;
    for file in files {
        let relative = file
            .strip_prefix(dir)
            .map_err(|_| Written::Io(file.clone(), std::io::Error::other("outside the release")))?
            .components()
            .map(|c| c.as_os_str().to_string_lossy().into_owned())
            .collect::<Vec<_>>()
            .join("/");
        let bytes = std::fs::read(&file).map_err(|e| Written::Io(file.clone(), e))?;
        let file_rows: i64 = conn.query_row(
            "SELECT num_rows FROM parquet_file_metadata(?)",
            [file.to_string_lossy()],
            |r| r.get(0),
        )?;
        total += file_rows as u64;
        table.files.push(FileEntry {
            path: relative,
            bytes: bytes.len() as u64,
            rows: file_rows as u64,
            sha256: hex(ring::digest::digest(&ring::digest::SHA256, &bytes).as_ref()),
        });
        std::fs::File::open(&file)
            .and_then(|f| f.sync_all())
            .map_err(|e| Written::Io(file.clone(), e))?;
    }
    if total != rows {
        return Err(Written::Io(
            target,
            std::io::Error::other(format!("{total} rows written of {rows}")),
        ));
    }
    Ok(())
}

/// The layout columns of `table` by its date column `column` (SQL to
/// select them, and their names): the fiscal year (April to March) and
/// month of a date, or of a date generalized to its month (`2024-04`);
/// the calendar year of one generalized to its year, whose fiscal year is
/// unknown.
fn partition_columns(
    conn: &Connection,
    table: &TableEntry,
    column: &str,
) -> duckdb::Result<(String, &'static str)> {
    let c = quote_ident(column);
    let is_date = table.columns.iter().any(|e| {
        e.name == column && (e.data_type == "DATE" || e.data_type.starts_with("TIMESTAMP"))
    });
    let (year, month) = if is_date {
        (format!("year({c})"), format!("month({c})"))
    } else {
        let months: bool = conn.query_row(
            &format!(
                "SELECT coalesce(bool_and(length({c}) >= 7), false) FROM main.{} WHERE {c} IS NOT NULL",
                quote_ident(&table.name)
            ),
            [],
            |r| r.get(0),
        )?;
        if !months {
            return Ok((format!("TRY_CAST(left({c}, 4) AS INTEGER) AS year"), "year"));
        }
        (
            format!("TRY_CAST(left({c}, 4) AS INTEGER)"),
            format!("TRY_CAST(substr({c}, 6, 2) AS INTEGER)"),
        )
    };
    Ok((
        format!(
            "{year} - CASE WHEN {month} < 4 THEN 1 ELSE 0 END AS fiscal_year, {month} AS month"
        ),
        "fiscal_year, month",
    ))
}

/// The most rows one person has in each table, as the working file
/// records them.
fn recorded_most_rows(conn: &Connection) -> duckdb::Result<BTreeMap<String, u64>> {
    let mut stmt = conn.prepare(&format!(
        "SELECT table_name, most_rows FROM {}.{}",
        person_rows::SCHEMA,
        person_rows::TABLE
    ))?;
    stmt.query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, u64>(1)?)))?
        .collect()
}

fn collect_files(dir: &Path, out: &mut Vec<PathBuf>) -> std::io::Result<()> {
    for entry in std::fs::read_dir(dir)? {
        let path = entry?.path();
        if path.is_dir() {
            collect_files(&path, out)?;
        } else {
            out.push(path);
        }
    }
    Ok(())
}

fn write_synced(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    let mut file = std::fs::File::create(path)?;
    file.write_all(bytes)?;
    file.sync_all()
}

/// Makes every file and directory under `dir` (and `dir`) read-only.
fn read_only_tree(dir: &Path) -> std::io::Result<()> {
    for entry in std::fs::read_dir(dir)? {
        let path = entry?.path();
        if path.is_dir() {
            read_only_tree(&path)?;
        } else {
            set_read_only(&path, true)?;
        }
    }
    set_read_only(dir, true)
}

fn set_read_only(path: &Path, read_only: bool) -> std::io::Result<()> {
    let mut permissions = std::fs::metadata(path)?.permissions();
    #[allow(clippy::permissions_set_readonly_false)]
    permissions.set_readonly(read_only);
    std::fs::set_permissions(path, permissions)
}

/// Where a data directory keeps releases' dummy twins (`dummies/RELEASE/`,
/// release trees of their own built by `niji release dummy`).
pub const DUMMIES_DIR: &str = "dummies";

/// Moves release directory `from` to `to` (another parent on the same
/// filesystem), leaving it read-only: moving a directory to another parent
/// rewrites its `..`, which its own write permission guards.
pub fn move_tree(from: &Path, to: &Path) -> Result<(), QueryError> {
    set_read_only(from, false).map_err(|e| problem(from, e))?;
    std::fs::rename(from, to).map_err(|e| problem(to, e))?;
    set_read_only(to, true).map_err(|e| problem(to, e))
}

/// Removes release directory `dir` (read-only or not), as a failed build
/// or a release the store does not know leaves it.
pub fn remove_tree(dir: &Path) {
    fn writable(dir: &Path) {
        let _ = set_read_only(dir, false);
        if let Ok(entries) = std::fs::read_dir(dir) {
            for entry in entries.flatten() {
                let path = entry.path();
                if path.is_dir() {
                    writable(&path);
                } else {
                    let _ = set_read_only(&path, false);
                }
            }
        }
    }
    if dir.exists() {
        writable(dir);
        let _ = std::fs::remove_dir_all(dir);
    }
}

/// The names of the hidden columns engines never show researchers.
pub fn is_hidden(column: &str) -> bool {
    column == bucket::COLUMN || column == person_index::COLUMN
}

#[cfg(test)]
mod tests {
    use super::*;

    fn work_file(dir: &Path) -> PathBuf {
        let path = dir.join("work.duckdb");
        let conn = Connection::open(&path).unwrap();
        conn.execute_batch(&format!(
            "CREATE TABLE persons AS SELECT 'p' || lpad(i::VARCHAR, 3, '0') AS pseudonym, (i % 90)::BIGINT AS age, \
               i::UINTEGER AS {idx} FROM range(300) t(i);
             COMMENT ON COLUMN persons.age IS 'age in years';
             CREATE TABLE claims AS SELECT 'p' || lpad((i % 300)::VARCHAR, 3, '0') AS pseudonym, \
               DATE '2024-01-01' + (i % 400)::INTEGER AS start, (i * 7 % 1000)::BIGINT AS points, \
               (i % 300)::UINTEGER AS {idx} FROM range(5000) t(i);
             CREATE TABLE diagnoses AS SELECT 'p' || lpad((i % 300)::VARCHAR, 3, '0') AS pseudonym, \
               (2020 + i % 3)::VARCHAR AS start, strftime(DATE '2024-01-01' + (i * 40)::INTEGER, '%Y-%m') AS seen \
               FROM range(600) t(i);
             CREATE TABLE empty AS SELECT * FROM persons LIMIT 0;
             {pi}",
            idx = person_index::COLUMN,
            pi = person_index::record(),
        ))
        .unwrap();
        for t in ["persons", "claims", "diagnoses", "empty"] {
            conn.execute_batch(&person_rows::record(t)).unwrap();
        }
        path
    }

    #[test]
    fn a_release_is_written_partitioned_and_read_back_the_same() {
        let tmp = tempfile::tempdir().unwrap();
        let work = work_file(tmp.path());
        let out = tmp.path().join("claims");
        let partitions = [
            ("claims".to_owned(), "start".to_owned()),
            ("diagnoses".to_owned(), "start".to_owned()),
        ];
        let manifest = publish(&work, &out, "claims", &partitions).unwrap();
        // Dates generalized to years lie in calendar years; to months, in
        // fiscal years and months.
        let diagnoses = manifest
            .tables
            .iter()
            .find(|t| t.name == "diagnoses")
            .unwrap();
        assert!(
            diagnoses.files.iter().all(|f| f.path.contains("/year=202")),
            "{:?}",
            diagnoses.files
        );
        let work_conn = Connection::open(&work).unwrap();
        work_conn
            .execute_batch("CREATE TABLE by_month AS SELECT pseudonym, seen FROM diagnoses")
            .unwrap();
        drop(work_conn);
        let by_month = tmp.path().join("by-month");
        let m = publish(
            &work,
            &by_month,
            "m",
            &[("by_month".to_owned(), "seen".to_owned())],
        )
        .unwrap();
        let t = m.tables.iter().find(|t| t.name == "by_month").unwrap();
        assert!(
            t.files
                .iter()
                .any(|f| f.path == "tables/by_month/fiscal_year=2023/month=3/part_0.parquet"),
            "{:?}",
            t.files
        );
        remove_tree(&by_month);
        assert!(!tmp.path().join("claims.partial").exists());
        assert_eq!(manifest.persons, 300);
        let claims = manifest.tables.iter().find(|t| t.name == "claims").unwrap();
        assert_eq!(claims.rows, 5000);
        assert_eq!(claims.most_rows, 17);
        assert_eq!(claims.partitioned_by.as_deref(), Some("start"));
        // January 2024 is fiscal 2023; 400 days reach February 2025.
        assert!(
            claims
                .files
                .iter()
                .any(|f| f.path == "tables/claims/fiscal_year=2023/month=1/part_0.parquet"),
            "{:?}",
            claims.files
        );
        assert!(
            claims
                .files
                .iter()
                .any(|f| f.path.contains("fiscal_year=2024/month=4/"))
        );
        assert_eq!(claims.files.iter().map(|f| f.rows).sum::<u64>(), 5000);
        let persons = manifest
            .tables
            .iter()
            .find(|t| t.name == "persons")
            .unwrap();
        assert_eq!(persons.columns[1].description, "age in years");
        assert_eq!(persons.columns[2].data_type, "UINTEGER");
        let empty = manifest.tables.iter().find(|t| t.name == "empty").unwrap();
        assert_eq!((empty.rows, empty.files.len()), (0, 1));

        let release = Release::open(&out).unwrap();
        assert_eq!(release.manifest, manifest);
        release.verify().unwrap();
        // DuckDB reads the files back: the same rows, the same types.
        let conn = Connection::open_in_memory().unwrap();
        let scan = release.duckdb_scan(release.table("claims").unwrap());
        let (n, total, ty): (i64, i64, String) = conn
            .query_row(
                &format!("SELECT count(*), sum(points), any_value(typeof(start)) FROM {scan}"),
                [],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
            )
            .unwrap();
        let expected: i64 = (0..5000i64).map(|i| i * 7 % 1000).sum();
        assert_eq!((n, total, ty.as_str()), (5000, expected, "DATE"));
        // Nothing of the layout is a column.
        let columns: i64 = conn
            .query_row(
                &format!("SELECT count(*) FROM (DESCRIBE SELECT * FROM {scan})"),
                [],
                |r| r.get(0),
            )
            .unwrap();
        assert_eq!(columns, 4);
        // Written read-only, and refused a second time.
        assert!(std::fs::metadata(&out).unwrap().permissions().readonly());
        assert!(publish(&work, &out, "claims", &partitions).is_err());
        remove_tree(&out);
        assert!(!out.exists());
    }

    #[test]
    fn a_directory_that_differs_from_its_manifest_is_refused_with_the_file() {
        let tmp = tempfile::tempdir().unwrap();
        let work = work_file(tmp.path());
        let out = tmp.path().join("r");
        publish(&work, &out, "r", &[]).unwrap();
        let file = out.join("tables/persons/part_0.parquet");
        // A changed byte: the listing still matches, the checksum does not.
        set_read_only(&file, false).unwrap();
        let mut bytes = std::fs::read(&file).unwrap();
        let middle = bytes.len() / 2;
        bytes[middle] ^= 1;
        std::fs::write(&file, &bytes).unwrap();
        let release = Release::open(&out).unwrap();
        let e = release.verify().unwrap_err().to_string();
        assert!(
            e.contains("tables/persons/part_0.parquet") && e.contains("SHA-256"),
            "{e}"
        );
        // A file more: refused at open.
        set_read_only(&out.join("tables/persons"), false).unwrap();
        std::fs::write(out.join("tables/persons/extra.parquet"), b"x").unwrap();
        let e = Release::open(&out).unwrap_err().to_string();
        assert!(
            e.contains("extra.parquet") && e.contains("does not list"),
            "{e}"
        );
        remove_tree(&out);
    }
}
