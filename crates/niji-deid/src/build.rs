//! Building a release file from the staging store under a policy.
//!
//! The release is a DuckDB file of its own. The staging store is attached
//! read-only; the person table is computed in Rust (derived attributes,
//! the lattice search, pseudonyms), the event tables in SQL from the
//! content tables. Everything is written to `NAME.duckdb.partial` and
//! renamed when complete, so a failed build leaves no release behind.
//!
//! Persons appear under pseudonyms derived with the release's own key
//! (HMAC-SHA-256 of the person key), so two releases never share one. Rows
//! are ordered by pseudonym, an HMAC output, and a person's rows among
//! themselves at random: the order says nothing of the sources, and DuckDB
//! stores a person's repeated values as runs. Persons who opted out are
//! left out before anything is computed. Every table also carries the
//! hidden person bucket ([`niji_core::bucket`]) and person index
//! ([`niji_core::person_index`]), and the release records
//! the most rows one person has in each table ([`niji_core::person_rows`]):
//! the analysis API bounds a cell's persons with them where a bound is
//! enough. Researchers and exports see none of them.

use crate::hierarchy::{self, Hierarchy, HierarchyError, SUPPRESSED};
use crate::policy::{
    DateForm, Derive, EventColumn, EventTable, Generalize, PersonColumn, Policy, PostcodeForm,
    Role, Tier, Unmarked,
};
use crate::risk::{self, RiskReport};
use crate::search::{Quasi, Search, SearchError, Sensitive, Table, Verdict};
use chrono::{Datelike, NaiveDate};
use duckdb::types::Value;
use duckdb::{Connection, params};
use niji_core::content::{Kind, TABLES};
use niji_core::{bucket, geography, person_index, person_rows};
use ring::hmac;
use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};

/// The value of a person attribute that is not known.
pub const UNKNOWN: &str = "unknown";

/// What a build needs.
pub struct Request<'a> {
    /// The policy.
    pub policy: &'a Policy,
    /// The staging store (`content.duckdb`).
    pub content: &'a Path,
    /// The release file to create.
    pub out: &'a Path,
    /// The release's pseudonym key.
    pub key: &'a hmac::Key,
    /// Person keys of those who opted out.
    pub opted_out: &'a [i64],
    /// Generalization levels to use instead of searching (an anonymized
    /// tier), by quasi-identifier: how a release's dummy twin, built from a
    /// synthetic population, keeps the release's value domains.
    pub levels: Option<&'a BTreeMap<String, u8>>,
}

/// A step of the build, for progress.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step {
    /// Selecting the records and persons in scope.
    Scope,
    /// Deriving each person's attributes.
    Persons,
    /// Searching the generalization levels.
    Search,
    /// Writing an event table.
    Table(String),
    /// Closing the file.
    Finish,
}

/// The generalization chosen for a quasi-identifier.
#[derive(Debug, Clone, PartialEq)]
pub struct Level {
    /// The column.
    pub column: String,
    /// The level (0 the value itself).
    pub level: u8,
    /// The levels its hierarchy has.
    pub height: u8,
}

/// Rare code values removed from a column.
#[derive(Debug, Clone, PartialEq)]
pub struct RareCodes {
    /// The table.
    pub table: String,
    /// The column.
    pub column: String,
    /// The values replaced by `*`.
    pub values: Vec<String>,
    /// The rows changed.
    pub rows: u64,
}

/// What a build made.
#[derive(Debug, Clone)]
pub struct Built {
    /// Persons in the release.
    pub persons: u64,
    /// Persons in scope left out because they opted out.
    pub opted_out: u64,
    /// Persons withheld by the privacy model.
    pub suppressed: u64,
    /// Rows per table, the person table first.
    pub tables: Vec<(String, u64)>,
    /// The person table's quasi-identifiers.
    pub quasi_identifiers: Vec<String>,
    /// The person table's sensitive attributes.
    pub sensitive_attributes: Vec<String>,
    /// The levels chosen (anonymized tier).
    pub levels: Vec<Level>,
    /// How the chosen node fares (anonymized tier).
    pub verdict: Option<Verdict>,
    /// Lattice nodes, and nodes evaluated (anonymized tier).
    pub search: Option<(usize, usize)>,
    /// The risk report of the person table.
    pub risk: RiskReport,
    /// Rare codes removed (anonymized tier).
    pub rare_codes: Vec<RareCodes>,
    /// The source batches the release draws on.
    pub batches: Vec<i64>,
    /// The persons in the release (kept internally, for the citizen's view).
    pub members: Vec<i64>,
}

/// Why a build failed.
#[derive(Debug, thiserror::Error)]
pub enum BuildError {
    /// The release file exists.
    #[error("{0}: a release by that name exists")]
    Exists(PathBuf),
    /// Linkage has not run.
    #[error("{0}: no linked persons; run `niji link` first")]
    NotLinked(PathBuf),
    /// Nothing in scope.
    #[error("no linked person has records from the policy's sources ({0}); nothing to release")]
    Empty(String),
    /// DuckDB failed.
    #[error("{path}: {source}")]
    Db {
        /// The file.
        path: PathBuf,
        /// The cause.
        source: duckdb::Error,
    },
    /// A file operation failed.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// A hierarchy could not be built from the data.
    #[error("person column {0}: {1}")]
    Hierarchy(String, HierarchyError),
    /// The search failed.
    #[error("the privacy model: {0}")]
    Search(#[from] SearchError),
    /// Given generalization levels do not fit the policy.
    #[error("generalization levels: {0}")]
    Levels(String),
}

/// A person's birth month, sex and prefecture, each the most frequent
/// among their records in scope.
type Base = (Option<String>, Option<String>, Option<String>);

/// One person: key and the values of the person columns.
struct Person {
    key: i64,
    values: Vec<Option<String>>,
}

/// Builds the release.
pub fn build(req: &Request, progress: &mut dyn FnMut(Step)) -> Result<Built, BuildError> {
    if req.out.exists() {
        return Err(BuildError::Exists(req.out.to_owned()));
    }
    let partial = req.out.with_extension("duckdb.partial");
    let _ = std::fs::remove_file(&partial);
    let result = build_into(req, &partial, progress);
    match result {
        Ok(built) => {
            std::fs::rename(&partial, req.out).map_err(|source| BuildError::Io {
                path: req.out.to_owned(),
                source,
            })?;
            read_only(req.out)?;
            Ok(built)
        }
        Err(e) => {
            let _ = std::fs::remove_file(&partial);
            let _ = std::fs::remove_file(partial.with_extension("partial.wal"));
            Err(e)
        }
    }
}

fn read_only(path: &Path) -> Result<(), BuildError> {
    let io = |source| BuildError::Io {
        path: path.to_owned(),
        source,
    };
    let mut permissions = std::fs::metadata(path).map_err(io)?.permissions();
    permissions.set_readonly(true);
    std::fs::set_permissions(path, permissions).map_err(io)
}

fn quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', "''"))
}

fn ident(s: &str) -> String {
    format!("\"{}\"", s.replace('"', "\"\""))
}

fn build_into(
    req: &Request,
    partial: &Path,
    progress: &mut dyn FnMut(Step),
) -> Result<Built, BuildError> {
    let db = |source| BuildError::Db {
        path: partial.to_owned(),
        source,
    };
    let conn = Connection::open(partial).map_err(db)?;
    // The server opens the staging store for a Bundle now and then: wait
    // for it to close rather than fail.
    niji_core::busy::waiting(
        niji_core::busy::COMMAND_WAIT,
        || {
            conn.execute_batch(&format!(
                "ATTACH {} AS content (READ_ONLY)",
                quote(&req.content.display().to_string())
            ))
        },
        |e| niji_core::busy::is_lock_conflict(&e.to_string()),
    )
    .map_err(|source| BuildError::Db {
        path: req.content.to_owned(),
        source,
    })?;
    let linked: i64 = conn
        .query_row(
            "SELECT count(*) FROM duckdb_tables() WHERE database_name = 'content' AND table_name = 'person_records'",
            [],
            |r| r.get(0),
        )
        .map_err(db)?;
    if linked == 0 {
        return Err(BuildError::NotLinked(req.content.to_owned()));
    }
    let policy = req.policy;
    progress(Step::Scope);
    let opted_out = scope(&conn, policy, req.opted_out).map_err(db)?;
    progress(Step::Persons);
    let mut persons = derive(&conn, policy).map_err(db)?;
    if persons.is_empty() {
        return Err(BuildError::Empty(
            policy.release.sources.get_ref().join(", "),
        ));
    }
    let anonymized = policy.release.tier == Tier::Anonymized;
    let min_persons = policy.release.rare_code_min_persons.unwrap_or(0);
    if anonymized {
        remove_rare_person_values(policy, &mut persons, min_persons);
    }
    progress(Step::Search);
    let table = search_table(policy, &persons)?;
    let (kept, levels, verdict, search, generalized) = if anonymized {
        let model = policy
            .model()
            .expect("checked: an anonymized policy has a model");
        let mut search = Search::new(&table, model)?;
        let solution = match req.levels {
            None => search.run()?,
            Some(fixed) => given_levels(&table, &mut search, fixed)?,
        };
        let applied = search.apply(&solution.node);
        let levels = table
            .quasi
            .iter()
            .zip(&solution.node)
            .map(|(q, &l)| Level {
                column: q.name.clone(),
                level: l,
                height: q.hierarchy.height() as u8,
            })
            .collect();
        let kept: Vec<bool> = applied.suppressed.iter().map(|s| !s).collect();
        (
            kept,
            levels,
            Some(solution.verdict),
            Some((solution.lattice, solution.evaluated)),
            Some(applied),
        )
    } else {
        (vec![true; persons.len()], Vec::new(), None, None, None)
    };
    let risk = match &generalized {
        Some(applied) => risk::report(&table, applied, Some(&table)),
        None => risk::report(&table, &identity(&table), Some(&table)),
    };
    let shift = policy.release.shift_days.unwrap_or(0);
    write_persons(
        &conn,
        policy,
        &persons,
        &kept,
        &table,
        generalized.as_ref(),
        req.key,
        shift,
    )
    .map_err(db)?;
    let members: Vec<i64> = persons
        .iter()
        .zip(&kept)
        .filter(|(_, k)| **k)
        .map(|(p, _)| p.key)
        .collect();
    let mut tables = vec![("persons".to_owned(), members.len() as u64)];
    let mut rare_codes = Vec::new();
    for t in &policy.tables {
        let t = t.get_ref();
        progress(Step::Table(t.name.clone()));
        let rows = write_event_table(&conn, t).map_err(db)?;
        if anonymized {
            rare_codes.extend(remove_rare_codes(&conn, t, min_persons).map_err(db)?);
        }
        tables.push((t.name.clone(), rows));
    }
    describe_columns(&conn, policy, &levels, min_persons).map_err(db)?;
    for (table, _) in &tables {
        conn.execute_batch(&person_rows::record(table))
            .map_err(db)?;
    }
    conn.execute_batch(&person_index::record()).map_err(db)?;
    progress(Step::Finish);
    let batches = batches(&conn).map_err(db)?;
    conn.execute_batch("DETACH content; DROP TABLE IF EXISTS kept; CHECKPOINT;")
        .map_err(db)?;
    drop(conn);
    Ok(Built {
        persons: members.len() as u64,
        opted_out,
        suppressed: persons.len() as u64 - members.len() as u64,
        tables,
        quasi_identifiers: columns_with(policy, Role::Quasi),
        sensitive_attributes: columns_with(policy, Role::Sensitive),
        levels,
        verdict,
        search,
        risk,
        rare_codes,
        batches,
        members,
    })
}

fn columns_with(policy: &Policy, role: Role) -> Vec<String> {
    policy
        .persons
        .iter()
        .map(|c| c.get_ref())
        .filter(|c| c.role == role)
        .map(|c| c.name.clone())
        .collect()
}

/// The records in scope: the policy's sources, persons who did not opt
/// out. Returns how many persons in scope opted out.
fn scope(conn: &Connection, policy: &Policy, opted_out: &[i64]) -> duckdb::Result<u64> {
    conn.execute_batch("CREATE TEMP TABLE opted_out (person_key BIGINT PRIMARY KEY)")?;
    {
        let mut app = conn.appender("opted_out")?;
        let mut keys = opted_out.to_vec();
        keys.sort_unstable();
        keys.dedup();
        for k in keys {
            app.append_row(params![k])?;
        }
        app.flush()?;
    }
    let sources: Vec<String> = policy
        .release
        .sources
        .get_ref()
        .iter()
        .map(|s| quote(s))
        .collect();
    conn.execute_batch(&format!(
        "CREATE TEMP TABLE in_scope AS
           SELECT s.batch_id, s.record, p.person_key, s.birth_month, s.sex, s.prefecture
           FROM content.subjects s JOIN content.person_records p USING (batch_id, record)
           WHERE s.source IN ({});
         CREATE TEMP TABLE scope AS
           SELECT * FROM in_scope WHERE person_key NOT IN (SELECT person_key FROM opted_out);",
        sources.join(", ")
    ))?;
    let n: i64 = conn.query_row(
        "SELECT count(DISTINCT person_key) FROM in_scope WHERE person_key IN (SELECT person_key FROM opted_out)",
        [],
        |r| r.get(0),
    )?;
    conn.execute_batch("DROP TABLE in_scope")?;
    Ok(n as u64)
}

/// Each person's attributes, as the policy's person columns ask.
fn derive(conn: &Connection, policy: &Policy) -> duckdb::Result<Vec<Person>> {
    let reference =
        NaiveDate::parse_from_str(&policy.release.reference_date, "%Y-%m-%d").expect("checked");
    let mut stmt = conn.prepare(
        "SELECT person_key,
                mode(birth_month) FILTER (WHERE birth_month IS NOT NULL),
                mode(sex) FILTER (WHERE sex IS NOT NULL),
                mode(prefecture) FILTER (WHERE prefecture BETWEEN '01' AND '47')
         FROM scope GROUP BY person_key ORDER BY person_key",
    )?;
    let base: Vec<(i64, Base)> = stmt
        .query_map([], |r| Ok((r.get(0)?, (r.get(1)?, r.get(2)?, r.get(3)?))))?
        .collect::<Result<_, _>>()?;
    let needs_diagnosis = policy
        .persons
        .iter()
        .any(|c| c.get_ref().derive == Derive::MainDiagnosis);
    let mut diagnosis: HashMap<i64, String> = HashMap::new();
    if needs_diagnosis {
        let mut stmt = conn.prepare(
            "SELECT sc.person_key, mode(substr(d.icd10, 1, 3))
             FROM content.diagnoses d JOIN scope sc USING (batch_id, record)
             WHERE d.main AND d.icd10 IS NOT NULL GROUP BY 1",
        )?;
        for row in stmt.query_map([], |r| Ok((r.get::<_, i64>(0)?, r.get::<_, String>(1)?)))? {
            let (k, v) = row?;
            diagnosis.insert(k, v);
        }
        let fallback = policy.persons.iter().any(|c| {
            let c = c.get_ref();
            c.derive == Derive::MainDiagnosis && c.unmarked == Unmarked::MostFrequent
        });
        if fallback {
            // Charts mark no main diagnosis: for those persons, the
            // category their diagnoses name most often (ties broken by the
            // smaller code, so that a rebuild gives the same value).
            let mut stmt = conn.prepare(
                "SELECT person_key, category FROM (
                     SELECT sc.person_key, substr(d.icd10, 1, 3) AS category,
                            row_number() OVER (PARTITION BY sc.person_key
                                               ORDER BY count(*) DESC, substr(d.icd10, 1, 3)) AS rank
                     FROM content.diagnoses d JOIN scope sc USING (batch_id, record)
                     WHERE d.icd10 IS NOT NULL GROUP BY 1, 2)
                 WHERE rank = 1",
            )?;
            for row in stmt.query_map([], |r| Ok((r.get::<_, i64>(0)?, r.get::<_, String>(1)?)))? {
                let (k, v) = row?;
                diagnosis.entry(k).or_insert(v);
            }
        }
    }
    Ok(base
        .into_iter()
        .map(|(key, (birth, sex, prefecture))| Person {
            key,
            values: policy
                .persons
                .iter()
                .map(|c| match c.get_ref().derive {
                    Derive::Age => birth
                        .as_deref()
                        .and_then(|b| age(b, reference))
                        .map(|a| a.to_string()),
                    Derive::BirthMonth => birth.clone(),
                    Derive::Sex => sex.clone(),
                    Derive::Prefecture => prefecture.clone(),
                    Derive::MainDiagnosis => Some(
                        diagnosis
                            .get(&key)
                            .cloned()
                            .unwrap_or_else(|| "none".into()),
                    ),
                })
                .collect(),
        })
        .collect())
}

/// Whole years from the first of the birth month to `at`.
fn age(birth_month: &str, at: NaiveDate) -> Option<i64> {
    let born = NaiveDate::parse_from_str(&format!("{birth_month}-01"), "%Y-%m-%d").ok()?;
    let mut years = i64::from(at.year() - born.year());
    if at.month() < born.month() {
        years -= 1;
    }
    (0..=130).contains(&years).then_some(years)
}

/// Anonymized tier: sensitive and insensitive person values held by fewer
/// than `min` persons become `*`.
fn remove_rare_person_values(policy: &Policy, persons: &mut [Person], min: u64) {
    for (i, c) in policy.persons.iter().enumerate() {
        if !matches!(c.get_ref().role, Role::Sensitive | Role::Insensitive) {
            continue;
        }
        let mut counts: HashMap<String, u64> = HashMap::new();
        for p in persons.iter() {
            if let Some(v) = &p.values[i] {
                *counts.entry(v.clone()).or_default() += 1;
            }
        }
        for p in persons.iter_mut() {
            if p.values[i].as_ref().is_some_and(|v| counts[v] < min) {
                p.values[i] = Some(SUPPRESSED.to_owned());
            }
        }
    }
}

/// The node of `fixed` levels, each within its hierarchy, and its verdict:
/// a solution the search did not choose.
fn given_levels(
    table: &Table,
    search: &mut Search<'_>,
    fixed: &BTreeMap<String, u8>,
) -> Result<crate::search::Solution, BuildError> {
    if let Some(unknown) = fixed
        .keys()
        .find(|c| !table.quasi.iter().any(|q| &q.name == *c))
    {
        return Err(BuildError::Levels(format!(
            "`{unknown}` is not a quasi-identifier of the policy"
        )));
    }
    let node = table
        .quasi
        .iter()
        .map(|q| {
            let level = fixed
                .get(&q.name)
                .copied()
                .ok_or_else(|| BuildError::Levels(format!("no level given for `{}`", q.name)))?;
            if usize::from(level) >= q.hierarchy.height() {
                return Err(BuildError::Levels(format!(
                    "`{}` has levels 0 to {}",
                    q.name,
                    q.hierarchy.height() - 1
                )));
            }
            Ok(level)
        })
        .collect::<Result<Vec<u8>, _>>()?;
    let verdict = search.evaluate(&node);
    Ok(crate::search::Solution {
        node,
        verdict,
        lattice: 1,
        evaluated: 1,
    })
}

/// The search's table: each quasi-identifier coded by its hierarchy, an
/// unknown value as a value of its own.
fn search_table(policy: &Policy, persons: &[Person]) -> Result<Table, BuildError> {
    let mut quasi = Vec::new();
    let mut sensitive = None;
    for (i, c) in policy.persons.iter().enumerate() {
        let c = c.get_ref();
        let values: Vec<String> = persons
            .iter()
            .map(|p| p.values[i].clone().unwrap_or_else(|| UNKNOWN.to_owned()))
            .collect();
        match c.role {
            Role::Quasi => {
                let hierarchy = hierarchy_of(c, &values)
                    .map_err(|e| BuildError::Hierarchy(c.name.clone(), e))?;
                let codes = values
                    .iter()
                    .map(|v| hierarchy.code(v).expect("every value is in its hierarchy"))
                    .collect();
                quasi.push(Quasi {
                    name: c.name.clone(),
                    hierarchy,
                    codes,
                });
            }
            Role::Sensitive => {
                let mut labels: Vec<String> = values.clone();
                labels.sort_unstable();
                labels.dedup();
                let codes = values
                    .iter()
                    .map(|v| labels.binary_search(v).expect("listed") as u32)
                    .collect();
                sensitive = Some(Sensitive {
                    name: c.name.clone(),
                    labels,
                    codes,
                    ordered: false,
                });
            }
            _ => {}
        }
    }
    Ok(Table { quasi, sensitive })
}

fn hierarchy_of(c: &PersonColumn, values: &[String]) -> Result<Hierarchy, HierarchyError> {
    let mut distinct: Vec<String> = values.iter().filter(|v| *v != UNKNOWN).cloned().collect();
    distinct.sort_unstable();
    distinct.dedup();
    if distinct.is_empty() {
        // Nobody's value is known (chart data names no prefecture).
        return Hierarchy::suppress(&[UNKNOWN.to_owned()]);
    }
    let h = match &c.generalize {
        Some(Generalize::Intervals(widths)) => Hierarchy::intervals(0, 130, widths, c.top)?,
        Some(Generalize::Prefixes(lengths)) => Hierarchy::prefixes(&distinct, lengths)?,
        Some(Generalize::Regions) => Hierarchy::regions(&distinct)?,
        Some(Generalize::Suppress) | None => Hierarchy::suppress(&distinct)?,
    };
    // Keep the levels the policy gives; the pseudonymized tier uses level 0.
    h.with_value_of_its_own(UNKNOWN)
}

/// Every row at level 0, none suppressed: the pseudonymized person table.
fn identity(table: &Table) -> crate::search::Applied {
    crate::search::Applied {
        node: vec![0; table.quasi.len()],
        codes: table
            .quasi
            .iter()
            .map(|q| {
                q.codes
                    .iter()
                    .map(|&c| q.hierarchy.level(0).group[c as usize])
                    .collect()
            })
            .collect(),
        suppressed: vec![false; table.rows()],
    }
}

/// A person's pseudonym in this release: 128 bits of HMAC-SHA-256 of the
/// person key, four bits to a letter `a`–`p`. Without digits a pseudonym
/// can neither be mistaken for nor contain a card or chart number.
pub fn pseudonym(key: &hmac::Key, person_key: i64) -> String {
    let tag = hmac::sign(
        key,
        &[b"pseudonym:".as_slice(), &person_key.to_be_bytes()].concat(),
    );
    tag.as_ref()[..16]
        .iter()
        .flat_map(|b| [b >> 4, b & 0x0f])
        .map(|nibble| char::from(b'a' + nibble))
        .collect()
}

/// A person's date shift in this release, within ± `days`.
fn shift_of(key: &hmac::Key, person_key: i64, days: u32) -> i32 {
    if days == 0 {
        return 0;
    }
    let tag = hmac::sign(
        key,
        &[b"shift:".as_slice(), &person_key.to_be_bytes()].concat(),
    );
    let n = u32::from_be_bytes([
        tag.as_ref()[0],
        tag.as_ref()[1],
        tag.as_ref()[2],
        tag.as_ref()[3],
    ]);
    (n % (2 * days + 1)) as i32 - days as i32
}

#[allow(clippy::too_many_arguments)]
fn write_persons(
    conn: &Connection,
    policy: &Policy,
    persons: &[Person],
    kept: &[bool],
    table: &Table,
    generalized: Option<&crate::search::Applied>,
    key: &hmac::Key,
    shift_days: u32,
) -> duckdb::Result<()> {
    let released: Vec<(usize, &PersonColumn)> = policy
        .persons
        .iter()
        .map(|c| c.get_ref())
        .enumerate()
        .filter(|(_, c)| c.role != Role::Direct)
        .collect();
    let columns: Vec<String> = released
        .iter()
        .map(|(_, c)| format!("{} VARCHAR", ident(&c.name)))
        .collect();
    conn.execute_batch(&format!(
        "CREATE TABLE persons (pseudonym VARCHAR NOT NULL PRIMARY KEY, {}, {bucket} UBIGINT NOT NULL, {index} UINTEGER NOT NULL);
         CREATE TEMP TABLE kept (person_key BIGINT, pseudonym VARCHAR, shift INTEGER, bucket UBIGINT, person UINTEGER);",
        columns.join(", "),
        bucket = bucket::COLUMN,
        index = person_index::COLUMN,
    ))?;
    // The quasi-identifiers' labels at the chosen levels.
    let quasi_at: HashMap<&str, usize> = table
        .quasi
        .iter()
        .enumerate()
        .map(|(q, x)| (x.name.as_str(), q))
        .collect();
    let mut rows: Vec<(String, usize)> = persons
        .iter()
        .enumerate()
        .filter(|(i, _)| kept[*i])
        .map(|(i, p)| (pseudonym(key, p.key), i))
        .collect();
    // Sorted by pseudonym, an HMAC output: row order says nothing of the
    // source.
    rows.sort_unstable();
    // The person index is the position in that order
    // (`niji_core::person_index`).
    let index = |at: usize| u32::try_from(at).map_err(|_| duckdb::Error::AppendError);
    let mut app = conn.appender("persons")?;
    for (at, (pseudonym, i)) in rows.iter().enumerate() {
        let mut values: Vec<Value> = vec![Value::Text(pseudonym.clone())];
        for (c, column) in &released {
            let value = match (quasi_at.get(column.name.as_str()), generalized) {
                (Some(&q), Some(applied)) => {
                    let level = table.quasi[q].hierarchy.level(applied.node[q] as usize);
                    level.labels[applied.codes[q][*i] as usize].clone()
                }
                _ => persons[*i].values[*c]
                    .clone()
                    .unwrap_or_else(|| UNKNOWN.to_owned()),
            };
            values.push(Value::Text(value));
        }
        values.push(Value::UBigInt(bucket::bit(pseudonym)));
        values.push(Value::UInt(index(at)?));
        app.append_row(duckdb::appender_params_from_iter(values.iter()))?;
    }
    app.flush()?;
    drop(app);
    let mut app = conn.appender("kept")?;
    for (at, (pseudonym, i)) in rows.iter().enumerate() {
        let k = persons[*i].key;
        let shift = shift_of(key, k, shift_days);
        app.append_row(params![
            k,
            pseudonym,
            shift,
            bucket::bit(pseudonym),
            index(at)?
        ])?;
    }
    app.flush()
}

/// The SQL expression releasing one event column.
fn expression(c: &EventColumn, kind: Kind) -> String {
    let col = format!("t.{}", ident(&c.name));
    let mut e = match c.date {
        Some(DateForm::Day) => col,
        Some(DateForm::Month) => format!("strftime({col}, '%Y-%m')"),
        Some(DateForm::Year) => format!("strftime({col}, '%Y')"),
        Some(DateForm::Shift) => format!("CAST({col} + k.shift * INTERVAL 1 DAY AS DATE)"),
        None => col,
    };
    if let Some(top) = c.top_code {
        e = format!("least({e}, {top})");
    }
    if let Some(bottom) = c.bottom_code {
        e = format!("greatest({e}, {bottom})");
    }
    if c.top_code.is_some() || c.bottom_code.is_some() {
        // least/greatest widen an integer to the bound's type; keep it.
        let ty = if kind == Kind::Int {
            "BIGINT"
        } else {
            "DOUBLE"
        };
        e = format!("CAST({e} AS {ty})");
    }
    if let Some(n) = c.prefix {
        e = format!("substr({e}, 1, {n})");
    }
    if let Some(form) = c.postcode {
        e = postcode_place(&e, form);
    }
    format!("{e} AS {}", ident(&c.name))
}

/// SQL giving the prefecture (or region) a postcode's first three digits lie
/// in, from Japan Post's areas; NULL for digits of no area.
fn postcode_place(e: &str, form: PostcodeForm) -> String {
    // The area as a number; anything but three digits matches no arm.
    let area = format!(
        "(CASE WHEN regexp_full_match(substr({e}, 1, 3), '[0-9]{{3}}') THEN CAST(substr({e}, 1, 3) AS INTEGER) END)"
    );
    let arms: String = geography::POSTCODE_AREAS
        .iter()
        .map(|&(first, last, prefecture)| {
            let place = match form {
                PostcodeForm::Prefecture => format!("{prefecture:02}"),
                PostcodeForm::Region => hierarchy::region_of(u32::from(prefecture))
                    .unwrap_or(UNKNOWN)
                    .to_owned(),
            };
            format!(" WHEN {area} BETWEEN {first} AND {last} THEN '{place}'")
        })
        .collect();
    format!("CASE{arms} END")
}

fn write_event_table(conn: &Connection, t: &EventTable) -> duckdb::Result<u64> {
    let content = TABLES.iter().find(|c| c.name == t.from).expect("checked");
    let exprs: Vec<String> = t
        .columns
        .iter()
        .map(|c| c.get_ref())
        .filter(|c| c.role != Role::Direct)
        .map(|c| {
            let kind = content
                .all_columns()
                .find(|x| x.name == c.name)
                .map(|x| x.kind)
                .unwrap_or(Kind::Text);
            expression(c, kind)
        })
        .collect();
    let select = if exprs.is_empty() {
        String::new()
    } else {
        format!(", {}", exprs.join(", "))
    };
    conn.execute_batch(&format!(
        "CREATE TABLE {name} AS
           SELECT k.pseudonym{select}, k.bucket AS {bucket}, k.person AS {index}
           FROM content.{from} t JOIN scope sc USING (batch_id, record) JOIN kept k USING (person_key)
           ORDER BY k.pseudonym, random()",
        name = ident(&t.name),
        from = ident(&t.from),
        bucket = bucket::COLUMN,
        index = person_index::COLUMN,
    ))?;
    conn.query_row(
        &format!("SELECT count(*) FROM {}", ident(&t.name)),
        [],
        |r| r.get::<_, i64>(0),
    )
    .map(|n| n as u64)
}

/// Writes what each released column holds, and what the build did to it,
/// as DuckDB column comments: the analysis API's table listing shows them.
fn describe_columns(
    conn: &Connection,
    policy: &Policy,
    levels: &[Level],
    min_persons: u64,
) -> duckdb::Result<()> {
    let mut comments = vec![(
        "persons".to_owned(),
        "pseudonym".to_owned(),
        "the person's pseudonym in this release (its own key: no other release shares it)"
            .to_owned(),
    )];
    for c in policy.persons.iter().map(|c| c.get_ref()) {
        if c.role == Role::Direct {
            continue;
        }
        let level = levels.iter().find(|l| l.column == c.name);
        comments.push((
            "persons".into(),
            c.name.clone(),
            c.describe(level.map(|l| l.level)),
        ));
    }
    let hidden = "hidden: one bit of 64, chosen by six bits of the pseudonym; it bounds a cell's persons \
                  for disclosure control; never shown to researchers nor exported";
    let index = "hidden: the person's position in the order of pseudonyms; it keeps a released number's \
                 persons as a bitmap for disclosure control; never shown to researchers nor exported";
    comments.push(("persons".into(), bucket::COLUMN.into(), hidden.into()));
    comments.push(("persons".into(), person_index::COLUMN.into(), index.into()));
    let anonymized = policy.release.tier == Tier::Anonymized;
    for t in policy.tables.iter().map(|t| t.get_ref()) {
        comments.push((t.name.clone(), bucket::COLUMN.into(), hidden.into()));
        comments.push((t.name.clone(), person_index::COLUMN.into(), index.into()));
        let content = TABLES.iter().find(|c| c.name == t.from).expect("checked");
        comments.push((
            t.name.clone(),
            "pseudonym".into(),
            "the person's pseudonym in this release".into(),
        ));
        for c in t.columns.iter().map(|c| c.get_ref()) {
            if c.role == Role::Direct {
                continue;
            }
            let source = content.all_columns().find(|x| x.name == c.name);
            let rare =
                anonymized && min_persons > 0 && source.is_some_and(|x| x.kind == Kind::Text);
            let doc = source.map_or("", |x| x.doc);
            comments.push((
                t.name.clone(),
                c.name.clone(),
                c.describe(doc, rare.then_some(min_persons)),
            ));
        }
    }
    for (table, column, text) in comments {
        conn.execute_batch(&format!(
            "COMMENT ON COLUMN {}.{} IS '{}'",
            ident(&table),
            ident(&column),
            text.replace('\'', "''")
        ))?;
    }
    Ok(())
}

/// Replaces the values of the table's kept text columns held by fewer than
/// `min` persons with `*`.
fn remove_rare_codes(
    conn: &Connection,
    t: &EventTable,
    min: u64,
) -> duckdb::Result<Vec<RareCodes>> {
    let content = TABLES.iter().find(|c| c.name == t.from).expect("checked");
    let mut out = Vec::new();
    for c in t.columns.iter().map(|c| c.get_ref()) {
        let kind = content
            .all_columns()
            .find(|x| x.name == c.name)
            .map(|x| x.kind);
        if c.role == Role::Direct || kind != Some(Kind::Text) {
            continue;
        }
        let (table, column) = (ident(&t.name), ident(&c.name));
        let mut stmt = conn.prepare(&format!(
            "SELECT {column} FROM {table} WHERE {column} IS NOT NULL AND {column} <> '*'
             GROUP BY 1 HAVING count(DISTINCT pseudonym) < ? ORDER BY 1"
        ))?;
        let values: Vec<String> = stmt
            .query_map([min as i64], |r| r.get(0))?
            .collect::<Result<_, _>>()?;
        if values.is_empty() {
            continue;
        }
        conn.execute_batch("CREATE OR REPLACE TEMP TABLE rare (value VARCHAR)")?;
        {
            let mut app = conn.appender("rare")?;
            for v in &values {
                app.append_row(params![v])?;
            }
            app.flush()?;
        }
        let rows = conn.execute(
            &format!(
                "UPDATE {table} SET {column} = '*' WHERE {column} IN (SELECT value FROM rare)"
            ),
            [],
        )?;
        out.push(RareCodes {
            table: t.name.clone(),
            column: c.name.clone(),
            values,
            rows: rows as u64,
        });
    }
    conn.execute_batch("DROP TABLE IF EXISTS rare")?;
    Ok(out)
}

fn batches(conn: &Connection) -> duckdb::Result<Vec<i64>> {
    let mut stmt = conn
        .prepare("SELECT DISTINCT batch_id FROM scope JOIN kept USING (person_key) ORDER BY 1")?;
    stmt.query_map([], |r| r.get(0))?.collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ages_count_whole_years_from_the_birth_month() {
        let at = NaiveDate::from_ymd_opt(2024, 3, 31).unwrap();
        assert_eq!(age("1990-03", at), Some(34));
        assert_eq!(age("1990-04", at), Some(33));
        assert_eq!(age("2025-01", at), None, "born after the reference date");
        assert_eq!(age("1990-13", at), None);
    }

    #[test]
    fn pseudonyms_differ_between_keys_and_shifts_stay_in_range() {
        let a = hmac::Key::new(hmac::HMAC_SHA256, &[1; 32]);
        let b = hmac::Key::new(hmac::HMAC_SHA256, &[2; 32]);
        assert_eq!(pseudonym(&a, 7).len(), 32);
        assert!(pseudonym(&a, 7).bytes().all(|b| (b'a'..=b'p').contains(&b)));
        assert_eq!(pseudonym(&a, 7), pseudonym(&a, 7));
        assert_ne!(pseudonym(&a, 7), pseudonym(&b, 7));
        assert_ne!(pseudonym(&a, 7), pseudonym(&a, 8));
        let shifts: Vec<i32> = (0..1000).map(|k| shift_of(&a, k, 14)).collect();
        assert!(shifts.iter().all(|s| (-14..=14).contains(s)));
        assert!(shifts.contains(&-14) && shifts.contains(&14));
        assert_eq!(shift_of(&a, 3, 0), 0);
    }

    #[test]
    fn event_columns_become_sql_that_coarsens() {
        let col = |date, top, prefix| EventColumn {
            name: "x".into(),
            role: Role::Insensitive,
            date,
            top_code: top,
            bottom_code: None,
            prefix,
            postcode: None,
        };
        assert_eq!(
            expression(&col(Some(DateForm::Month), None, None), Kind::Date),
            "strftime(t.\"x\", '%Y-%m') AS \"x\""
        );
        assert_eq!(
            expression(&col(None, Some(90.0), None), Kind::Int),
            "CAST(least(t.\"x\", 90) AS BIGINT) AS \"x\""
        );
        assert_eq!(
            expression(&col(None, None, Some(3)), Kind::Text),
            "substr(t.\"x\", 1, 3) AS \"x\""
        );
        assert!(
            expression(&col(Some(DateForm::Shift), None, None), Kind::Date).contains("k.shift")
        );
    }

    #[test]
    fn postcodes_become_the_prefecture_or_region_they_lie_in() {
        let conn = Connection::open_in_memory().unwrap();
        let place = |postcode: Option<&str>, form| -> Option<String> {
            let e = postcode_place("x", form);
            let sql = format!("SELECT {e} FROM (SELECT CAST(? AS VARCHAR) AS x)");
            conn.query_row(&sql, [postcode], |r| r.get(0)).unwrap()
        };
        let pref = PostcodeForm::Prefecture;
        assert_eq!(place(Some("780"), pref).as_deref(), Some("39"));
        assert_eq!(place(Some("1000001"), pref).as_deref(), Some("13"));
        assert_eq!(place(Some("040"), pref).as_deref(), Some("01"));
        assert_eq!(place(Some("019"), pref).as_deref(), Some("05"));
        assert_eq!(place(Some("000"), pref), None);
        assert_eq!(place(Some("7a0"), pref), None);
        assert_eq!(place(Some("78"), pref), None);
        assert_eq!(place(None, pref), None);
        let region = PostcodeForm::Region;
        assert_eq!(
            place(Some("900"), region).as_deref(),
            Some("Kyushu-Okinawa")
        );
        assert_eq!(place(Some("980"), region).as_deref(), Some("Tohoku"));
        // Every area agrees with the Rust table, in one query: the
        // expression is large, and a thousand of them took minutes unoptimized.
        let sql = format!(
            "SELECT x, {} FROM (SELECT lpad(CAST(range AS VARCHAR), 3, '0') AS x FROM range(1000)) ORDER BY x",
            postcode_place("x", pref)
        );
        let mut stmt = conn.prepare(&sql).unwrap();
        let areas: Vec<(String, Option<String>)> = stmt
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
            .unwrap()
            .map(Result::unwrap)
            .collect();
        assert_eq!(areas.len(), 1000);
        for (code, place) in areas {
            assert_eq!(place, geography::postcode_prefecture(&code), "{code}");
        }
    }
}
