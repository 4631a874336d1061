//! The engine boundary: what runs the platform's SQL over a grant's
//! releases and hands back Arrow record batches.
//!
//! Everything before it is engine-independent: the language check, the
//! plan of each number's persons, the SQL the platform writes (DuckDB's
//! dialect), and after it the disclosure judgement and the release. An
//! engine receives only platform SQL, in its own dialect ([`dialect`]),
//! over views of the granted columns it created itself. Two engines:
//!
//! - [`duckdb`]: an in-process DuckDB connection per query, locked before
//!   the first query (the embedded default);
//! - [`flight`]: an Apache DataFusion Ballista cluster reached through
//!   Arrow Flight SQL, one session per query with the grant's tables
//!   registered, so that niji links no DataFusion.
//!
//! Which one a platform uses is its configuration ([`EngineChoice`]).

pub(crate) mod cells;
pub mod dialect;
pub(crate) mod duckdb;
pub(crate) mod flight;

use crate::QueryError;
use crate::storage::Release;
use arrow_array::RecordBatch;
use std::path::PathBuf;
use std::sync::Arc;

/// The engine a platform's queries run on (configuration key `engine`).
pub use niji_core::config::Engine as EngineChoice;

/// The SQL dialect an engine reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dialect {
    /// DuckDB's, in which the platform writes its SQL.
    DuckDb,
    /// Apache DataFusion's.
    DataFusion,
}

/// A release as an engine opens it.
#[derive(Debug, Clone)]
pub(crate) enum Source {
    /// A release directory of Parquet files.
    Parquet(Release),
    /// A single DuckDB file of an older platform (the embedded engine
    /// only).
    File(PathBuf),
}

/// A view an engine creates: the granted columns of one release table.
#[derive(Debug, Clone)]
pub(crate) struct View {
    /// Its name.
    pub name: String,
    /// The release (index into the sources) and its table.
    pub source: usize,
    /// The table.
    pub table: String,
    /// Its columns, in order.
    pub columns: Vec<String>,
}

/// The query an engine is running now, as whoever stops it or asks how
/// far it got sees it.
pub(crate) trait Running: Send + Sync {
    /// Stops the query; it fails soon after.
    fn interrupt(&self);
    /// How far it is, in percent, when the engine can tell.
    fn progress(&self) -> Option<f64>;
}

/// An engine session over one grant's views.
pub(crate) trait Engine: Send {
    /// The dialect it reads.
    fn dialect(&self) -> Dialect;
    /// Runs `sql` (in [`Engine::dialect`]) to its end: its batches, or None
    /// when it has more than `max_rows` rows (the engine stops reading).
    fn execute(&self, sql: &str, max_rows: usize) -> Result<Option<Vec<RecordBatch>>, QueryError>;
    /// The handle on whatever it runs.
    fn running(&self) -> Arc<dyn Running>;
}
