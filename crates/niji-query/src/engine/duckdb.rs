//! The embedded engine: an in-memory DuckDB connection that sees only
//! views of the granted columns — over a release directory's Parquet files
//! or a single-file release attached read-only — and is locked before the
//! first query: no file but the granted tables' (not even the rest of
//! their release), no extensions, no settings, with a memory limit and a
//! thread count.

use super::{Dialect, Engine, Running, Source, View};
use crate::QueryError;
use crate::plan::{ident as quote_ident, text_literal as quote_literal};
use crate::sandbox::Limits;
use arrow_array::RecordBatch;
use duckdb::{Connection, InterruptHandle, ProgressHandle};
use std::sync::Arc;

/// A locked DuckDB connection over one grant's views.
pub(crate) struct DuckDbEngine {
    conn: Connection,
}

impl DuckDbEngine {
    /// Opens the releases `sources` (release `i` as schema `r{i}`),
    /// creates `views` and locks the connection.
    pub(crate) fn open(
        sources: &[Source],
        views: &[View],
        limits: &Limits,
    ) -> Result<DuckDbEngine, QueryError> {
        let conn = Connection::open_in_memory().map_err(QueryError::internal)?;
        // Extensions are neither installed nor loaded behind the query's
        // back (DuckDB would fetch them from the network).
        conn.execute_batch(
            "SET autoinstall_known_extensions = false; SET autoload_known_extensions = false;",
        )
        .map_err(QueryError::internal)?;
        let mut allowed = Vec::new();
        let mut prefixes = Vec::new();
        for (i, source) in sources.iter().enumerate() {
            let alias = format!("r{i}");
            match source {
                Source::File(path) => {
                    conn.execute_batch(&format!(
                        "ATTACH {} AS {alias} (READ_ONLY)",
                        quote_literal(&path.to_string_lossy())
                    ))
                    .map_err(|e| {
                        QueryError::Internal(format!("release {}: {e}", path.display()))
                    })?;
                    prefixes.push(format!("{alias}.main"));
                }
                Source::Parquet(release) => {
                    conn.execute_batch(&format!("CREATE SCHEMA {alias}"))
                        .map_err(QueryError::internal)?;
                    // Only the tables the grant's views read, and only
                    // their files may be read once the connection is locked.
                    for t in release
                        .manifest
                        .tables
                        .iter()
                        .filter(|t| views.iter().any(|v| v.source == i && v.table == t.name))
                    {
                        allowed.extend(
                            release
                                .files(t)
                                .iter()
                                .map(|f| quote_literal(&f.to_string_lossy())),
                        );
                        conn.execute_batch(&format!(
                            "CREATE VIEW {alias}.{} AS SELECT * FROM {}",
                            quote_ident(&t.name),
                            release.duckdb_scan(t)
                        ))
                        .map_err(|e| {
                            QueryError::Internal(format!("release {}: {e}", release.dir.display()))
                        })?;
                    }
                    prefixes.push(alias);
                }
            }
        }
        for v in views {
            let columns: Vec<String> = v.columns.iter().map(|c| quote_ident(c)).collect();
            conn.execute_batch(&format!(
                "CREATE VIEW main.{} AS SELECT {} FROM {}.{}",
                quote_ident(&v.name),
                columns.join(", "),
                prefixes[v.source],
                quote_ident(&v.table)
            ))
            .map_err(|e| QueryError::Internal(format!("view {}: {e}", v.name)))?;
        }
        conn.set_query_progress_tracking(true)
            .map_err(QueryError::internal)?;
        // From here the connection reads no file but the granted tables',
        // loads nothing and its settings cannot change: whatever the SQL,
        // it sees the views.
        conn.execute_batch(&format!(
            "SET memory_limit = {}; SET threads = {}; SET allowed_paths = [{}]; \
             SET enable_external_access = false; SET lock_configuration = true;",
            quote_literal(&limits.memory),
            limits.threads.max(1),
            allowed.join(", ")
        ))
        .map_err(QueryError::internal)?;
        Ok(DuckDbEngine { conn })
    }
}

struct DuckDbRunning {
    interrupt: Arc<InterruptHandle>,
    progress: ProgressHandle,
}

impl Running for DuckDbRunning {
    fn interrupt(&self) {
        self.interrupt.interrupt();
    }

    fn progress(&self) -> Option<f64> {
        self.progress.query_progress().percentage()
    }
}

impl Engine for DuckDbEngine {
    fn dialect(&self) -> Dialect {
        Dialect::DuckDb
    }

    fn execute(&self, sql: &str, max_rows: usize) -> Result<Option<Vec<RecordBatch>>, QueryError> {
        let mut stmt = self.conn.prepare(sql).map_err(QueryError::from_duckdb)?;
        stmt.execute([]).map_err(QueryError::from_duckdb)?;
        let schema = stmt.schema();
        let mut batches = Vec::new();
        let mut rows = 0;
        while let Some(chunk) = stmt.step().map_err(QueryError::from_duckdb)? {
            let batch = RecordBatch::from(&chunk);
            rows += batch.num_rows();
            if rows > max_rows {
                return Ok(None);
            }
            batches.push(batch);
        }
        // An empty result still names and types its columns.
        if batches.is_empty() {
            batches.push(RecordBatch::new_empty(schema));
        }
        Ok(Some(batches))
    }

    fn running(&self) -> Arc<dyn Running> {
        Arc::new(DuckDbRunning {
            interrupt: self.conn.interrupt_handle(),
            progress: self.conn.progress_handle(),
        })
    }
}
