//! The release's person index: a hidden column of every release table that
//! numbers the release's persons 0, 1, 2, … in the order of their
//! pseudonyms, so that the persons behind a released number can be kept as
//! a bitmap (one bit per person) and compared with those of earlier numbers.
//!
//! Pseudonyms are HMAC outputs, so their order, and with it the index, says
//! nothing the pseudonym does not; and like the pseudonym it belongs to one
//! release. The analysis API reads it to compute each released number's
//! exact person set (DuckDB's `bitstring_agg`), which judges the number and
//! lets differencing control find two numbers whose persons differ by a few
//! ([`COLUMN`]). The number of persons is recorded beside the release's
//! other aids ([`record`]): the bitmaps' width.
//!
//! ```
//! use niji_core::person_index;
//!
//! let sql = person_index::record();
//! assert!(sql.contains("niji.person_index"));
//! assert_eq!(person_index::width(10), 16);
//! ```

/// The column's name (type `UINTEGER`). Researchers never see it: the
/// sandbox's granted views leave it out, and release exports drop it.
pub const COLUMN: &str = "__niji_person";

/// The table in schema `niji` that holds the release's number of persons
/// (`persons UBIGINT`, one row).
pub const TABLE: &str = "person_index";

/// DuckDB SQL that records the number of persons of a release whose
/// `main.persons` table is complete (one row per person, with the index).
pub fn record() -> String {
    format!(
        "CREATE SCHEMA IF NOT EXISTS niji;
         CREATE OR REPLACE TABLE niji.{TABLE} AS SELECT count(*)::UBIGINT AS persons FROM main.persons;"
    )
}

/// The width of a bitmap over `persons` persons, in bits: rounded up to
/// whole bytes (so that a bitmap's bytes hold no padding), at least 8.
pub fn width(persons: u64) -> u64 {
    persons.max(1).div_ceil(8) * 8
}

/// DuckDB SQL that adds the person index to table `table` (of schema
/// `main`, with a `pseudonym` column) of a release whose `main.persons`
/// lists every person: for releases made outside a build (benchmarks,
/// tests). A build writes the column as it writes the rows.
pub fn add_to(table: &str) -> String {
    let ident = format!("\"{}\"", table.replace('"', "\"\""));
    format!(
        "ALTER TABLE main.{ident} ADD COLUMN {COLUMN} UINTEGER;
         UPDATE main.{ident} SET {COLUMN} = i.position
           FROM (SELECT pseudonym, (row_number() OVER (ORDER BY pseudonym) - 1)::UINTEGER AS position
                 FROM main.persons) i
           WHERE main.{ident}.pseudonym = i.pseudonym;"
    )
}
