//! `niji store migrate`: a platform's control plane copied to another
//! backend, whole.
//!
//! The target is brought to its backend's current schema first; it must
//! hold no platform yet. Every table is then copied row for row, values
//! converted by type (a DuckDB or PostgreSQL timestamp becomes SQLite's
//! fixed-width text and back; SQLite's 0 and 1 become booleans), in one
//! transaction on the target: it has the whole platform or nothing. The
//! access log's events keep their ids and times, so its tree, its
//! checkpoints and every receipt a citizen holds verify on the target as
//! they did on the source ([`Store::copy_to`] checks it before it returns).

use crate::db::{Conn, Location, Value};
use crate::{Store, StoreError};

/// Rows read and written at a time.
const ROWS_AT_ONCE: usize = 5_000;

/// What a copy did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Copied {
    /// Where to.
    pub target: String,
    /// Rows per table, by table name.
    pub tables: Vec<(String, u64)>,
    /// The access log's size, verified on the target.
    pub log_entries: u64,
    /// Checkpoints verified on the target.
    pub checkpoints: usize,
}

impl Store {
    /// Copies this store's platform to the empty store at `target`
    /// (created with its schema if need be), then verifies the access log
    /// and its checkpoints there. `progress` hears of each table and how
    /// many of its rows are copied.
    pub fn copy_to(
        &self,
        target: &Location,
        mut progress: impl FnMut(&str, u64),
    ) -> Result<Copied, StoreError> {
        if target == self.conn.location() {
            return Err(StoreError::Refused(format!(
                "{} is this platform's own store",
                target.display()
            )));
        }
        // A new SQLite file that did not receive the platform must not stay
        // behind: the data directory would open it instead of the source.
        let new_file = match target {
            Location::Sqlite(file) if !file.exists() => Some(file.clone()),
            _ => None,
        };
        let copied = self.copy_into(target, &mut progress);
        if copied.is_err()
            && let Some(file) = new_file
        {
            for suffix in ["", "-wal", "-shm"] {
                let mut name = file.clone().into_os_string();
                name.push(suffix);
                let _ = std::fs::remove_file(name);
            }
        }
        copied
    }

    fn copy_into(
        &self,
        target: &Location,
        progress: &mut impl FnMut(&str, u64),
    ) -> Result<Copied, StoreError> {
        let to = Store::open_with_at(&self.dir, target, None)?;
        if to.initialized_at()?.is_some()
            || to.conn.value::<i64>("SELECT count(*) FROM accounts", &[])? > 0
        {
            return Err(StoreError::Refused(format!(
                "{} holds a platform already; copy into an empty store (nothing was written)",
                target.display()
            )));
        }
        let tables = to.conn.tables()?;
        let tx = to.conn.transaction()?;
        let mut copied = Vec::with_capacity(tables.len());
        for table in &tables {
            let rows = copy_table(&self.conn, &tx, table, progress)?;
            copied.push((table.clone(), rows));
        }
        move_sequences_on(&tx, &tables)?;
        tx.commit()?;
        let log_entries = to.verify_log()?;
        let checkpoints = to.verify_checkpoints()?;
        if log_entries != self.log_size()? {
            return Err(StoreError::Damaged {
                what: format!(
                    "{} holds {log_entries} log entries after the copy, not {}",
                    target.display(),
                    self.log_size()?
                ),
            });
        }
        Ok(Copied {
            target: target.display(),
            tables: copied,
            log_entries,
            checkpoints,
        })
    }
}

/// Copies one table's rows, the target's columns, from `from` to `to`.
fn copy_table(
    from: &Conn,
    to: &Conn,
    table: &str,
    progress: &mut impl FnMut(&str, u64),
) -> Result<u64, StoreError> {
    let columns = to.columns(table)?;
    let have = from.columns(table)?;
    if let Some(missing) = columns.iter().find(|c| !have.contains(c)) {
        return Err(StoreError::Refused(format!(
            "{}: table {table} has no column {missing}; open it with this niji once to bring its schema up to date",
            from.location().display()
        )));
    }
    let list = columns.join(", ");
    // What the target's own migrations put in (the governance count's row)
    // gives way to the source's.
    to.execute(&format!("DELETE FROM {table}"), &[])?;
    let refs: Vec<&str> = columns.iter().map(String::as_str).collect();
    let pages = Pages::of(to, table, &columns)?;
    let mut copied = 0u64;
    let mut last: Option<Vec<Value>> = None;
    loop {
        let page: Vec<Vec<Value>> = pages
            .next(from, &list, table, copied, last.as_deref())?
            .into_iter()
            .map(|row| row.0)
            .collect();
        to.insert_rows(table, &refs, &page)?;
        copied += page.len() as u64;
        progress(table, copied);
        if page.len() < ROWS_AT_ONCE {
            break;
        }
        last = page.last().map(|row| pages.key_of(row));
    }
    // Whatever the paging, every row: a source whose rows repeat a key the
    // target's schema declares would otherwise lose some unseen.
    let total: i64 = from.value(&format!("SELECT count(*) FROM {table}"), &[])?;
    if u64::try_from(total).ok() != Some(copied) {
        return Err(StoreError::Damaged {
            what: format!(
                "{}: table {table} has {total} rows, {copied} were read; nothing was written",
                from.location().display()
            ),
        });
    }
    Ok(copied)
}

/// How a table is read page by page: after the last row's primary key
/// (each page an index range, however large the table), or, for a table
/// without one, ordered by every column and counted off.
enum Pages {
    /// The key's columns and where they are in a row.
    Keyed {
        key: String,
        at: Vec<usize>,
    },
    Offset,
}

impl Pages {
    fn of(to: &Conn, table: &str, columns: &[String]) -> Result<Pages, StoreError> {
        let key = to.primary_key(table)?;
        let at: Option<Vec<usize>> = key
            .iter()
            .map(|k| columns.iter().position(|c| c == k))
            .collect();
        Ok(match at {
            Some(at) if !at.is_empty() => Pages::Keyed {
                key: key.join(", "),
                at,
            },
            _ => Pages::Offset,
        })
    }

    fn next(
        &self,
        from: &Conn,
        list: &str,
        table: &str,
        copied: u64,
        last: Option<&[Value]>,
    ) -> Result<Vec<crate::db::Row>, StoreError> {
        match (self, last) {
            (Pages::Keyed { key, .. }, None) => from.rows(
                &format!("SELECT {list} FROM {table} ORDER BY {key} LIMIT {ROWS_AT_ONCE}"),
                &[],
            ),
            (Pages::Keyed { key, .. }, Some(last)) => {
                let after = crate::db::placeholders(1, last.len(), 1);
                let params: Vec<&dyn crate::db::Param> =
                    last.iter().map(|v| v as &dyn crate::db::Param).collect();
                from.rows(
                    &format!(
                        "SELECT {list} FROM {table} WHERE ({key}) > {after} \
                         ORDER BY {key} LIMIT {ROWS_AT_ONCE}"
                    ),
                    &params,
                )
            }
            (Pages::Offset, _) => from.rows(
                &format!(
                    "SELECT {list} FROM {table} ORDER BY {list} LIMIT {ROWS_AT_ONCE} OFFSET {copied}"
                ),
                &[],
            ),
        }
    }

    /// The key of a row read as `list`, to start the next page after.
    fn key_of(&self, row: &[Value]) -> Vec<Value> {
        match self {
            Pages::Keyed { at, .. } => at.iter().map(|&i| row[i].clone()).collect(),
            Pages::Offset => Vec::new(),
        }
    }
}

/// PostgreSQL's identity columns number on from the copied rows' largest.
fn move_sequences_on(to: &Conn, tables: &[String]) -> Result<(), StoreError> {
    if to.backend() != crate::Backend::Postgres {
        // SQLite numbers on from the largest row id (and keeps
        // AUTOINCREMENT's in sqlite_sequence as rows are inserted).
        return Ok(());
    }
    let identities: Vec<(String, String)> = to.all(
        "SELECT table_name, column_name FROM information_schema.columns \
         WHERE table_schema = current_schema() AND is_identity = 'YES'",
        &[],
    )?;
    for (table, column) in identities.iter().filter(|(t, _)| tables.contains(t)) {
        to.value::<i64>(
            &format!(
                "SELECT setval(pg_get_serial_sequence('{table}', '{column}'), \
                 coalesce(max({column}), 0) + 1, false) FROM {table}"
            ),
            &[],
        )?;
    }
    Ok(())
}
