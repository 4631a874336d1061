//! The model checks, before anything is fitted: a model is released only
//! when the rule set's checks hold for the persons the platform counted.
//! Each refusal names the check and what to do, never a value or a count
//! of the data.
//!
//! - the rows belong to at least the cell minimum of persons;
//! - every level of a categorical term is held by at least the cell
//!   minimum of persons (its coefficient is a contrast of those persons);
//! - the values of a numeric term other than its most common one are held
//!   by at least the cell minimum of persons (a 0/1 or nearly constant
//!   column is a level in disguise);
//! - for a binomial model, each outcome is held by at least the cell
//!   minimum of persons, overall and within every level (else the level's
//!   coefficient tells that its persons nearly all share one outcome);
//! - parameters per observation below the rule set's share (not nearly
//!   saturated: DataSHIELD's `nfilter.glm`);
//! - residual degrees of freedom at least the rule set's minimum (ACRO).

use crate::ModelError;
use crate::design::Design;
use crate::spec::Family;
use niji_query::RuleSet;

/// Refuses the model unless every check holds.
pub fn judge(
    family: Family,
    response: &[f64],
    design: &Design,
    rules: &RuleSet,
) -> Result<(), ModelError> {
    let min = rules.min_persons as usize;
    let refuse = |why: String| Err(ModelError::Refused(why));
    if design.person_count < min {
        return refuse(format!(
            "the model's rows belong to fewer than {min} persons (rule set `{}`)",
            rules.name
        ));
    }
    for levels in &design.categorical {
        if levels.levels.iter().any(|(_, persons)| persons.len() < min) {
            return refuse(format!(
                "term `{}`: a level is held by fewer than {min} persons (rule set `{}`); merge rare levels in the release policy or leave the term out",
                levels.term, rules.name
            ));
        }
    }
    numeric_spread(design, min, &rules.name)?;
    if family == Family::Binomial {
        outcomes(response, design, min, &rules.name)?;
    }
    let parameters = design.places.len() + 1;
    let observations = response.len();
    let share = rules.models.max_parameter_share;
    if parameters as f64 >= share * observations as f64 {
        return refuse(format!(
            "the model is nearly saturated: it needs more than {:.1} observations per parameter (rule set `{}`); use fewer terms or levels",
            1.0 / share,
            rules.name
        ));
    }
    let residual_df = observations.saturating_sub(parameters) as u64;
    if residual_df < rules.models.min_residual_df {
        return refuse(format!(
            "residual degrees of freedom below {} (rule set `{}`); use fewer terms or a larger table",
            rules.models.min_residual_df, rules.name
        ));
    }
    Ok(())
}

/// A numeric term whose value departs from its most common one for only a
/// few persons (a 0/1 column, a nearly constant one) is a level in
/// disguise: its coefficient rests on those few. At least `min` persons must
/// hold another value than the most common.
fn numeric_spread(design: &Design, min: usize, rules: &str) -> Result<(), ModelError> {
    for (j, place) in design.places.iter().enumerate() {
        if place.level.is_some() {
            continue;
        }
        let column = design.x.column(j);
        let mut counts: std::collections::HashMap<u64, usize> = std::collections::HashMap::new();
        for v in column {
            *counts.entry(v.to_bits()).or_default() += 1;
        }
        let mode = counts
            .iter()
            .max_by_key(|(bits, n)| (**n, std::cmp::Reverse(**bits)))
            .map(|(bits, _)| f64::from_bits(*bits));
        let Some(mode) = mode else { continue };
        let mut departing: Vec<u32> = column
            .iter()
            .zip(&design.persons)
            .filter(|(v, _)| **v != mode)
            .map(|(_, p)| *p)
            .collect();
        departing.sort_unstable();
        departing.dedup();
        if departing.len() < min {
            return Err(ModelError::Refused(format!(
                "term `{}`: fewer than {min} persons hold a value other than its most common one (rule set `{rules}`); its coefficient would rest on them — leave the term out or use a column that varies",
                place.term
            )));
        }
    }
    Ok(())
}

/// Each outcome of a binomial response held by `min` persons, overall and
/// in each level.
fn outcomes(response: &[f64], design: &Design, min: usize, rules: &str) -> Result<(), ModelError> {
    let persons_with = |keep: &dyn Fn(usize) -> bool, outcome: f64| -> usize {
        let mut persons: Vec<u32> = (0..response.len())
            .filter(|&i| keep(i) && response[i] == outcome)
            .map(|i| design.persons[i])
            .collect();
        persons.sort_unstable();
        persons.dedup();
        persons.len()
    };
    let both = |keep: &dyn Fn(usize) -> bool| {
        persons_with(keep, 0.0) >= min && persons_with(keep, 1.0) >= min
    };
    if !both(&|_| true) {
        return Err(ModelError::Refused(format!(
            "fewer than {min} persons have one of the outcomes (rule set `{rules}`)"
        )));
    }
    for levels in &design.categorical {
        for l in 0..levels.levels.len() {
            if !both(&|i| levels.rows[i] == l) {
                return Err(ModelError::Refused(format!(
                    "term `{}`: in a level, fewer than {min} persons have one of the outcomes (rule set `{rules}`); the level's coefficient would tell it — merge levels or leave the term out",
                    levels.term
                )));
            }
        }
    }
    Ok(())
}
