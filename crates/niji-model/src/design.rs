//! From the rows the platform read to a design matrix: a numeric term is a
//! column, a categorical term a column for each level but its first (the
//! reference, in byte order as R's C locale sorts), and each level keeps
//! the persons who hold it, for the judge.

use crate::spec::{ModelSpec, Term};
use ndarray::Array2;
use std::collections::{BTreeMap, HashMap};

/// The most levels a categorical term may have.
pub const MAX_LEVELS: usize = 100;

/// How a term enters the model.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// Its value, as a number.
    Numeric,
    /// A column per level beyond the first.
    Categorical,
}

/// A model's complete rows, as the platform read them: only rows where the
/// response and every term are present.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Observations {
    /// Each row's person (the release's pseudonym).
    pub persons: Vec<String>,
    /// The response.
    pub response: Vec<f64>,
    /// The numeric terms' values, in the order of the spec's numeric terms.
    pub numeric: Vec<Vec<f64>>,
    /// The categorical terms' values, in the order of its categorical terms.
    pub categorical: Vec<Vec<String>>,
}

/// A coefficient's place: its term and, for a categorical term, the level
/// it contrasts with the reference.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Place {
    /// The term (`(Intercept)` for the intercept).
    pub term: String,
    /// The level, for a categorical term.
    pub level: Option<String>,
}

impl Place {
    /// R's name of the coefficient: the term, then the level.
    pub fn name(&self) -> String {
        format!("{}{}", self.term, self.level.as_deref().unwrap_or(""))
    }
}

/// A categorical term's levels and the persons of each.
#[derive(Debug, Clone, PartialEq)]
pub struct Levels {
    /// The term.
    pub term: String,
    /// Each level (sorted; the first is the reference) and its persons.
    pub levels: Vec<(String, Vec<u32>)>,
    /// Each row's level, as an index into `levels`.
    pub rows: Vec<usize>,
}

/// The design matrix and what the judge needs beside it.
#[derive(Debug, Clone)]
pub struct Design {
    /// Each column's place (the intercept is not a column: the fit adds it).
    pub places: Vec<Place>,
    /// Rows × columns.
    pub x: Array2<f64>,
    /// Each row's person, as an index into the model's persons.
    pub persons: Vec<u32>,
    /// How many persons the rows belong to.
    pub person_count: usize,
    /// The categorical terms' levels.
    pub categorical: Vec<Levels>,
}

/// Builds the design for `spec` whose terms are of `kinds`.
pub fn build(
    spec: &ModelSpec,
    kinds: &[Kind],
    obs: &Observations,
) -> Result<Design, crate::ModelError> {
    let n = obs.response.len();
    let (persons, person_count) = intern(&obs.persons);
    let mut places = Vec::new();
    let mut columns: Vec<Vec<f64>> = Vec::new();
    let mut categorical = Vec::new();
    let (mut next_numeric, mut next_categorical) = (0, 0);
    for (term, kind) in spec.terms.iter().zip(kinds) {
        match kind {
            Kind::Numeric => {
                columns.push(obs.numeric[next_numeric].clone());
                next_numeric += 1;
                places.push(Place {
                    term: term.column.clone(),
                    level: None,
                });
            }
            Kind::Categorical => {
                let values = &obs.categorical[next_categorical];
                next_categorical += 1;
                let levels = levels(term, values, &persons)?;
                for (level, _) in levels.levels.iter().skip(1) {
                    columns.push(values.iter().map(|v| f64::from(v == level)).collect());
                    places.push(Place {
                        term: term.column.clone(),
                        level: Some(level.clone()),
                    });
                }
                categorical.push(levels);
            }
        }
    }
    let mut x = Array2::<f64>::zeros((n, columns.len()));
    for (j, column) in columns.iter().enumerate() {
        for (i, v) in column.iter().enumerate() {
            x[[i, j]] = *v;
        }
    }
    Ok(Design {
        places,
        x,
        persons,
        person_count,
        categorical,
    })
}

/// Each row's person as a small index, and how many there are.
fn intern(persons: &[String]) -> (Vec<u32>, usize) {
    let mut ids: HashMap<&str, u32> = HashMap::new();
    let rows = persons
        .iter()
        .map(|p| {
            let next = ids.len() as u32;
            *ids.entry(p.as_str()).or_insert(next)
        })
        .collect();
    (rows, ids.len())
}

fn levels(term: &Term, values: &[String], persons: &[u32]) -> Result<Levels, crate::ModelError> {
    let mut by_level: BTreeMap<&str, Vec<u32>> = BTreeMap::new();
    for (value, person) in values.iter().zip(persons) {
        by_level.entry(value.as_str()).or_default().push(*person);
        if by_level.len() > MAX_LEVELS {
            return Err(crate::ModelError::Invalid(format!(
                "term `{}` has more than {MAX_LEVELS} levels; group its values in the release policy (a hierarchy) first",
                term.column
            )));
        }
    }
    let index: HashMap<&str, usize> = by_level.keys().enumerate().map(|(i, l)| (*l, i)).collect();
    let rows = values.iter().map(|v| index[v.as_str()]).collect();
    Ok(Levels {
        term: term.column.clone(),
        levels: by_level
            .into_iter()
            .map(|(level, mut ps)| {
                ps.sort_unstable();
                ps.dedup();
                (level.to_owned(), ps)
            })
            .collect(),
        rows,
    })
}
