/*!
Differential privacy for the analysis API: a structured query (group-by
keys from public key sets, counts, sums and means with clamping bounds, a
ρ to spend) becomes an OpenDP measurement over a polars LazyFrame under
zero-concentrated DP (zCDP).

The privacy unit is the person: the platform keeps at most
`max_rows_per_person` rows of each person (chosen at random) before the
measurement, and tells OpenDP that one person changes at most that many
rows. The noise scale is the smallest whose privacy map costs no more than
the ρ asked for; the cost charged is the map's value, rounded up.

OpenDP's measurements are not `Send`: [`Prepared`] is built and used inside
one blocking task, never held across an `.await`.

```no_run
use niji_dp::{DpQuery, GroupKey, Measure, Prepared, KeySets};

let keys = KeySets::builtin()?;
let query = DpQuery {
    table: "persons".into(),
    group_by: vec![GroupKey { column: "sex".into(), keyset: "sex".into() }],
    measures: vec![Measure::Count],
    rho: 0.1,
    max_rows_per_person: 1,
};
let prepared = Prepared::new(&query, &keys)?;
println!("costs ρ = {}", prepared.rho());
# Ok::<(), niji_dp::DpError>(())
```
*/
#![deny(missing_docs)]

use opendp::core::Measurement;
use opendp::domains::{AtomDomain, LazyFrameDomain, Margin, SeriesDomain};
use opendp::measurements::make_private_lazyframe;
use opendp::measures::ZeroConcentratedDivergence;
use opendp::metrics::{Bounds, FrameDistance, SymmetricDistance};
use opendp::polars::{OnceFrame, PrivacyNamespace};
use polars::prelude::*;
use serde::Deserialize;
use std::collections::BTreeMap;

/// The longest group OpenDP is told about: far above any per-person bound,
/// as OpenDP issue #2945 needs, and public (a constant, not a count of the
/// data). A float sum's noise grows with it (OpenDP accounts for rounding
/// over this many terms), so it is no larger than the largest input a
/// query may read: 2²⁴ rows; more are refused.
pub const MAX_GROUP_LENGTH: u32 = 1 << 24;

/// The most rows of one person a query may keep.
pub const MAX_ROWS_PER_PERSON: u32 = 100;

/// Confidence of the reported accuracy intervals.
pub const ALPHA: f64 = 0.05;

/// Why a DP query was refused or failed.
#[derive(Debug, thiserror::Error)]
pub enum DpError {
    /// The query asks for something not allowed.
    #[error("{0}")]
    Refused(String),
    /// OpenDP could not build or run the measurement.
    #[error("the DP measurement failed: {0}")]
    Measurement(String),
    /// A key-set policy is wrong.
    #[error("DP key sets: {0}")]
    Policy(String),
}

fn measurement_error(e: impl std::fmt::Display) -> DpError {
    DpError::Measurement(e.to_string())
}

/// A group-by column and the public key set its keys come from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupKey {
    /// The column.
    pub column: String,
    /// The key set (`policies/dp-keysets.toml`).
    pub keyset: String,
}

/// One statistic.
#[derive(Debug, Clone, PartialEq)]
pub enum Measure {
    /// Rows per group.
    Count,
    /// A clamped sum.
    Sum {
        /// The column.
        column: String,
        /// Values below are raised to it.
        lower: f64,
        /// Values above are lowered to it.
        upper: f64,
    },
    /// A clamped mean.
    Mean {
        /// The column.
        column: String,
        /// Values below are raised to it.
        lower: f64,
        /// Values above are lowered to it.
        upper: f64,
    },
}

impl Measure {
    /// The column it reads, if any.
    pub fn column(&self) -> Option<&str> {
        match self {
            Measure::Count => None,
            Measure::Sum { column, .. } | Measure::Mean { column, .. } => Some(column),
        }
    }

    /// Its output column's name.
    pub fn name(&self) -> String {
        match self {
            Measure::Count => "count".into(),
            Measure::Sum { column, .. } => format!("sum_{column}"),
            Measure::Mean { column, .. } => format!("mean_{column}"),
        }
    }

    fn bounds(&self) -> Option<(f64, f64)> {
        match self {
            Measure::Count => None,
            Measure::Sum { lower, upper, .. } | Measure::Mean { lower, upper, .. } => {
                Some((*lower, *upper))
            }
        }
    }
}

/// A structured DP query.
#[derive(Debug, Clone, PartialEq)]
pub struct DpQuery {
    /// The granted table.
    pub table: String,
    /// Group-by columns, each with its public key set.
    pub group_by: Vec<GroupKey>,
    /// The statistics.
    pub measures: Vec<Measure>,
    /// The ρ (zCDP) to spend.
    pub rho: f64,
    /// Rows of one person kept (1 for a person table).
    pub max_rows_per_person: u32,
}

/// The public key sets: values a group-by column may take, declared in
/// policy, never read from the data.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeySets(BTreeMap<String, Vec<String>>);

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct KeySetFile {
    keyset: Vec<KeySetEntry>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct KeySetEntry {
    name: String,
    #[allow(dead_code)]
    description: String,
    values: Vec<String>,
}

const KEYSETS_TOML: &str = include_str!("../../../policies/dp-keysets.toml");

impl KeySets {
    /// Parses a key-set file.
    pub fn parse(text: &str, origin: &str) -> Result<KeySets, DpError> {
        let file: KeySetFile =
            toml::from_str(text).map_err(|e| DpError::Policy(format!("{origin}: {e}")))?;
        let mut sets = BTreeMap::new();
        for entry in file.keyset {
            if entry.values.is_empty() {
                return Err(DpError::Policy(format!(
                    "{origin}: key set `{}` has no values",
                    entry.name
                )));
            }
            sets.insert(entry.name, entry.values);
        }
        Ok(KeySets(sets))
    }

    /// The key sets this build carries (`policies/dp-keysets.toml`).
    pub fn builtin() -> Result<KeySets, DpError> {
        KeySets::parse(KEYSETS_TOML, "policies/dp-keysets.toml")
    }

    /// The values of a key set.
    pub fn get(&self, name: &str) -> Option<&[String]> {
        self.0.get(name).map(Vec::as_slice)
    }

    /// The key-set names.
    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.0.keys().map(String::as_str)
    }
}

/// The data a measurement reads: the group-by columns as text and the
/// measure columns as numbers, one row per kept person-row.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Rows {
    /// Per group-by column, its values.
    pub keys: Vec<Vec<String>>,
    /// Per measure column (in [`Prepared::value_columns`] order), values.
    pub values: Vec<Vec<f64>>,
}

/// What a measure's noise is, as OpenDP reports it.
#[derive(Debug, Clone, PartialEq)]
pub struct Noise {
    /// The output column.
    pub column: String,
    /// The aggregate (`Frame Length`, `Sum`, …).
    pub aggregate: String,
    /// The noise distribution.
    pub distribution: String,
    /// Its scale.
    pub scale: f64,
    /// Half-width of the 95% interval of the noise.
    pub accuracy: f64,
}

/// A released DP table.
#[derive(Debug, Clone, PartialEq)]
pub struct Released {
    /// Column names: the keys, then the measures.
    pub columns: Vec<String>,
    /// Keys as text, measures as numbers (None where OpenDP gave none).
    pub rows: Vec<(Vec<String>, Vec<Option<f64>>)>,
    /// The noise of each measure.
    pub noise: Vec<Noise>,
    /// ρ charged.
    pub rho: f64,
}

/// A measurement ready to run, with its noise scale chosen for the ρ.
pub struct Prepared {
    query: DpQuery,
    keys: Vec<Vec<String>>,
    measurement: Measurement<
        LazyFrameDomain,
        FrameDistance<SymmetricDistance>,
        ZeroConcentratedDivergence,
        OnceFrame,
    >,
    rho: f64,
}

/// Columns inside the frame: keys as `k0…`, values as `v0…`, so that no
/// researcher-chosen name reaches the plan.
fn key_name(i: usize) -> String {
    format!("k{i}")
}

fn value_name(i: usize) -> String {
    format!("v{i}")
}

impl Prepared {
    /// Checks the query against the key sets and builds its measurement
    /// at the smallest noise scale that costs at most `query.rho`.
    pub fn new(query: &DpQuery, keysets: &KeySets) -> Result<Prepared, DpError> {
        check(query)?;
        let mut keys = Vec::new();
        for key in &query.group_by {
            let values = keysets.get(&key.keyset).ok_or_else(|| {
                DpError::Refused(format!(
                    "key set `{}` is not declared; known: {}",
                    key.keyset,
                    keysets.names().collect::<Vec<_>>().join(", ")
                ))
            })?;
            keys.push(values.to_vec());
        }
        let build = |scale: f64| measurement(query, &keys, scale);
        let d_in = Bounds::from(query.max_rows_per_person);
        let cost = |scale: f64| -> Result<f64, DpError> {
            build(scale)?.map(&d_in).map_err(measurement_error)
        };
        let scale = search_scale(query.rho, &cost)?;
        let measurement = build(scale)?;
        let rho = round_up(measurement.map(&d_in).map_err(measurement_error)?);
        if rho > query.rho {
            return Err(DpError::Refused(format!(
                "no noise scale reaches ρ = {} (the closest costs {rho})",
                query.rho
            )));
        }
        Ok(Prepared {
            query: query.clone(),
            keys,
            measurement,
            rho,
        })
    }

    /// The ρ this measurement costs (rounded up).
    pub fn rho(&self) -> f64 {
        self.rho
    }

    /// The columns the measures read, in the order [`Rows::values`] holds.
    pub fn value_columns(&self) -> Vec<String> {
        value_columns(&self.query)
    }

    /// The noise of each measure.
    pub fn noise(&self) -> Result<Vec<Noise>, DpError> {
        let summary = opendp::polars::accuracy::summarize_polars_measurement(
            self.measurement.clone(),
            Some(ALPHA),
        )
        .map_err(measurement_error)?;
        let text = |name: &str, i: usize| -> Result<String, DpError> {
            let column = summary.column(name).map_err(measurement_error)?;
            Ok(column
                .get(i)
                .map_err(measurement_error)?
                .get_str()
                .map(str::to_owned)
                .unwrap_or_default())
        };
        let number = |name: &str, i: usize| -> Result<f64, DpError> {
            let column = summary.column(name).map_err(measurement_error)?;
            column
                .get(i)
                .map_err(measurement_error)?
                .extract::<f64>()
                .ok_or_else(|| DpError::Measurement(format!("no {name} in the summary")))
        };
        let names: Vec<String> = self.query.measures.iter().map(Measure::name).collect();
        (0..summary.height())
            .map(|i| {
                let column = text("column", i)?;
                Ok(Noise {
                    column: names
                        .iter()
                        .find(|n| column.ends_with(n.as_str()))
                        .cloned()
                        .unwrap_or(column),
                    aggregate: text("aggregate", i)?,
                    distribution: text("distribution", i)?,
                    scale: number("scale", i)?,
                    accuracy: number("accuracy", i)?,
                })
            })
            .collect()
    }

    /// Runs the measurement once on `rows`.
    pub fn release(self, rows: &Rows) -> Result<Released, DpError> {
        let n = match (rows.keys.first(), rows.values.first()) {
            (Some(k), _) => k.len(),
            (None, Some(v)) => v.len(),
            (None, None) => 0,
        };
        if n > MAX_GROUP_LENGTH as usize {
            return Err(DpError::Refused(format!(
                "{n} rows are more than a DP query may read ({MAX_GROUP_LENGTH}); lower max_rows_per_person"
            )));
        }
        let noise = self.noise()?;
        let frame = frame(&self.query, rows)?;
        let out = self
            .measurement
            .invoke(&frame.lazy())
            .map_err(measurement_error)?
            .collect()
            .map_err(measurement_error)?;
        let key_count = self.keys.len();
        let names: Vec<String> = self.query.measures.iter().map(Measure::name).collect();
        let mut released = Vec::with_capacity(out.height());
        for r in 0..out.height() {
            let mut keys = Vec::with_capacity(key_count);
            for k in 0..key_count {
                let cell = out.column(&key_name(k)).map_err(measurement_error)?;
                let value = cell.get(r).map_err(measurement_error)?;
                keys.push(value.get_str().map(str::to_owned).unwrap_or_default());
            }
            let mut values = Vec::with_capacity(names.len());
            for name in &names {
                let cell = out.column(name).map_err(measurement_error)?;
                values.push(cell.get(r).map_err(measurement_error)?.extract::<f64>());
            }
            released.push((keys, values));
        }
        // Keys are public; sorting by them shows nothing of the data.
        released.sort_by(|a, b| a.0.cmp(&b.0));
        let mut columns: Vec<String> = self
            .query
            .group_by
            .iter()
            .map(|g| g.column.clone())
            .collect();
        columns.extend(names);
        Ok(Released {
            columns,
            rows: released,
            noise,
            rho: self.rho,
        })
    }
}

fn check(query: &DpQuery) -> Result<(), DpError> {
    if !(query.rho.is_finite() && query.rho > 0.0) {
        return Err(DpError::Refused(format!(
            "ρ must be a positive number, not {}",
            query.rho
        )));
    }
    if query.measures.is_empty() {
        return Err(DpError::Refused("name at least one measure".into()));
    }
    if query.group_by.is_empty() && value_columns(query).is_empty() {
        // The frame would have no column to count rows by.
        return Err(DpError::Refused(
            "a count alone needs a group-by key (a public key set, such as `sex`) or a measured column"
                .into(),
        ));
    }
    if !(1..=MAX_ROWS_PER_PERSON).contains(&query.max_rows_per_person) {
        return Err(DpError::Refused(format!(
            "max_rows_per_person must be 1 to {MAX_ROWS_PER_PERSON}"
        )));
    }
    for m in &query.measures {
        if let Some((lower, upper)) = m.bounds()
            && !(lower.is_finite() && upper.is_finite() && lower < upper)
        {
            return Err(DpError::Refused(format!(
                "{}: the bounds need lower < upper, both finite",
                m.name()
            )));
        }
    }
    let mut names: Vec<String> = query.measures.iter().map(Measure::name).collect();
    names.sort();
    names.dedup();
    if names.len() != query.measures.len() {
        return Err(DpError::Refused("a measure is named twice".into()));
    }
    Ok(())
}

fn value_columns(query: &DpQuery) -> Vec<String> {
    let mut columns: Vec<String> = Vec::new();
    for m in &query.measures {
        if let Some(c) = m.column()
            && !columns.iter().any(|x| x == c)
        {
            columns.push(c.to_owned());
        }
    }
    columns
}

fn domain(query: &DpQuery) -> Result<LazyFrameDomain, DpError> {
    let mut series = Vec::new();
    for i in 0..query.group_by.len() {
        series.push(SeriesDomain::new(
            key_name(i),
            AtomDomain::<String>::default(),
        ));
    }
    for i in 0..value_columns(query).len() {
        series.push(SeriesDomain::new(
            value_name(i),
            AtomDomain::<f64>::new_non_nan(),
        ));
    }
    let by: Vec<Expr> = (0..query.group_by.len())
        .map(|i| col(key_name(i)))
        .collect();
    LazyFrameDomain::new(series)
        .and_then(|d| d.with_margin(Margin::by(by).with_max_length(MAX_GROUP_LENGTH)))
        .map_err(measurement_error)
}

fn measurement(
    query: &DpQuery,
    keys: &[Vec<String>],
    scale: f64,
) -> Result<
    Measurement<
        LazyFrameDomain,
        FrameDistance<SymmetricDistance>,
        ZeroConcentratedDivergence,
        OnceFrame,
    >,
    DpError,
> {
    let values = value_columns(query);
    let aggs: Vec<Expr> = query
        .measures
        .iter()
        .map(|m| {
            let v = |c: &str| {
                let i = values.iter().position(|x| x == c).unwrap_or(0);
                col(value_name(i))
            };
            match m {
                Measure::Count => len().dp().noise(None).alias(m.name()),
                Measure::Sum {
                    column,
                    lower,
                    upper,
                } => v(column)
                    .dp()
                    .sum((lit(*lower), lit(*upper)), None)
                    .alias(m.name()),
                Measure::Mean {
                    column,
                    lower,
                    upper,
                } => v(column)
                    .dp()
                    .mean((lit(*lower), lit(*upper)), None)
                    .alias(m.name()),
            }
        })
        .collect();
    let empty = frame(
        query,
        &Rows {
            keys: vec![Vec::new(); keys.len()],
            values: vec![Vec::new(); values.len()],
        },
    )?
    .lazy();
    let plan = if keys.is_empty() {
        empty.select(aggs)
    } else {
        let by: Vec<Expr> = (0..keys.len()).map(|i| col(key_name(i))).collect();
        let public = key_frame(keys)?.lazy();
        empty
            .group_by(by.clone())
            .agg(aggs)
            .join(public, by.clone(), by, JoinType::Right.into())
    };
    make_private_lazyframe(
        domain(query)?,
        FrameDistance(SymmetricDistance),
        ZeroConcentratedDivergence,
        plan,
        Some(scale),
        None,
    )
    .map_err(measurement_error)
}

/// Every combination of the public keys.
fn key_frame(keys: &[Vec<String>]) -> Result<DataFrame, DpError> {
    let mut combos: Vec<Vec<String>> = vec![Vec::new()];
    for values in keys {
        combos = combos
            .into_iter()
            .flat_map(|c| {
                values.iter().map(move |v| {
                    let mut next = c.clone();
                    next.push(v.clone());
                    next
                })
            })
            .collect();
    }
    let columns: Vec<Column> = (0..keys.len())
        .map(|i| {
            let values: Vec<String> = combos.iter().map(|c| c[i].clone()).collect();
            Column::new(key_name(i).into(), values)
        })
        .collect();
    DataFrame::new(columns).map_err(measurement_error)
}

fn frame(query: &DpQuery, rows: &Rows) -> Result<DataFrame, DpError> {
    let values = value_columns(query);
    if rows.keys.len() != query.group_by.len() || rows.values.len() != values.len() {
        return Err(DpError::Measurement(
            "rows do not match the query's columns".into(),
        ));
    }
    let mut columns = Vec::new();
    for (i, k) in rows.keys.iter().enumerate() {
        columns.push(Column::new(key_name(i).into(), k.clone()));
    }
    for (i, v) in rows.values.iter().enumerate() {
        if v.iter().any(|x| x.is_nan()) {
            return Err(DpError::Measurement(format!("`{}` holds NaN", values[i])));
        }
        columns.push(Column::new(value_name(i).into(), v.clone()));
    }
    DataFrame::new(columns).map_err(measurement_error)
}

/// The smallest scale whose cost is at most `rho`, by bisection on a
/// logarithmic scale (the cost falls as the scale grows).
fn search_scale(rho: f64, cost: &dyn Fn(f64) -> Result<f64, DpError>) -> Result<f64, DpError> {
    let (mut lo, mut hi) = (1e-6_f64, 1e9_f64);
    if cost(hi)? > rho {
        return Err(DpError::Refused(format!(
            "ρ = {rho} is too small for this query at any noise scale"
        )));
    }
    for _ in 0..80 {
        let mid = (lo * hi).sqrt();
        if cost(mid)? <= rho {
            hi = mid;
        } else {
            lo = mid;
        }
        if hi / lo < 1.0 + 1e-9 {
            break;
        }
    }
    Ok(hi)
}

/// Rounds a cost up to 12 significant decimals, so the ledger never
/// charges less than the map says.
fn round_up(rho: f64) -> f64 {
    let step = 1e-12;
    (rho / step).ceil() * step
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_builtin_key_sets_parse() {
        let sets = KeySets::builtin().unwrap();
        assert!(sets.get("sex").is_some_and(|v| !v.is_empty()));
    }

    #[test]
    fn the_cost_is_at_most_the_rho_asked_for() {
        let sets = KeySets::builtin().unwrap();
        let query = DpQuery {
            table: "t".into(),
            group_by: vec![GroupKey {
                column: "sex".into(),
                keyset: "sex".into(),
            }],
            measures: vec![Measure::Count],
            rho: 0.05,
            max_rows_per_person: 1,
        };
        let p = Prepared::new(&query, &sets).unwrap();
        assert!(p.rho() <= 0.05 && p.rho() > 0.049, "{}", p.rho());
        let noise = p.noise().unwrap();
        assert_eq!(noise.len(), 1);
        // zCDP count with sensitivity 1: ρ = 1 / (2σ²).
        let sigma = (1.0 / (2.0 * 0.05f64)).sqrt();
        assert!((noise[0].scale - sigma).abs() / sigma < 0.01, "{noise:?}");
    }

    #[test]
    fn unknown_key_sets_and_bad_bounds_are_refused() {
        let sets = KeySets::builtin().unwrap();
        let mut query = DpQuery {
            table: "t".into(),
            group_by: vec![GroupKey {
                column: "code".into(),
                keyset: "every-code-in-the-data".into(),
            }],
            measures: vec![Measure::Count],
            rho: 0.1,
            max_rows_per_person: 1,
        };
        assert!(
            matches!(Prepared::new(&query, &sets), Err(DpError::Refused(r)) if r.contains("not declared"))
        );
        query.group_by.clear();
        query.measures = vec![Measure::Sum {
            column: "x".into(),
            lower: 5.0,
            upper: 1.0,
        }];
        assert!(matches!(
            Prepared::new(&query, &sets),
            Err(DpError::Refused(_))
        ));
    }
}
