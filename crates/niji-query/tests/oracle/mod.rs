//! The independent oracle: a seeded generator writes thousands of queries
//! in the analysis language (and hostile variants around them) over a
//! small release with planted unique persons; each runs through the whole
//! pipeline under `ndb` and `acro`; then `oracle.py` beside this file —
//! written apart from the rewrite, in plain Python over the raw rows —
//! computes the persons behind every released number and checks the rule
//! set. The generator hands it a structured description of each query
//! (never the platform's SQL), so the two sides share nothing but the
//! meaning of the language.

use niji_query::{Analysis, Cell, GrantedTable, Limits, QueryError, RuleSet, Status};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::Serialize;
use serde_json::{Value, json};
use std::path::{Path, PathBuf};

/// How many queries in the language the generator writes (each runs under
/// both rule sets).
pub const QUERIES: usize = 1000;

/// A release of 600 persons and their claims, with planted unique persons:
/// person 0 is the only one aged 99 and the only `RARE` diagnosis, person 1
/// the only sex `9`, person 2 the only one in `okinawa`, persons 3–6 the
/// only `FEW`; person 7 has 80 claims more than anyone; persons 8 and 9
/// alone have code `Z99`; person 10 alone has a claim of 999,999 points.
pub fn release(dir: &Path) -> PathBuf {
    let path = dir.join("oracle-release.duckdb");
    let conn = duckdb::Connection::open(&path).unwrap();
    let pseudonym = |i: &str| {
        format!("translate(md5('oracle ' || ({i})), '0123456789abcdef', 'abcdefghijklmnop')")
    };
    conn.execute_batch(&format!(
        "CREATE TABLE persons AS SELECT
             {p} AS pseudonym,
             CASE WHEN i = 0 THEN 99 ELSE 20 + ((i * 37) % 70) END::INTEGER AS age,
             CASE WHEN i = 1 THEN '9' WHEN i % 2 = 0 THEN '1' ELSE '2' END AS sex,
             CASE WHEN i = 2 THEN 'okinawa'
                  ELSE ['tokyo', 'osaka', 'aichi', 'hokkaido', 'fukuoka'][1 + ((i * 7) % 5)] END AS prefecture,
             CASE WHEN i = 0 THEN 'RARE' WHEN i BETWEEN 3 AND 6 THEN 'FEW'
                  ELSE ['E11', 'I10', 'J45', 'K29', 'M54', 'F32'][1 + ((i * 11) % 6)] END AS diagnosis
         FROM range(600) t(i);
         CREATE TABLE claims AS SELECT
             {c} AS pseudonym,
             CASE WHEN j = 0 AND p IN (8, 9) THEN 'Z99'
                  ELSE ['A01', 'B02', 'C03', 'D04', 'E05', 'F06', 'G07', 'H08'][1 + ((p * 3 + j * 5) % 8)] END AS code,
             CASE WHEN p = 10 AND j = 0 THEN 999999 ELSE 100 + ((p * 31 + j * 17) % 4900) END::INTEGER AS points,
             '2024-' || lpad((1 + ((p + j) % 12))::VARCHAR, 2, '0') AS month,
             (p + j) % 9 = 0 AS inpatient,
             CASE WHEN (p + j) % 10 = 0 THEN NULL WHEN (p + j) % 10 = 1 THEN 0
                  ELSE ((p * 7 + j) % 300) * 1.5 END::DOUBLE AS cost
         FROM range(600) t(p), range(90) u(j)
         WHERE j < 1 + ((p * 13) % 6) OR (p = 7 AND j < 86);",
        p = pseudonym("i"),
        c = pseudonym("p"),
    ))
    .unwrap();
    for table in ["persons", "claims"] {
        conn.execute_batch(&format!(
            "ALTER TABLE {table} ADD COLUMN {c} UBIGINT; UPDATE {table} SET {c} = {bucket};",
            c = niji_core::bucket::COLUMN,
            bucket = niji_core::bucket::sql("pseudonym"),
        ))
        .unwrap();
        conn.execute_batch(&niji_core::person_rows::record(table))
            .unwrap();
        conn.execute_batch(&niji_core::person_index::add_to(table))
            .unwrap();
    }
    conn.execute_batch(&niji_core::person_index::record())
        .unwrap();
    path
}

pub fn analysis(path: &Path) -> Analysis {
    let table = |name: &str, columns: &[&str]| GrantedTable {
        view: name.into(),
        release: "oracle".into(),
        path: path.to_owned(),
        table: name.into(),
        columns: columns.iter().map(|c| (*c).to_owned()).collect(),
    };
    Analysis::new(
        vec![
            table("persons", &["age", "sex", "prefecture", "diagnosis"]),
            table("claims", &["code", "points", "month", "inpatient", "cost"]),
        ],
        Limits::default(),
    )
    .with_pool(std::sync::Arc::default())
}

/// A condition, as the oracle evaluates it.
#[derive(Debug, Clone, Serialize)]
#[serde(tag = "t", rename_all = "snake_case")]
pub enum Cond {
    Cmp {
        col: String,
        op: String,
        value: Value,
    },
    In {
        col: String,
        values: Vec<Value>,
    },
    Like {
        col: String,
        prefix: String,
    },
    IsNull {
        col: String,
        negated: bool,
    },
    Bool {
        col: String,
        negated: bool,
    },
    And {
        a: Box<Cond>,
        b: Box<Cond>,
    },
    Or {
        a: Box<Cond>,
        b: Box<Cond>,
    },
    InPersons {
        table: String,
        filter: Option<Box<Cond>>,
    },
}

#[derive(Debug, Clone, Serialize)]
pub struct Key {
    col: String,
    band: Option<u32>,
    left: Option<u32>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Measure {
    agg: &'static str,
    col: Option<String>,
    filter: Option<Cond>,
}

#[derive(Debug, Clone, Serialize)]
#[serde(tag = "t", rename_all = "snake_case")]
pub enum Out {
    Key { i: usize },
    Measure { i: usize },
    Ratio { num: usize, den: usize },
}

/// Person-level variables of claims, joined to persons as `v`.
#[derive(Debug, Clone, Serialize)]
pub struct Var {
    filter: Option<Cond>,
}

/// A query as the oracle reads it.
#[derive(Debug, Clone, Serialize)]
pub struct Spec {
    pub sql: String,
    base: &'static str,
    join: Option<&'static str>,
    var: Option<Var>,
    cond: Option<Cond>,
    keys: Vec<Key>,
    rollup: bool,
    measures: Vec<Measure>,
    outputs: Vec<Out>,
}

impl Spec {
    pub fn has_extreme(&self) -> bool {
        self.measures.iter().any(|m| m.agg == "max")
    }
}

/// The shape of FROM: which relations, and how the query names them.
struct Shape {
    base: &'static str,
    join: Option<&'static str>,
    var: bool,
    /// The qualifier of each relation's columns ("" for none).
    qualifier: Vec<(&'static str, &'static str)>,
}

impl Shape {
    fn q(&self, col: &str) -> String {
        let (table, name) = col.split_once('.').unwrap();
        let q = self
            .qualifier
            .iter()
            .find(|(t, _)| *t == table)
            .map_or("", |(_, q)| q);
        if q.is_empty() {
            name.to_owned()
        } else {
            format!("{q}.{name}")
        }
    }

    fn tables(&self) -> Vec<&'static str> {
        let mut t = vec![self.base];
        t.extend(self.join);
        if self.var {
            t.push("v");
        }
        t
    }
}

fn pick<'a, T>(rng: &mut ChaCha8Rng, items: &'a [T]) -> &'a T {
    &items[rng.random_range(0..items.len())]
}

fn atom(rng: &mut ChaCha8Rng, tables: &[&str], outer: bool) -> Cond {
    let mut choices: Vec<Cond> = Vec::new();
    fn cmp(col: &str, op: &str, value: Value) -> Cond {
        Cond::Cmp {
            col: col.into(),
            op: op.into(),
            value,
        }
    }
    if tables.contains(&"persons") {
        let age = *pick(rng, &[30, 50, 65, 80, 99]);
        choices.extend([
            cmp(
                "persons.age",
                pick::<&str>(rng, &[">=", "<", "=", "<>"]),
                json!(age),
            ),
            cmp("persons.sex", "=", json!(*pick(rng, &["1", "2", "9"]))),
            cmp(
                "persons.prefecture",
                "=",
                json!(*pick(rng, &["okinawa", "tokyo", "osaka"])),
            ),
            cmp(
                "persons.diagnosis",
                "=",
                json!(*pick(rng, &["RARE", "FEW", "E11", "I10"])),
            ),
            Cond::In {
                col: "persons.diagnosis".into(),
                values: vec![json!("RARE"), json!(*pick(rng, &["FEW", "J45", "K29"]))],
            },
        ]);
        if outer && !tables.contains(&"claims") {
            let filter = if rng.random_bool(0.7) {
                Some(Box::new(cmp(
                    "claims.code",
                    "=",
                    json!(*pick(rng, &["Z99", "A01", "C03"])),
                )))
            } else {
                None
            };
            choices.push(Cond::InPersons {
                table: "claims".into(),
                filter,
            });
        }
    }
    if tables.contains(&"claims") {
        choices.extend([
            cmp(
                "claims.code",
                "=",
                json!(*pick(rng, &["Z99", "A01", "B02", "H08"])),
            ),
            Cond::Like {
                col: "claims.code".into(),
                prefix: (*pick(rng, &["A", "Z", "C"])).into(),
            },
            cmp(
                "claims.points",
                pick::<&str>(rng, &[">", "<"]),
                json!(*pick(rng, &[500, 4000, 900000])),
            ),
            cmp(
                "claims.month",
                "=",
                json!(*pick(rng, &["2024-03", "2024-11"])),
            ),
            Cond::Bool {
                col: "claims.inpatient".into(),
                negated: rng.random_bool(0.3),
            },
            Cond::IsNull {
                col: "claims.cost".into(),
                negated: rng.random_bool(0.5),
            },
            cmp("claims.cost", ">", json!(*pick(rng, &[0, 100, 400]))),
        ]);
    }
    if tables.contains(&"v") {
        choices.push(cmp(
            "v.n_claims",
            pick::<&str>(rng, &[">", "<="]),
            json!(*pick(rng, &[1, 3, 50])),
        ));
    }
    choices.swap_remove(rng.random_range(0..choices.len()))
}

fn cond(rng: &mut ChaCha8Rng, tables: &[&str], outer: bool) -> Cond {
    match rng.random_range(0..10) {
        0..=5 => atom(rng, tables, outer),
        6..=7 => Cond::And {
            a: Box::new(atom(rng, tables, outer)),
            b: Box::new(atom(rng, tables, outer)),
        },
        _ => Cond::Or {
            a: Box::new(atom(rng, tables, outer)),
            b: Box::new(atom(rng, tables, outer)),
        },
    }
}

fn value_sql(v: &Value) -> String {
    match v {
        Value::String(s) => format!("'{}'", s.replace('\'', "''")),
        other => other.to_string(),
    }
}

fn cond_sql(c: &Cond, shape: &Shape) -> String {
    match c {
        Cond::Cmp { col, op, value } => format!("{} {op} {}", shape.q(col), value_sql(value)),
        Cond::In { col, values } => {
            let v: Vec<String> = values.iter().map(value_sql).collect();
            format!("{} IN ({})", shape.q(col), v.join(", "))
        }
        Cond::Like { col, prefix } => format!("{} LIKE '{prefix}%'", shape.q(col)),
        Cond::IsNull { col, negated } => format!(
            "{} IS {}NULL",
            shape.q(col),
            if *negated { "NOT " } else { "" }
        ),
        Cond::Bool { col, negated } => {
            format!("{}{}", if *negated { "NOT " } else { "" }, shape.q(col))
        }
        Cond::And { a, b } => format!("({} AND {})", cond_sql(a, shape), cond_sql(b, shape)),
        Cond::Or { a, b } => format!("({} OR {})", cond_sql(a, shape), cond_sql(b, shape)),
        Cond::InPersons { table, filter } => {
            let inner = Shape {
                base: "claims",
                join: None,
                var: false,
                qualifier: vec![],
            };
            let person = shape.q(&format!("{}.pseudonym", shape.base));
            format!(
                "{person} IN (SELECT pseudonym FROM {table}{})",
                filter
                    .as_ref()
                    .map_or(String::new(), |f| format!(" WHERE {}", cond_sql(f, &inner)))
            )
        }
    }
}

fn key_sql(k: &Key, shape: &Shape) -> String {
    let c = shape.q(&k.col);
    match (k.band, k.left) {
        (Some(w), _) => format!("floor({c} / {w}) * {w}"),
        (_, Some(n)) => format!("left({c}, {n})"),
        _ => c,
    }
}

fn measure_sql(m: &Measure, shape: &Shape, rng: &mut ChaCha8Rng) -> String {
    let filter = m.filter.as_ref().map(|f| cond_sql(f, shape));
    let col = m.col.as_ref().map(|c| shape.q(c)).unwrap_or_default();
    if m.agg == "rows"
        && let Some(f) = &filter
        && rng.random_bool(0.3)
    {
        return format!("count_if({f})");
    }
    let call = match m.agg {
        "rows" => "count(*)".to_owned(),
        "persons" => format!(
            "count(DISTINCT {})",
            shape.q(&format!("{}.pseudonym", shape.base))
        ),
        "avg" => format!("{}({col})", pick(rng, &["avg", "mean"])),
        agg => format!("{agg}({col})"),
    };
    match filter {
        Some(f) => format!("{call} FILTER (WHERE {f})"),
        None => call,
    }
}

fn shape(rng: &mut ChaCha8Rng) -> Shape {
    match rng.random_range(0..4) {
        0 => Shape {
            base: "persons",
            join: None,
            var: false,
            qualifier: vec![("persons", *pick(rng, &["", "p", "persons"]))],
        },
        1 => Shape {
            base: "claims",
            join: None,
            var: false,
            qualifier: vec![("claims", *pick(rng, &["", "c"]))],
        },
        2 => Shape {
            base: "claims",
            join: Some("persons"),
            var: false,
            qualifier: vec![("claims", "c"), ("persons", "p")],
        },
        _ => Shape {
            base: "persons",
            join: None,
            var: true,
            qualifier: vec![("persons", "p"), ("v", "v")],
        },
    }
}

fn from_sql(shape: &Shape, var: Option<&Var>, rng: &mut ChaCha8Rng) -> String {
    let alias = |t: &str| {
        shape
            .qualifier
            .iter()
            .find(|(x, _)| *x == t)
            .map_or("", |(_, q)| q)
    };
    let named = |t: &str| {
        let a = alias(t);
        if a.is_empty() || a == t {
            t.to_owned()
        } else {
            format!("{t} AS {a}")
        }
    };
    let mut sql = named(shape.base);
    if let Some(j) = shape.join {
        let on = if rng.random_bool(0.5) {
            "USING (pseudonym)".to_owned()
        } else {
            format!(
                "ON {}.pseudonym = {}.pseudonym",
                alias(j),
                alias(shape.base)
            )
        };
        sql.push_str(&format!(" JOIN {} {on}", named(j)));
    }
    if let Some(v) = var {
        let inner = Shape {
            base: "claims",
            join: None,
            var: false,
            qualifier: vec![],
        };
        let filter = v
            .filter
            .as_ref()
            .map_or(String::new(), |f| format!(" WHERE {}", cond_sql(f, &inner)));
        sql.push_str(&format!(
            " JOIN (SELECT pseudonym, count(*) AS n_claims, sum(points) AS total_points FROM claims{filter} GROUP BY pseudonym) AS v USING (pseudonym)"
        ));
    }
    sql
}

/// One query in the language, with its description.
pub fn generate(rng: &mut ChaCha8Rng) -> Spec {
    let shape = shape(rng);
    let tables = shape.tables();
    let var = shape.var.then(|| Var {
        filter: rng.random_bool(0.4).then(|| atom(rng, &["claims"], false)),
    });
    let mut key_pool: Vec<Key> = Vec::new();
    let key = |col: &str, band: Option<u32>, left: Option<u32>| Key {
        col: col.into(),
        band,
        left,
    };
    if tables.contains(&"persons") {
        key_pool.extend([
            key("persons.sex", None, None),
            key("persons.prefecture", None, None),
            key("persons.diagnosis", None, None),
            key("persons.age", Some(*pick(rng, &[10, 20])), None),
            key("persons.age", None, None),
        ]);
    }
    if tables.contains(&"claims") {
        key_pool.extend([
            key("claims.code", None, None),
            key("claims.code", None, Some(1)),
            key("claims.month", None, None),
            key("claims.inpatient", None, None),
            key("claims.points", Some(1000), None),
        ]);
    }
    if tables.contains(&"v") {
        key_pool.extend([
            key("v.n_claims", None, None),
            key("v.n_claims", Some(2), None),
        ]);
    }
    let n_keys = *pick(rng, &[0, 1, 1, 1, 2, 2, 2, 3]);
    let mut keys: Vec<Key> = Vec::new();
    for _ in 0..n_keys {
        let k = key_pool.swap_remove(rng.random_range(0..key_pool.len()));
        keys.push(k);
    }
    let mut measure_pool: Vec<(&'static str, Option<&str>)> =
        vec![("rows", None), ("persons", None)];
    if tables.contains(&"claims") {
        measure_pool.extend([
            ("count", Some("claims.cost")),
            ("sum", Some("claims.points")),
            ("sum", Some("claims.cost")),
            ("avg", Some("claims.points")),
            ("avg", Some("claims.cost")),
            ("max", Some("claims.points")),
        ]);
    }
    if tables.contains(&"persons") {
        measure_pool.extend([("avg", Some("persons.age")), ("sum", Some("persons.age"))]);
    }
    if tables.contains(&"v") {
        measure_pool.extend([("avg", Some("v.n_claims")), ("sum", Some("v.total_points"))]);
    }
    let n_measures = rng.random_range(1..=3);
    let mut measures = Vec::new();
    for _ in 0..n_measures {
        let (agg, col) = *pick(rng, &measure_pool);
        if agg == "max" && rng.random_bool(0.7) {
            continue;
        }
        measures.push(Measure {
            agg,
            col: col.map(str::to_owned),
            filter: rng.random_bool(0.5).then(|| cond(rng, &tables, false)),
        });
    }
    if measures.is_empty() {
        measures.push(Measure {
            agg: "rows",
            col: None,
            filter: None,
        });
    }
    let cond = rng.random_bool(0.5).then(|| cond(rng, &tables, true));
    let rollup = !keys.is_empty() && rng.random_bool(0.25);
    let mut outputs: Vec<Out> = (0..keys.len()).map(|i| Out::Key { i }).collect();
    outputs.extend((0..measures.len()).map(|i| Out::Measure { i }));
    if measures.len() >= 2 && rng.random_bool(0.3) {
        outputs.push(Out::Ratio { num: 0, den: 1 });
    }
    // The text.
    let mut items: Vec<String> = keys.iter().map(|k| key_sql(k, &shape)).collect();
    let measure_text: Vec<String> = measures
        .iter()
        .map(|m| measure_sql(m, &shape, rng))
        .collect();
    for (i, out) in outputs.iter().enumerate().skip(keys.len()) {
        let text = match out {
            Out::Measure { i } => measure_text[*i].clone(),
            Out::Ratio { num, den } => {
                format!("100.0 * {} / {}", measure_text[*num], measure_text[*den])
            }
            Out::Key { .. } => unreachable!(),
        };
        items.push(format!("{text} AS m{i}"));
    }
    let mut sql = format!(
        "SELECT {} FROM {}",
        items.join(", "),
        from_sql(&shape, var.as_ref(), rng)
    );
    if let Some(c) = &cond {
        sql.push_str(&format!(" WHERE {}", cond_sql(c, &shape)));
    }
    if !keys.is_empty() {
        let texts: Vec<String> = keys.iter().map(|k| key_sql(k, &shape)).collect();
        if rollup {
            sql.push_str(&format!(" GROUP BY ROLLUP ({})", texts.join(", ")));
        } else {
            match rng.random_range(0..3) {
                0 => sql.push_str(" GROUP BY ALL"),
                1 => {
                    let pos: Vec<String> = (1..=keys.len()).map(|p| p.to_string()).collect();
                    sql.push_str(&format!(" GROUP BY {}", pos.join(", ")));
                }
                _ => sql.push_str(&format!(" GROUP BY {}", texts.join(", "))),
            }
        }
        if rng.random_bool(0.2) {
            sql.push_str(" HAVING count(*) >= 5");
        }
        if rng.random_bool(0.3) {
            sql.push_str(&format!(" ORDER BY {} DESC", keys.len() + 1));
        }
        if rng.random_bool(0.15) {
            sql.push_str(" LIMIT 5");
        }
    }
    Spec {
        sql,
        base: shape.base,
        join: shape.join,
        var,
        cond,
        keys,
        rollup,
        measures,
        outputs,
    }
}

/// A hostile variant of a query: one of the channels an aggregate grant
/// must close. Each must be refused under both rule sets.
pub fn hostile(rng: &mut ChaCha8Rng, spec: &Spec) -> String {
    let from = match (spec.base, spec.join) {
        ("claims", Some(_)) => "claims c JOIN persons p USING (pseudonym)",
        ("claims", None) => "claims c",
        _ => "persons p",
    };
    let key = match spec.base {
        "claims" => "c.code",
        _ => "p.sex",
    };
    let rare = match spec.base {
        "claims" if spec.join.is_none() => "c.code = 'Z99'",
        "claims" => "p.diagnosis = 'RARE'",
        _ => "p.diagnosis = 'RARE'",
    };
    let n = format!("'{}'", rng.random_range(0..1000));
    let variants = [
        format!("SELECT {key}, count(*) OVER () FROM {from}"),
        format!("SELECT {key}, sum(count(*)) OVER () AS total FROM {from} GROUP BY {key}"),
        format!("SELECT {key}, sum(CASE WHEN {rare} THEN 1 ELSE 0 END) FROM {from} GROUP BY {key}"),
        format!("SELECT {key}, avg(CASE WHEN {rare} THEN 1 ELSE 0 END) FROM {from} GROUP BY {key}"),
        format!("SELECT {key}, count(CASE WHEN {rare} THEN 1 END) FROM {from} GROUP BY {key}"),
        "SELECT count(*) FROM (SELECT * FROM persons ORDER BY age DESC LIMIT 1) p".to_owned(),
        "SELECT count(*) FROM (SELECT diagnosis AS pseudonym FROM persons) p".to_owned(),
        "SELECT count(DISTINCT pseudonym) FROM (SELECT upper(pseudonym) AS pseudonym FROM persons) p".to_owned(),
        format!("SELECT upper(p.pseudonym) AS who, count(*) FROM {from} GROUP BY 1"),
        "SELECT p.pseudonym, count(*) FROM persons p GROUP BY p.pseudonym".to_owned(),
        format!("SELECT {key}, count(*) FROM claims c, persons p GROUP BY {key}"),
        "SELECT count(*) FROM persons AS persons(a, b, c)".to_owned(),
        "SELECT count(*) FROM duckdb_columns AS persons".to_owned(),
        format!("SELECT {key}, count(*) FROM {from} GROUP BY {key} HAVING max(age) > 90"),
        format!("SELECT {key}, count(*) FROM {from} GROUP BY {key} ORDER BY max(age)"),
        format!("SELECT {key}, count(*) * 0 + max(age) FROM {from} GROUP BY {key}"),
        format!(
            "SELECT {key}, count(*) FROM {from} GROUP BY {key} QUALIFY row_number() OVER () = 1"
        ),
        format!(
            "SELECT {key}, count(*) FILTER (WHERE CAST(concat('#', diagnosis) AS INTEGER) > 0) FROM {from} GROUP BY {key}"
        ),
        format!("SELECT {key}, count(*) FROM {from} WHERE pseudonym = {n} GROUP BY {key}"),
        format!(
            "SELECT {key}, count(*) FROM {from} WHERE age IN (SELECT max(age) FROM persons) GROUP BY {key}"
        ),
        format!("SELECT {key}, count(DISTINCT diagnosis) FROM {from} GROUP BY {key}"),
        format!("SELECT {key}, list(age) FROM {from} GROUP BY {key}"),
        format!("SELECT count(*) FROM {from} UNION ALL SELECT count(*) FROM {from} WHERE {rare}"),
    ];
    pick(rng, &variants).clone()
}

pub fn json_cell(c: &Cell) -> Value {
    match c {
        Cell::Null => Value::Null,
        Cell::Bool(b) => json!(b),
        Cell::Int(i) => json!(i),
        Cell::Float(f) => serde_json::Number::from_f64(*f).map_or(Value::Null, Value::Number),
        Cell::Text(s) => json!(s),
    }
}

fn status(s: Status) -> &'static str {
    match s {
        Status::Pass => "pass",
        Status::Suppressed => "suppressed",
        Status::Secondary => "secondary",
        Status::Review => "review",
    }
}

/// Runs `spec` under `rules`: its line for the oracle, and the numbers it
/// released (cells of measures that passed or wait for review).
pub fn run(analysis: &Analysis, spec: &Spec, rules: &RuleSet) -> (Value, usize) {
    match analysis.aggregate(&spec.sql, rules) {
        Ok(out) => {
            let numbers = out
                .findings
                .cells
                .iter()
                .flat_map(|r| r.iter().skip(spec.keys.len()))
                .filter(|s| matches!(s, Status::Pass | Status::Review))
                .count();
            // What leaves is exactly the passed cells.
            for (r, row) in out.released.rows.iter().enumerate() {
                for (c, cell) in row.iter().enumerate() {
                    if out.findings.cells[r][c] != Status::Pass {
                        assert_eq!(*cell, Cell::Null, "{}", spec.sql);
                    }
                }
            }
            let line = json!({
                "spec": spec,
                "rules": rules.name,
                "min": rules.min_persons,
                "outcome": "released",
                "columns": out.computed.columns,
                "rows": out.computed.rows.iter().map(|r| r.iter().map(json_cell).collect::<Vec<_>>()).collect::<Vec<_>>(),
                "cells": out.findings.cells.iter().map(|r| r.iter().map(|s| status(*s)).collect::<Vec<_>>()).collect::<Vec<_>>(),
                // Each number that leaves or waits, with the persons the
                // platform kept for differencing.
                "numbers": out.numbers.as_ref().map(|ns| ns.numbers.iter().map(|n| json!({
                    "row": n.row,
                    "columns": n.columns,
                    "family": n.family,
                    "persons": n.persons.iter().collect::<Vec<u32>>(),
                })).collect::<Vec<_>>()),
            });
            (line, numbers)
        }
        Err(QueryError::Refused(reason)) => {
            assert!(
                spec.has_extreme() && rules.name == "ndb",
                "refused in the language: {}\n{reason}",
                spec.sql
            );
            (
                json!({"spec": spec, "rules": rules.name, "outcome": "refused"}),
                0,
            )
        }
        Err(other) => panic!("{}: {other}", spec.sql),
    }
}

pub fn seeded() -> ChaCha8Rng {
    ChaCha8Rng::seed_from_u64(0x6e69_6a69)
}
