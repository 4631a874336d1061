//! The claims of the gated benchmark and of the engine benchmark: a
//! release's working file (DuckDB) of claims and persons as an anonymized
//! build makes them, and the five queries both benchmarks time. Included
//! by path from `crates/niji-server/benches/gated.rs` and
//! `crates/niji-query/benches/engines.rs`.
#![allow(dead_code)] // each benchmark uses a different part

use duckdb::Connection;
use std::path::Path;

/// One query: its name, the SQL, and the SQL with the platform's person
/// count, for the third column.
pub struct Query {
    pub name: &'static str,
    pub heavy: bool,
    pub sql: &'static str,
    pub persons: &'static str,
}

pub const QUERIES: &[Query] = &[
    Query {
        name: "claims by kind, type and month: count, sum",
        heavy: true,
        sql: "SELECT kind, claim_type, start, count(*) AS n, sum(points) AS total \
              FROM claims GROUP BY kind, claim_type, start",
        persons: "SELECT kind, claim_type, start, count(*) AS n, sum(points) AS total, \
                  count(DISTINCT hash(pseudonym)) AS persons FROM claims GROUP BY kind, claim_type, start",
    },
    Query {
        name: "inpatient points by month: mean",
        heavy: true,
        sql: "SELECT start, avg(points) AS mean_points, count(*) AS n \
              FROM claims WHERE inpatient GROUP BY start",
        persons: "SELECT start, avg(points) AS mean_points, count(*) AS n, \
                  count(DISTINCT hash(pseudonym)) AS persons FROM claims WHERE inpatient GROUP BY start",
    },
    Query {
        name: "points by age band and sex (join to persons)",
        heavy: true,
        sql: "SELECT p.age, p.sex, count(*) AS n, sum(c.points) AS total \
              FROM claims c JOIN persons p ON c.pseudonym = p.pseudonym GROUP BY p.age, p.sex",
        persons: "SELECT p.age, p.sex, count(*) AS n, sum(c.points) AS total, \
                  count(DISTINCT hash(c.pseudonym)) AS persons \
                  FROM claims c JOIN persons p ON c.pseudonym = p.pseudonym GROUP BY p.age, p.sex",
    },
    Query {
        name: "one month's claims by kind",
        heavy: false,
        sql: "SELECT kind, count(*) AS n FROM claims WHERE start = '2024-12' AND points > 90000 \
              GROUP BY kind",
        persons: "SELECT kind, count(*) AS n, count(DISTINCT hash(pseudonym)) AS persons FROM claims \
                  WHERE start = '2024-12' AND points > 90000 GROUP BY kind",
    },
    Query {
        name: "one month's dental claims",
        heavy: false,
        sql: "SELECT count(*) AS n FROM claims WHERE start = '2024-11' AND claim_type = 'dental'",
        persons: "SELECT count(*) AS n, count(DISTINCT hash(pseudonym)) AS persons FROM claims \
                  WHERE start = '2024-11' AND claim_type = 'dental'",
    },
];

/// A claims release like an anonymized build's: one row per claim, with
/// the person's release pseudonym, months as `YYYY-MM`, claims in month
/// order (as claims arrive), ten claims per person on average. One person
/// in a thousand is a heavy user with a hundred claims more (as dialysis
/// or many chronic conditions make): the most rows of one person, which
/// bounds a cell's persons from its rows, is then 110, as it would be in
/// real claims, not the mean's 10.
pub fn generate(path: &Path, rows: u64) {
    let partial = path.with_extension("partial");
    let _ = std::fs::remove_file(&partial);
    let conn = Connection::open(&partial).unwrap();
    let persons = (rows / 10).max(1);
    conn.execute_batch(&format!(
        "CREATE TABLE persons AS SELECT *, {bucket} AS {column} FROM (
         SELECT translate(md5('bench-' || i::VARCHAR), '0123456789abcdef', 'abcdefghijklmnop') AS pseudonym,
                CASE WHEN i % 10 = 9 THEN '90+' ELSE printf('%d-%d', (i % 10) * 10, (i % 10) * 10 + 9) END AS age,
                CASE WHEN i % 2 = 0 THEN '1' ELSE '2' END AS sex,
                printf('%02d', 1 + (i * 31) % 47) AS prefecture
         FROM range({persons}) t(i));
         CREATE TABLE claims AS SELECT *, {bucket} AS {column} FROM (
         SELECT translate(md5('bench-' || (CASE WHEN j % 100 = 0
                                                  THEN ((j // 100) % {heavy}) * 1000
                                                  ELSE (j * 2654435761) % {persons} END)::VARCHAR),
                          '0123456789abcdef', 'abcdefghijklmnop') AS pseudonym,
                ['outpatient', 'inpatient', 'dpc', 'pharmacy'][1 + (j % 4)::INTEGER] AS kind,
                printf('%04d-%02d', 2020 + (j * 60 // {rows}) // 12, 1 + (j * 60 // {rows}) % 12) AS start,
                j % 4 IN (1, 2) AS inpatient,
                ['medical', 'dental', 'pharmacy', 'dpc', 'medical'][1 + ((j // 4) % 5)::INTEGER] AS claim_type,
                ((j * 40503) % 100000)::INTEGER AS points
         FROM range({rows}) t(j));
         {record_persons}
         {record_claims}
         {index_persons}
         {index_claims}
         {record_index}
         CHECKPOINT;",
        heavy = (persons / 1000).max(1),
        index_persons = niji_core::person_index::add_to("persons"),
        index_claims = niji_core::person_index::add_to("claims"),
        record_index = niji_core::person_index::record(),
        record_persons = niji_core::person_rows::record("persons"),
        record_claims = niji_core::person_rows::record("claims"),
        bucket = niji_core::bucket::sql("pseudonym"),
        column = niji_core::bucket::COLUMN,
    ))
    .unwrap();
    drop(conn);
    std::fs::rename(&partial, path).unwrap();
}
