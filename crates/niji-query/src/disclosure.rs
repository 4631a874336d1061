//! Output disclosure control: the platform, not the researcher, decides
//! which cells of an aggregate result may leave. Every cell gets a status
//! from the rule set the grant names (`policies/disclosure-*.toml`):
//!
//! - cells of fewer persons than the minimum are suppressed (zero persons
//!   is allowed, or held for review);
//! - order statistics (`min`, `max`, …) are refused or held for review;
//! - a sum whose top contributors dominate it (n, k) or fails the p% rule
//!   is suppressed;
//! - secondary suppression: when a suppressed cell could be recovered
//!   from the others and their total in the same result, more cells are
//!   suppressed until it cannot.

use crate::QueryError;
use crate::sandbox::{Cell, ResultSet};
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

/// How an output column of an aggregate query was made.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Output {
    /// A grouping key.
    Key,
    /// An aggregate, by its function (`count`, `sum`, …).
    Measure(String),
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

/// Judges an aggregate result: `persons[r]` is row r's distinct persons,
/// `outputs[c]` how column c was made, `shares` the contributions of sum
/// cells (row, column) where the rule set needs them.
pub fn judge(
    rules: &RuleSet,
    result: &ResultSet,
    persons: &[u64],
    outputs: &[Output],
    shares: &BTreeMap<(usize, usize), Shares>,
) -> Findings {
    let mut notes = Vec::new();
    let mut cells = vec![vec![Status::Pass; outputs.len()]; result.rows.len()];
    let mut small = 0;
    for (r, row_cells) in cells.iter_mut().enumerate() {
        for (c, output) in outputs.iter().enumerate() {
            let Output::Measure(function) = output else {
                continue;
            };
            row_cells[c] = cell_status(rules, persons[r], function, shares.get(&(r, c)));
            if row_cells[c] == Status::Suppressed && persons[r] > 0 {
                small += 1;
            }
        }
    }
    if small > 0 {
        notes.push(format!(
            "{small} cells of fewer than {} persons, or dominated sums, suppressed",
            rules.min_persons
        ));
    }
    let secondary = secondary_suppression(result, outputs, &mut cells);
    if secondary > 0 {
        notes.push(format!(
            "{secondary} more cells suppressed so that suppressed cells cannot be recovered from totals"
        ));
    }
    let held = cells
        .iter()
        .flatten()
        .filter(|s| **s == Status::Review)
        .count();
    if held > 0 {
        notes.push(format!("{held} cells held for review"));
    }
    Findings { cells, notes }
}

fn cell_status(rules: &RuleSet, persons: u64, function: &str, shares: Option<&Shares>) -> Status {
    if crate::check::EXTREMES.contains(&function) {
        return match rules.extremes {
            Action::Allow => Status::Pass,
            Action::Review => Status::Review,
            Action::Refuse => Status::Suppressed,
        };
    }
    if persons == 0 {
        return match rules.zero {
            Action::Review => Status::Review,
            _ => Status::Pass,
        };
    }
    if persons < rules.min_persons {
        return Status::Suppressed;
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

fn additive(function: &str) -> bool {
    matches!(function, "count" | "sum" | "count_if")
}

/// Suppresses more cells until no suppressed cell is the one unknown of a
/// line (the cells that differ in one key) with a published total (that
/// key NULL, the others equal). Returns the cells it suppressed.
fn secondary_suppression(
    result: &ResultSet,
    outputs: &[Output],
    cells: &mut [Vec<Status>],
) -> usize {
    let keys: Vec<usize> = (0..outputs.len())
        .filter(|&c| outputs[c] == Output::Key)
        .collect();
    let withheld = |s: Status| matches!(s, Status::Suppressed | Status::Secondary);
    let mut added = 0;
    loop {
        let mut changed = false;
        for (m, output) in outputs.iter().enumerate() {
            let Output::Measure(function) = output else {
                continue;
            };
            if !additive(function) {
                continue;
            }
            for &j in &keys {
                for (total, members) in lines(result, &keys, j) {
                    let hidden = members.iter().filter(|&&r| withheld(cells[r][m])).count();
                    if hidden != 1 || withheld(cells[total][m]) {
                        continue;
                    }
                    // Hide the smallest other member; with none, the total.
                    let next = members
                        .iter()
                        .copied()
                        .filter(|&r| !withheld(cells[r][m]))
                        .min_by(|&a, &b| {
                            let v = |r: usize| result.rows[r][m].as_f64().unwrap_or(0.0);
                            v(a).total_cmp(&v(b))
                        })
                        .unwrap_or(total);
                    cells[next][m] = Status::Secondary;
                    added += 1;
                    changed = true;
                }
            }
        }
        if !changed {
            return added;
        }
    }
}

/// For key column `j`: each total row (key `j` NULL) with the rows that
/// share its other keys and have key `j` set.
fn lines(result: &ResultSet, keys: &[usize], j: usize) -> Vec<(usize, Vec<usize>)> {
    let others = |r: usize| -> Vec<String> {
        keys.iter()
            .filter(|&&k| k != j)
            .map(|&k| format!("{:?}", result.rows[r][k]))
            .collect()
    };
    let mut out = Vec::new();
    for (t, row) in result.rows.iter().enumerate() {
        if row[j] != Cell::Null {
            continue;
        }
        let line = others(t);
        let members: Vec<usize> = (0..result.rows.len())
            .filter(|&r| result.rows[r][j] != Cell::Null && others(r) == line)
            .collect();
        if !members.is_empty() {
            out.push((t, members));
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
