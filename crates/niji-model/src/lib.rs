/*!
Models under disclosure control: a generalized linear model fitted on a
granted table, its estimates released only when the rule set's model checks
hold for the persons the platform counted. A model request goes down the
same road as a query:

1. [`spec`]: the request — family, table, response, terms (or a formula
   `y ~ a + factor(b)`) — checked; what the platform cannot model
   (interactions, transformations, no intercept) is refused with what to
   write instead;
2. the platform reads the complete rows of the granted columns, each with
   its person (`niji_query::Analysis::model_rows`), in the project's
   sandbox; no researcher text reaches the engine;
3. [`design`]: the design matrix, each categorical level with its persons;
4. [`judge`]: the checks — persons, levels, outcomes, saturation, residual
   degrees of freedom — before anything is fitted;
5. [`glm`]: the fit (ndarray-glm, IRLS), with Wald statistics and
   intervals.

```no_run
use niji_model::{Family, ModelSpec};
use niji_query::{Analysis, GrantedTable, Limits, RuleSet};

let tables = vec![GrantedTable {
    view: "persons".into(),
    release: "claims-2024".into(),
    path: "data/releases/claims-2024".into(),
    table: "persons".into(),
    columns: vec!["age".into(), "sex".into(), "visits".into()],
}];
let rules = RuleSet::builtin()?["ndb"].clone();
let spec = ModelSpec::from_formula(Family::Poisson, "persons", "visits ~ age + sex")?;
let fitted = niji_model::fit(&Analysis::new(tables, Limits::default()), &spec, &rules)?;
for e in &fitted.model.estimates {
    println!("{} {:.3} ({:.3})", e.place.name(), e.estimate, e.std_error);
}
# Ok::<(), Box<dyn std::error::Error>>(())
```

# Architecture invariants

- Nothing is fitted, and so nothing released, unless every check of the
  rule set holds; the persons are the release's, counted by the platform.
- A refusal or an error names the check or the column, never a value or a
  count of the data.
- Plain types only: the server maps them to HTTP.
*/
#![deny(missing_docs)]

pub mod design;
pub mod glm;
pub mod judge;
pub mod private;
pub mod spec;

pub use design::{Kind, Observations, Place};
pub use glm::{CONFIDENCE, Estimate, Fitted};
pub use private::{PreparedModel, PrivateFit, PrivateRead, PrivateSpec, read_private};
pub use spec::{Family, ModelSpec, Term};

use niji_query::{Analysis, ColumnInfo, QueryError, RuleSet};

/// The most complete rows a model reads.
pub const MAX_ROWS: usize = 2_000_000;

/// The most parameters a model may have (the intercept included).
pub const MAX_PARAMETERS: usize = 50;

/// Why a model was not fitted or not released.
#[derive(Debug, thiserror::Error)]
pub enum ModelError {
    /// The request is not one the platform can model.
    #[error("{0}")]
    Invalid(String),
    /// A disclosure check of the rule set refused it.
    #[error("{0}")]
    Refused(String),
    /// Reading the rows failed or was refused.
    #[error(transparent)]
    Query(#[from] QueryError),
    /// The fit failed on our side.
    #[error("the model could not be fitted: {0}")]
    Fit(String),
}

/// A released model and what it read.
#[derive(Debug, Clone, PartialEq)]
pub struct Outcome {
    /// The model.
    pub model: Fitted,
    /// Rows of the table scanned.
    pub scanned: u64,
}

/// Each term's kind, from the granted table's column types.
pub fn plan(analysis: &Analysis, spec: &ModelSpec) -> Result<Vec<Kind>, ModelError> {
    let schema = analysis.schema()?;
    let columns = schema
        .iter()
        .find(|(view, _)| view.eq_ignore_ascii_case(&spec.table))
        .map(|(_, columns)| columns.as_slice())
        .ok_or_else(|| {
            QueryError::Refused(format!(
                "table `{}` is not in this project's grant",
                spec.table
            ))
        })?;
    kinds(spec, columns)
}

/// The columns a model reads: its categorical terms (as text), and its
/// response then its numeric terms (as numbers).
pub fn columns(spec: &ModelSpec, kinds: &[Kind]) -> (Vec<String>, Vec<String>) {
    let texts = columns_of(spec, kinds, Kind::Categorical);
    let mut numbers = vec![spec.response.clone()];
    numbers.extend(columns_of(spec, kinds, Kind::Numeric));
    (texts, numbers)
}

/// Reads, judges and fits `spec` on `analysis`'s grant under `rules`.
pub fn fit(analysis: &Analysis, spec: &ModelSpec, rules: &RuleSet) -> Result<Outcome, ModelError> {
    let kinds = plan(analysis, spec)?;
    let (texts, numbers) = columns(spec, &kinds);
    let read = analysis.model_rows(&spec.table, &texts, &numbers, MAX_ROWS)?;
    // Persons left out for a missing value are the difference between this
    // model and one without the column that misses: a few would be told.
    let min = rules.min_persons;
    if (1..min).contains(&read.incomplete_persons) {
        return Err(ModelError::Refused(format!(
            "fewer than {min} persons have rows without a value of the model's columns (rule set `{}`): leaving them out would tell about them; choose columns that are present, or fill them in the release policy",
            rules.name
        )));
    }
    let scanned = read.scanned;
    let rows = read.columns.ok_or_else(|| {
        ModelError::Invalid(format!(
            "a model reads at most {MAX_ROWS} complete rows; fit it on a narrower table (a cohort in the release policy)"
        ))
    })?;
    let mut keys = rows.keys.into_iter();
    let mut values = rows.values.into_iter();
    let observations = Observations {
        persons: keys.next().unwrap_or_default(),
        categorical: keys.collect(),
        response: values.next().unwrap_or_default(),
        numeric: values.collect(),
    };
    let model = fit_rows(spec, &kinds, &observations, rules)?;
    Ok(Outcome { model, scanned })
}

/// Judges and fits `spec` on rows already read: the design, the checks,
/// then the fit.
pub fn fit_rows(
    spec: &ModelSpec,
    kinds: &[Kind],
    observations: &Observations,
    rules: &RuleSet,
) -> Result<Fitted, ModelError> {
    if observations.response.iter().any(|v| !v.is_finite())
        || observations
            .numeric
            .iter()
            .flatten()
            .any(|v| !v.is_finite())
    {
        return Err(ModelError::Invalid(
            "a numeric column holds a value that is not a finite number".into(),
        ));
    }
    glm::check_response(spec.family, &observations.response)?;
    let design = design::build(spec, kinds, observations)?;
    if design.places.len() + 1 > MAX_PARAMETERS {
        return Err(ModelError::Invalid(format!(
            "the model has more than {MAX_PARAMETERS} parameters (each level beyond the first is one); use fewer terms or group levels"
        )));
    }
    judge::judge(spec.family, &observations.response, &design, rules)?;
    glm::fit(spec.family, &observations.response, &design)
}

/// Each term's kind, from the granted columns' types; the response must be
/// a number (or a boolean, for a binomial model).
pub fn kinds(spec: &ModelSpec, columns: &[ColumnInfo]) -> Result<Vec<Kind>, ModelError> {
    let type_of = |name: &str| -> Result<&str, ModelError> {
        columns
            .iter()
            .find(|c| c.name.eq_ignore_ascii_case(name))
            .map(|c| c.data_type.as_str())
            .ok_or_else(|| {
                ModelError::Query(QueryError::Refused(format!(
                    "column `{name}` of `{}` is not in this project's grant",
                    spec.table
                )))
            })
    };
    let response = type_of(&spec.response)?;
    let boolean = response.eq_ignore_ascii_case("BOOLEAN");
    if !(numeric(response) || boolean && spec.family == Family::Binomial) {
        return Err(ModelError::Invalid(format!(
            "response `{}` is {response}: a model's response is a number (or a boolean, for binomial)",
            spec.response
        )));
    }
    spec.terms
        .iter()
        .map(|t| {
            let data_type = type_of(&t.column)?;
            Ok(if t.factor || !numeric(data_type) {
                Kind::Categorical
            } else {
                Kind::Numeric
            })
        })
        .collect()
}

fn columns_of(spec: &ModelSpec, kinds: &[Kind], kind: Kind) -> Vec<String> {
    spec.terms
        .iter()
        .zip(kinds)
        .filter(|(_, k)| **k == kind)
        .map(|(t, _)| t.column.clone())
        .collect()
}

/// Whether a DuckDB type is a number.
fn numeric(data_type: &str) -> bool {
    const NUMBERS: [&str; 14] = [
        "TINYINT",
        "SMALLINT",
        "INTEGER",
        "BIGINT",
        "HUGEINT",
        "UTINYINT",
        "USMALLINT",
        "UINTEGER",
        "UBIGINT",
        "UHUGEINT",
        "FLOAT",
        "DOUBLE",
        "REAL",
        "DECIMAL",
    ];
    let upper = data_type.to_ascii_uppercase();
    NUMBERS
        .iter()
        .any(|n| upper == *n || upper.starts_with(&format!("{n}(")))
}
