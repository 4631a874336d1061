//! The raw-identifier scan: a synthetic population's names and insurance
//! cards, from its ground truth, looked for in files and stored values.
//!
//! Names and whole cards (insurer, symbol and number together) are
//! distinctive anywhere. A card's number alone (six or seven digits) is
//! only a finding as a whole run of digits in text that holds values whole,
//! and in a store's values only as the whole value or a quoted string: a
//! timestamp's microseconds are six digits too.

use std::collections::{BTreeSet, HashMap};
use std::path::{Path, PathBuf};

use aho_corasick::AhoCorasick;

/// A CSV file as rows of column → value.
pub fn csv_rows(path: &Path) -> Vec<HashMap<String, String>> {
    let mut reader =
        csv::Reader::from_path(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let header = reader.headers().unwrap().clone();
    reader
        .records()
        .map(|r| {
            header
                .iter()
                .zip(r.unwrap().iter())
                .map(|(h, v)| (h.to_owned(), v.to_owned()))
                .collect()
        })
        .collect()
}

/// Every file under `dir`, appended to `out`.
pub fn files_under(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display())) {
        let path = entry.unwrap().path();
        if path.is_dir() {
            files_under(&path, out);
        } else {
            out.push(path);
        }
    }
}

/// The identifiers of a population's ground truth, ready to look for.
pub struct Identifiers {
    /// Names and whole cards.
    distinct: AhoCorasick,
    /// Card numbers alone.
    numbers: AhoCorasick,
    number_set: BTreeSet<String>,
}

impl Identifiers {
    /// Those of the population written to `pop` (its `truth/` directory).
    pub fn of(pop: &Path) -> Identifiers {
        let truth = pop.join("truth");
        let mut distinct = BTreeSet::new();
        for n in csv_rows(&truth.join("names.csv")) {
            let (family, given) = (&n["family_kanji"], &n["given_kanji"]);
            let (family_kana, given_kana) = (&n["family_kana"], &n["given_kana"]);
            for separator in ["", " ", "　"] {
                distinct.insert(format!("{family}{separator}{given}"));
                distinct.insert(format!("{family_kana}{separator}{given_kana}"));
            }
        }
        let mut number_set = BTreeSet::new();
        for s in csv_rows(&truth.join("insurance.csv")) {
            let (insurer, symbol, number) = (&s["insurer_number"], &s["symbol"], &s["number"]);
            for separator in ["", ":", ",", " ", "-", "|", "/"] {
                distinct.insert(format!("{insurer}{separator}{symbol}{separator}{number}"));
            }
            if number.len() >= 6 {
                number_set.insert(number.clone());
            }
        }
        assert!(
            distinct.len() > 1000 && number_set.len() > 100,
            "{}: too few identifiers to mean anything ({} distinct, {} numbers)",
            truth.display(),
            distinct.len(),
            number_set.len()
        );
        Identifiers {
            distinct: AhoCorasick::new(&distinct).unwrap(),
            numbers: AhoCorasick::new(&number_set).unwrap(),
            number_set,
        }
    }

    /// Where in `bytes` a name or a whole card is: for files that pack
    /// values side by side (DuckDB, SQLite and PostgreSQL pages).
    pub fn in_packed(&self, bytes: &[u8]) -> Option<(usize, usize)> {
        self.distinct.find(bytes).map(|m| (m.start(), m.end()))
    }

    /// Where in `bytes` an identifier is, a number as a whole run of
    /// digits: for text that holds every value whole (CSV, logs).
    pub fn in_text(&self, bytes: &[u8]) -> Option<(usize, usize)> {
        if let Some(found) = self.in_packed(bytes) {
            return Some(found);
        }
        let digit = |i: Option<&u8>| i.is_some_and(u8::is_ascii_digit);
        self.numbers
            .find_overlapping_iter(bytes)
            .find(|m| {
                !digit(m.start().checked_sub(1).and_then(|i| bytes.get(i)))
                    && !digit(bytes.get(m.end()))
            })
            .map(|m| (m.start(), m.end()))
    }

    /// Whether a stored value is or holds an identifier: a name or a card
    /// anywhere, a number as the whole value or as a quoted string in it.
    pub fn in_value(&self, value: &str) -> bool {
        self.in_packed(value.as_bytes()).is_some()
            || self.number_set.contains(value.trim())
            || self
                .numbers
                .find_overlapping_iter(value)
                .any(|m| value[..m.start()].ends_with('"') && value[m.end()..].starts_with('"'))
    }

    /// Panics naming the file and the bytes around an identifier found in
    /// it by `find`.
    pub fn assert_none_in(
        &self,
        file: &Path,
        find: impl Fn(&Identifiers, &[u8]) -> Option<(usize, usize)>,
    ) {
        let bytes = std::fs::read(file).unwrap_or_else(|e| panic!("{}: {e}", file.display()));
        if let Some((start, end)) = find(self, &bytes) {
            panic!(
                "{}: holds the truth identifier {:?}",
                file.display(),
                String::from_utf8_lossy(
                    &bytes[start.saturating_sub(30)..(end + 30).min(bytes.len())]
                )
            );
        }
    }
}

/// Every value of Parquet file `file` as text, decoded (the file's pages
/// are compressed, so its bytes alone would not show a value).
pub fn parquet_values(file: &Path) -> Vec<String> {
    let conn = duckdb::Connection::open_in_memory().unwrap();
    let mut stmt = conn
        .prepare("SELECT CAST(COLUMNS(*) AS VARCHAR) FROM read_parquet(?)")
        .unwrap();
    let mut rows = stmt.query([file.to_string_lossy()]).unwrap();
    let mut values = Vec::new();
    while let Some(row) = rows.next().unwrap() {
        for i in 0..row.as_ref().column_count() {
            if let Some(v) = row.get::<_, Option<String>>(i).unwrap() {
                values.push(v);
            }
        }
    }
    values
}

impl Identifiers {
    /// Panics naming `file` when it holds an identifier: its bytes as
    /// [`Identifiers::in_packed`] reads them, and a Parquet file's values
    /// decoded, each as [`Identifiers::in_value`] reads it.
    pub fn assert_none_in_file(&self, file: &Path) {
        self.assert_none_in(file, Identifiers::in_packed);
        if file.extension().is_some_and(|e| e == "parquet")
            && let Some(v) = parquet_values(file).iter().find(|v| self.in_value(v))
        {
            panic!("{}: holds the truth identifier {v:?}", file.display());
        }
    }
}

/// Every text value of the control plane of `env`, whichever backend it is
/// on: read with SQLite itself from the embedded file, or from PostgreSQL's
/// own `pg_dump`. (PostgreSQL compresses long values on disk, so its files'
/// bytes alone would not do.)
pub fn stored_values(env: &super::Env) -> Vec<String> {
    match env.store.cluster() {
        Some(cluster) => copy_values(&cluster.dump("niji").unwrap()),
        None => sqlite_values(&env.data().join("control.sqlite")),
    }
}

fn sqlite_values(file: &Path) -> Vec<String> {
    let db =
        rusqlite::Connection::open_with_flags(file, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)
            .unwrap_or_else(|e| panic!("{}: {e}", file.display()));
    let tables: Vec<String> = db
        .prepare("SELECT name FROM sqlite_schema WHERE type = 'table'")
        .unwrap()
        .query_map([], |r| r.get(0))
        .unwrap()
        .map(Result::unwrap)
        .collect();
    let mut values = Vec::new();
    for table in tables {
        let mut stmt = db.prepare(&format!("SELECT * FROM \"{table}\"")).unwrap();
        let columns = stmt.column_count();
        let mut rows = stmt.query([]).unwrap();
        while let Some(row) = rows.next().unwrap() {
            for i in 0..columns {
                match row.get_ref(i).unwrap() {
                    rusqlite::types::ValueRef::Text(t) => {
                        values.push(String::from_utf8_lossy(t).into_owned())
                    }
                    rusqlite::types::ValueRef::Blob(b) => {
                        values.push(String::from_utf8_lossy(b).into_owned())
                    }
                    _ => {}
                }
            }
        }
    }
    values
}

/// The values of a `pg_dump` in COPY text format: tab-separated, with
/// backslash escapes and `\N` for null.
fn copy_values(dump: &str) -> Vec<String> {
    let mut values = Vec::new();
    let mut in_copy = false;
    for line in dump.lines() {
        if !in_copy {
            in_copy = line.starts_with("COPY ") && line.ends_with("FROM stdin;");
            continue;
        }
        if line == "\\." {
            in_copy = false;
            continue;
        }
        values.extend(line.split('\t').filter(|v| *v != "\\N").map(unescape_copy));
    }
    values
}

fn unescape_copy(field: &str) -> String {
    let mut out = String::with_capacity(field.len());
    let mut chars = field.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('t') => out.push('\t'),
            Some('n') => out.push('\n'),
            Some('r') => out.push('\r'),
            Some(other) => out.push(other),
            None => {}
        }
    }
    out
}
