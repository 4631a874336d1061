//! The most rows one person has in each release table, which a release
//! records beside its tables so that disclosure control can bound a cell's
//! persons from its row count alone.
//!
//! A cell of one table's rows, `n` of them, where no person has more than
//! `most` rows, has at least `n / most` persons (rounded up), and at most
//! `n`. So a count the query computes anyway settles most cells: at least
//! the minimum persons when `n / most` reaches it, too few when `n` is
//! below it. The bound holds for a single table only: a join may repeat a
//! person's rows.
//!
//! The figures live in schema [`SCHEMA`] of the release file, apart from
//! the release's own tables in `main`: they are the platform's aid, not
//! release content, and neither researchers nor exports see them.
//!
//! ```
//! use niji_core::person_rows;
//!
//! let sql = person_rows::record("claims");
//! assert!(sql.contains("niji.person_rows"));
//! assert!(sql.contains("GROUP BY pseudonym"));
//! ```

/// The schema of the release file that holds the platform's figures.
pub const SCHEMA: &str = "niji";

/// The table in [`SCHEMA`]: `table_name VARCHAR` (a table of `main`),
/// `most_rows UBIGINT` (the most rows one pseudonym has in it; 0 when the
/// table is empty).
pub const TABLE: &str = "person_rows";

/// DuckDB SQL that records the most rows one person has in release table
/// `table` (of schema `main`, with a `pseudonym` column), creating
/// [`SCHEMA`].[`TABLE`] when it is not there yet. Run it once the table is
/// complete.
pub fn record(table: &str) -> String {
    let ident = format!("\"{}\"", table.replace('"', "\"\""));
    let literal = format!("'{}'", table.replace('\'', "''"));
    format!(
        "CREATE SCHEMA IF NOT EXISTS {SCHEMA};
         CREATE TABLE IF NOT EXISTS {SCHEMA}.{TABLE} (table_name VARCHAR PRIMARY KEY, most_rows UBIGINT NOT NULL);
         INSERT INTO {SCHEMA}.{TABLE}
           SELECT {literal}, coalesce(max(n), 0) FROM (SELECT count(*) AS n FROM main.{ident} GROUP BY pseudonym);"
    )
}
