//! Output disclosure control, the judge: the platform, not the researcher,
//! decides which numbers of an aggregate result may leave, from the
//! persons it counted itself. By the rule set the grant names
//! (`policies/disclosure-*.toml`):
//!
//! - a row whose persons fall below the minimum is withheld whole, keys
//!   included;
//! - a number whose own persons (its filter's, its column's non-null and,
//!   for sums and means, non-zero rows) fall below the minimum is
//!   suppressed (zero persons is allowed, or held for review);
//! - order statistics (`min`, `max`, …) are refused or held for review;
//! - an additive number (count, sum, mean) that its top contributors
//!   dominate (n, k) or that fails the p% rule is suppressed;
//! - secondary suppression: when a withheld number could be recovered from
//!   the others and their ROLLUP total, more numbers are withheld until it
//!   cannot.

use crate::QueryError;
use crate::language::Aggregate;
use crate::sandbox::{Cell, ResultSet};
use roaring::RoaringBitmap;
use serde::Deserialize;
use std::collections::BTreeMap;
use std::path::Path;

/// What happens to a finding that is not simply suppressed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Action {
    /// Passes.
    Allow,
    /// Held in the airlock for two reviewers.
    Review,
    /// Refused outright.
    Refuse,
}

/// The (n, k) dominance rule: a sum fails when its top `n` contributors
/// make up at least `k` of it.
#[derive(Debug, Clone, Copy, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Dominance {
    /// Contributors counted.
    pub n: usize,
    /// Their share that fails, 0–1.
    pub k: f64,
}

/// A rule set, as `policies/disclosure-<name>.toml` declares it.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RuleSet {
    /// Its name, as grants name it.
    pub name: String,
    /// What it is for, in a sentence.
    pub description: String,
    /// Cells of 1 to `min_persons - 1` persons are suppressed.
    pub min_persons: u64,
    /// Cells of zero persons (or a zero count).
    pub zero: Action,
    /// Order statistics: `min`, `max`, `median`, quantiles, `mode`.
    pub extremes: Action,
    /// The dominance rule for sums, if any.
    #[serde(default)]
    pub dominance: Option<Dominance>,
    /// The p% rule for sums (a share, e.g. 0.10), if any.
    #[serde(default)]
    pub p_percent: Option<f64>,
    /// What a fitted model's estimates must meet.
    #[serde(default)]
    pub models: ModelRules,
}

/// The rules for a model's estimates (`[rules.models]`), beside the cell
/// minimum, which every level of a categorical term must meet in persons.
#[derive(Debug, Clone, Copy, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ModelRules {
    /// Residual degrees of freedom at least this (ACRO: 10).
    pub min_residual_df: u64,
    /// Parameters per observation below this: a model nearly saturated
    /// gives back its observations (DataSHIELD's `nfilter.glm`: 0.33).
    pub max_parameter_share: f64,
}

impl Default for ModelRules {
    fn default() -> Self {
        ModelRules {
            min_residual_df: 10,
            max_parameter_share: 0.33,
        }
    }
}

const BUILTIN: [(&str, &str); 2] = [
    (
        "policies/disclosure-ndb.toml",
        include_str!("../../../policies/disclosure-ndb.toml"),
    ),
    (
        "policies/disclosure-acro.toml",
        include_str!("../../../policies/disclosure-acro.toml"),
    ),
];

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RuleFile {
    rules: RuleSet,
}

impl RuleSet {
    /// Parses a rule-set file's text; `origin` names it in errors.
    pub fn parse(text: &str, origin: &str) -> Result<RuleSet, QueryError> {
        let file: RuleFile =
            toml::from_str(text).map_err(|e| QueryError::Policy(format!("{origin}: {e}")))?;
        let rules = file.rules;
        if rules.min_persons == 0 {
            return Err(QueryError::Policy(format!(
                "{origin}: min_persons must be 1 or more"
            )));
        }
        if let Some(d) = rules.dominance
            && (d.n == 0 || !(0.0..=1.0).contains(&d.k))
        {
            return Err(QueryError::Policy(format!(
                "{origin}: dominance needs n ≥ 1 and k between 0 and 1"
            )));
        }
        let share = rules.models.max_parameter_share;
        if !(share > 0.0 && share <= 1.0) {
            return Err(QueryError::Policy(format!(
                "{origin}: models.max_parameter_share must be above 0 and at most 1"
            )));
        }
        Ok(rules)
    }

    /// The rule sets this build carries (`policies/disclosure-*.toml`), by
    /// name. Both files are parsed by a unit test, so a broken one cannot
    /// ship.
    pub fn builtin() -> Result<BTreeMap<String, RuleSet>, QueryError> {
        let mut sets = BTreeMap::new();
        for (origin, text) in BUILTIN {
            let rules = RuleSet::parse(text, origin)?;
            sets.insert(rules.name.clone(), rules);
        }
        Ok(sets)
    }

    /// Every `disclosure*.toml` rule set in `dir`, by name.
    pub fn load_dir(dir: &Path) -> Result<BTreeMap<String, RuleSet>, QueryError> {
        let mut sets = BTreeMap::new();
        let entries = std::fs::read_dir(dir)
            .map_err(|e| QueryError::Policy(format!("{}: {e}", dir.display())))?;
        for entry in entries {
            let path = entry
                .map_err(|e| QueryError::Policy(format!("{}: {e}", dir.display())))?
                .path();
            let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
            if !(name.starts_with("disclosure") && name.ends_with(".toml")) {
                continue;
            }
            let text = std::fs::read_to_string(&path)
                .map_err(|e| QueryError::Policy(format!("{}: {e}", path.display())))?;
            let rules = RuleSet::parse(&text, &path.display().to_string())?;
            sets.insert(rules.name.clone(), rules);
        }
        Ok(sets)
    }
}

/// A cell's fate.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    /// Leaves as it is.
    Pass,
    /// Too few persons, or a dominated sum: withheld.
    Suppressed,
    /// Withheld so that a suppressed cell cannot be recovered.
    Secondary,
    /// Held for review.
    Review,
}

/// The top contributors of a sum cell, by absolute value.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Shares {
    /// The largest contribution.
    pub top1: f64,
    /// The second largest (0 with one contributor).
    pub top2: f64,
    /// The sum of all contributions' absolute values.
    pub total: f64,
}

/// The statuses of a result and why.
#[derive(Debug, Clone, PartialEq)]
pub struct Findings {
    /// Per row, per column.
    pub cells: Vec<Vec<Status>>,
    /// Each rule that acted, in words.
    pub notes: Vec<String>,
}

impl Findings {
    /// Whether any cell is held for review.
    pub fn needs_review(&self) -> bool {
        self.cells.iter().flatten().any(|s| *s == Status::Review)
    }

    /// Cells withheld (primary and secondary).
    pub fn suppressed(&self) -> usize {
        self.cells
            .iter()
            .flatten()
            .filter(|s| matches!(s, Status::Suppressed | Status::Secondary))
            .count()
    }
}

/// One output row as the engine computed it, with the persons the
/// platform counted for it and for each of its measures.
#[derive(Debug, Clone, PartialEq)]
pub struct Computed {
    /// The key values.
    pub keys: Vec<Cell>,
    /// Every output's value (hidden ones too), keys included.
    pub outputs: Vec<Cell>,
    /// Each measure's value.
    pub measures: Vec<Cell>,
    /// The row's persons, `|P(g)|` (or a figure in the same class:
    /// none, fewer than the minimum, at least the minimum).
    pub persons: u64,
    /// Each measure's person sets' sizes, likewise: first its own
    /// `|P(m, g)|`, then (sums and means) its persons of non-zero values.
    pub measure_persons: Vec<Vec<u64>>,
    /// The ROLLUP grouping id (a bit per key, set where the key is
    /// totalled; 0 without ROLLUP).
    pub grouping: i64,
    /// Each measure's decisive persons (for sums and means, those of
    /// non-zero values) as a bitmap over the release's person index, for
    /// differencing; empty when the release has no person index.
    pub sets: Vec<RoaringBitmap>,
}

/// What the rule set made of a computed result, before HAVING, ORDER BY
/// and LIMIT.
#[derive(Debug, Clone, PartialEq)]
pub struct Judged {
    /// Per row: whether it is shown (its persons meet the minimum).
    pub shown: Vec<bool>,
    /// Per row, per output (hidden ones too): its status.
    pub cells: Vec<Vec<Status>>,
    /// What the rules did, in words.
    pub notes: Vec<String>,
}

/// Judges a computed result by `rules`. `measures[m]` is the aggregate of
/// measure m; `outputs[o]` the measures output o reads (none for a key);
/// `keys` how many keys there are; `shares` the contributions of
/// (row, measure) where the rule set has concentration rules.
pub fn judge(
    rules: &RuleSet,
    rows: &[Computed],
    measures: &[Aggregate],
    outputs: &[Option<Vec<usize>>],
    keys: usize,
    shares: &BTreeMap<(usize, usize), Shares>,
) -> Judged {
    let mut notes = Vec::new();
    let min = rules.min_persons;
    let shown: Vec<bool> = rows
        .iter()
        .map(|r| r.persons == 0 || r.persons >= min)
        .collect();
    let mut status: Vec<Vec<Status>> = rows
        .iter()
        .enumerate()
        .map(|(r, row)| {
            measures
                .iter()
                .enumerate()
                .map(|(m, aggregate)| {
                    if !shown[r] {
                        return Status::Suppressed;
                    }
                    cell_status(
                        rules,
                        &row.measure_persons[m],
                        aggregate,
                        shares.get(&(r, m)),
                    )
                })
                .collect()
        })
        .collect();
    let withheld_rows = shown.iter().filter(|s| !**s).count();
    if withheld_rows > 0 {
        notes.push(format!(
            "{withheld_rows} rows of fewer than {min} persons withheld, keys included"
        ));
    }
    let small = status
        .iter()
        .zip(&shown)
        .filter(|(_, s)| **s)
        .flat_map(|(r, _)| r)
        .filter(|s| **s == Status::Suppressed)
        .count();
    if small > 0 {
        notes.push(format!(
            "{small} numbers of fewer than {min} persons, or dominated by a few, suppressed"
        ));
    }
    let secondary = secondary_suppression(rows, measures, keys, &mut status);
    if secondary > 0 {
        notes.push(format!(
            "{secondary} more numbers suppressed so that suppressed ones cannot be recovered from totals"
        ));
    }
    let cells: Vec<Vec<Status>> = status
        .iter()
        .map(|per_measure| {
            outputs
                .iter()
                .map(|reads| match reads {
                    None => Status::Pass,
                    Some(ms) => ms
                        .iter()
                        .map(|&m| per_measure[m])
                        .max_by_key(|s| severity(*s))
                        .unwrap_or(Status::Pass),
                })
                .collect()
        })
        .collect();
    let held = cells
        .iter()
        .zip(&shown)
        .filter(|(_, s)| **s)
        .flat_map(|(r, _)| r)
        .filter(|s| **s == Status::Review)
        .count();
    if held > 0 {
        notes.push(format!("{held} cells held for review"));
    }
    Judged {
        shown,
        cells,
        notes,
    }
}

/// How much a status withholds: an output takes its measures' worst.
fn severity(s: Status) -> u8 {
    match s {
        Status::Pass => 0,
        Status::Review => 1,
        Status::Secondary => 2,
        Status::Suppressed => 3,
    }
}

/// A number's status from its person sets (its own first), its kind and
/// its largest contributions.
fn cell_status(
    rules: &RuleSet,
    persons: &[u64],
    aggregate: &Aggregate,
    shares: Option<&Shares>,
) -> Status {
    if persons.first().is_none_or(|n| *n == 0) {
        return match rules.zero {
            Action::Review => Status::Review,
            _ => Status::Pass,
        };
    }
    if persons.iter().any(|n| (1..rules.min_persons).contains(n)) {
        return Status::Suppressed;
    }
    if aggregate.is_extreme() {
        return match rules.extremes {
            Action::Allow => Status::Pass,
            Action::Review => Status::Review,
            Action::Refuse => Status::Suppressed,
        };
    }
    if let Some(s) = shares
        && dominated(rules, s)
    {
        return Status::Suppressed;
    }
    Status::Pass
}

fn dominated(rules: &RuleSet, s: &Shares) -> bool {
    if s.total <= 0.0 {
        return false;
    }
    let by_dominance = rules.dominance.is_some_and(|d| {
        let top = if d.n >= 2 { s.top1 + s.top2 } else { s.top1 };
        top >= d.k * s.total
    });
    // p%: the second contributor could estimate the first to within p%.
    let by_p = rules
        .p_percent
        .is_some_and(|p| s.total - s.top1 - s.top2 < p * s.top1);
    by_dominance || by_p
}

fn withheld(s: Status) -> bool {
    matches!(s, Status::Suppressed | Status::Secondary)
}

/// Suppresses more numbers until no withheld one is the one unknown of a
/// line: a ROLLUP total and the rows it totals. Every measure but the
/// order statistics takes part (a mean times its count is a sum). Returns
/// how many it suppressed.
fn secondary_suppression(
    rows: &[Computed],
    measures: &[Aggregate],
    keys: usize,
    status: &mut [Vec<Status>],
) -> usize {
    let lines = lines(rows, keys);
    let mut added = 0;
    loop {
        let mut changed = false;
        for (m, aggregate) in measures.iter().enumerate() {
            if aggregate.is_extreme() {
                continue;
            }
            for (total, members) in &lines {
                // One unknown in a line of a total and its members is one
                // subtraction away, whichever it is.
                let unknown = members.iter().filter(|&&r| withheld(status[r][m])).count()
                    + usize::from(withheld(status[*total][m]));
                if unknown != 1 {
                    continue;
                }
                // Hide the smallest released member; with none, the total.
                let next = members
                    .iter()
                    .copied()
                    .filter(|&r| !withheld(status[r][m]))
                    .min_by(|&a, &b| {
                        let v = |r: usize| rows[r].measures[m].as_f64().unwrap_or(0.0);
                        v(a).total_cmp(&v(b))
                    })
                    .unwrap_or(*total);
                status[next][m] = Status::Secondary;
                added += 1;
                changed = true;
            }
        }
        if !changed {
            return added;
        }
    }
}

/// Each ROLLUP total with the rows it totals over one key: for a total
/// row with key j totalled, the rows where key j is not, the same other
/// keys totalled, and the same values in the keys that are not.
fn lines(rows: &[Computed], keys: usize) -> Vec<(usize, Vec<usize>)> {
    let mut out = Vec::new();
    for (t, total) in rows.iter().enumerate() {
        for j in 0..keys {
            let bit = 1i64 << (keys - 1 - j);
            if total.grouping & bit == 0 {
                continue;
            }
            let members: Vec<usize> = rows
                .iter()
                .enumerate()
                .filter(|(_, r)| r.grouping == total.grouping & !bit)
                .filter(|(_, r)| {
                    (0..keys).all(|k| {
                        k == j
                            || r.grouping & (1i64 << (keys - 1 - k)) != 0
                            || r.keys[k] == total.keys[k]
                    })
                })
                .map(|(i, _)| i)
                .collect();
            if !members.is_empty() {
                out.push((t, members));
            }
        }
    }
    out
}

/// The result as it may leave: withheld cells become NULL.
pub fn release(result: &ResultSet, findings: &Findings) -> ResultSet {
    let rows = result
        .rows
        .iter()
        .zip(&findings.cells)
        .map(|(row, statuses)| {
            row.iter()
                .zip(statuses)
                .map(|(cell, status)| match status {
                    Status::Pass => cell.clone(),
                    _ => Cell::Null,
                })
                .collect()
        })
        .collect();
    ResultSet {
        columns: result.columns.clone(),
        kinds: result.kinds.clone(),
        rows,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_builtin_rule_sets_parse() {
        let sets = RuleSet::builtin().unwrap();
        assert_eq!(sets.keys().collect::<Vec<_>>(), ["acro", "ndb"]);
        assert_eq!(sets["ndb"].min_persons, 10);
        assert_eq!(sets["acro"].dominance, Some(Dominance { n: 2, k: 0.9 }));
    }

    #[test]
    fn a_dominated_or_p_percent_sum_is_suppressed() {
        let acro = &RuleSet::builtin().unwrap()["acro"];
        let s = |top1, top2, total| Shares { top1, top2, total };
        assert!(dominated(acro, &s(80.0, 15.0, 100.0)));
        assert!(!dominated(acro, &s(40.0, 30.0, 100.0)));
        // p% alone: the rest (5) is under 10% of the largest (60).
        let p_only = RuleSet {
            dominance: None,
            ..acro.clone()
        };
        assert!(dominated(&p_only, &s(60.0, 35.0, 100.0)));
        assert!(!dominated(&p_only, &s(50.0, 30.0, 100.0)));
        let ndb = &RuleSet::builtin().unwrap()["ndb"];
        assert!(!dominated(ndb, &s(99.0, 1.0, 100.0)));
    }
}
