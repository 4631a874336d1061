//! Generalization hierarchies: for each quasi-identifier, the ladder of
//! ever coarser forms a value can take, ending in `*`.
//!
//! Level 0 is the value itself. A hierarchy is a tree: two values that
//! share a group at one level share it at every level above, which is what
//! makes a coarser level's groups unions of a finer level's and lets the
//! search compute a node's classes from any finer node's.
//!
//! Hierarchies come from ARX's CSV form (`value;level1;level2;…`, one line
//! per value) or are built from rules for the platform's own columns
//! ([`Hierarchy::intervals`], [`Hierarchy::prefixes`]).

use std::collections::HashMap;
use std::fmt;
use std::path::{Path, PathBuf};

/// The label of the top of every built hierarchy and of a suppressed value.
pub const SUPPRESSED: &str = "*";

/// The last prefecture code of each region, in JIS order.
pub const REGIONS: [(u32, &str); 8] = [
    (1, "Hokkaido"),
    (7, "Tohoku"),
    (14, "Kanto"),
    (23, "Chubu"),
    (30, "Kinki"),
    (35, "Chugoku"),
    (39, "Shikoku"),
    (47, "Kyushu-Okinawa"),
];

/// The region of a prefecture (JIS code 1–47).
pub fn region_of(prefecture: u32) -> Option<&'static str> {
    REGIONS
        .iter()
        .find(|(last, _)| (1..=*last).contains(&prefecture))
        .map(|(_, name)| *name)
}

/// One level of a hierarchy: each value's group, and the groups' labels.
#[derive(Debug, Clone)]
pub struct Level {
    /// Group of each value (by the value's index at level 0).
    pub group: Vec<u32>,
    /// Label of each group.
    pub labels: Vec<String>,
}

/// A generalization hierarchy over a fixed set of values.
#[derive(Debug, Clone)]
pub struct Hierarchy {
    levels: Vec<Level>,
    index: HashMap<String, u32>,
}

/// A hierarchy that is not one, with where it was read.
#[derive(Debug)]
pub struct HierarchyError {
    /// The file, if it came from one.
    pub path: Option<PathBuf>,
    /// The line (1-based), if the fault is on one.
    pub line: Option<usize>,
    /// What is wrong.
    pub reason: String,
}

impl fmt::Display for HierarchyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(path) = &self.path {
            write!(f, "{}: ", path.display())?;
        }
        if let Some(line) = self.line {
            write!(f, "line {line}: ")?;
        }
        f.write_str(&self.reason)
    }
}

impl std::error::Error for HierarchyError {}

fn fault(line: Option<usize>, reason: impl Into<String>) -> HierarchyError {
    HierarchyError {
        path: None,
        line,
        reason: reason.into(),
    }
}

impl Hierarchy {
    /// Builds a hierarchy from rows `value, level 1, …, top`, all of one
    /// length. `lines[i]` is the source line of `rows[i]`, for errors.
    pub fn from_rows(rows: &[Vec<String>], lines: &[usize]) -> Result<Hierarchy, HierarchyError> {
        let line = |i: usize| lines.get(i).copied();
        let Some(height) = rows.first().map(Vec::len) else {
            return Err(fault(None, "the hierarchy has no values"));
        };
        let mut levels: Vec<Level> = (0..height)
            .map(|_| Level {
                group: Vec::with_capacity(rows.len()),
                labels: Vec::new(),
            })
            .collect();
        let mut interned: Vec<HashMap<&str, u32>> = vec![HashMap::new(); height];
        let mut index = HashMap::new();
        for (i, row) in rows.iter().enumerate() {
            if row.len() != height {
                return Err(fault(
                    line(i),
                    format!("{} levels, but the first value has {height}", row.len()),
                ));
            }
            if index.insert(row[0].clone(), i as u32).is_some() {
                return Err(fault(line(i), format!("value {:?} appears twice", row[0])));
            }
            for (l, label) in row.iter().enumerate() {
                let next = levels[l].labels.len() as u32;
                let g = *interned[l].entry(label.as_str()).or_insert(next);
                if g == next {
                    levels[l].labels.push(label.clone());
                }
                levels[l].group.push(g);
            }
        }
        let hierarchy = Hierarchy { levels, index };
        hierarchy.check_tree(&line)?;
        Ok(hierarchy)
    }

    /// Every group must sit inside one group of the level above.
    fn check_tree(&self, line: &dyn Fn(usize) -> Option<usize>) -> Result<(), HierarchyError> {
        for l in 1..self.levels.len() {
            let mut parent: Vec<Option<u32>> = vec![None; self.levels[l - 1].labels.len()];
            for v in 0..self.values() {
                let (below, above) = (self.levels[l - 1].group[v], self.levels[l].group[v]);
                match parent[below as usize] {
                    None => parent[below as usize] = Some(above),
                    Some(p) if p != above => {
                        return Err(fault(
                            line(v),
                            format!(
                                "{:?} at level {} lies under both {:?} and {:?} at level {}",
                                self.levels[l - 1].labels[below as usize],
                                l - 1,
                                self.levels[l].labels[p as usize],
                                self.levels[l].labels[above as usize],
                                l
                            ),
                        ));
                    }
                    Some(_) => {}
                }
            }
        }
        Ok(())
    }

    /// Reads ARX's CSV form: one line per value, `;`-separated.
    pub fn from_csv(path: &Path) -> Result<Hierarchy, HierarchyError> {
        let with_path = |mut e: HierarchyError| {
            e.path = Some(path.to_owned());
            e
        };
        let mut reader = csv::ReaderBuilder::new()
            .delimiter(b';')
            .has_headers(false)
            .flexible(true)
            .from_path(path)
            .map_err(|e| with_path(fault(None, e.to_string())))?;
        let (mut rows, mut lines) = (Vec::new(), Vec::new());
        for record in reader.records() {
            let record = record.map_err(|e| {
                let line = e.position().map(|p| p.line() as usize);
                with_path(fault(line, e.to_string()))
            })?;
            lines.push(
                record
                    .position()
                    .map_or(rows.len() + 1, |p| p.line() as usize),
            );
            rows.push(record.iter().map(str::to_owned).collect());
        }
        Hierarchy::from_rows(&rows, &lines).map_err(with_path)
    }

    /// Integers in `min..=max` generalized to intervals of each width in
    /// `widths` (each a multiple of the one before), then `*`. Values from
    /// `top` up share one group at every level (top coding: "90+").
    pub fn intervals(
        min: i64,
        max: i64,
        widths: &[i64],
        top: Option<i64>,
    ) -> Result<Hierarchy, HierarchyError> {
        if min > max {
            return Err(fault(
                None,
                format!("interval range {min}..={max} is empty"),
            ));
        }
        if let Some(w) = widths.iter().find(|&&w| w <= 0) {
            return Err(fault(None, format!("interval width {w} is not positive")));
        }
        if let Some(pair) = widths.windows(2).find(|p| p[1] % p[0] != 0) {
            return Err(fault(
                None,
                format!(
                    "interval width {} is not a multiple of {}",
                    pair[1], pair[0]
                ),
            ));
        }
        let label = |v: i64, width: i64| -> String {
            match top {
                Some(t) if v >= t => format!("{t}+"),
                _ => {
                    let start = v.div_euclid(width) * width;
                    let end = match top {
                        Some(t) => (start + width - 1).min(t - 1),
                        None => start + width - 1,
                    };
                    if width == 1 {
                        start.to_string()
                    } else {
                        format!("{start}-{end}")
                    }
                }
            }
        };
        let rows: Vec<Vec<String>> = (min..=max)
            .map(|v| {
                let mut row = vec![v.to_string()];
                row.extend(widths.iter().map(|&w| label(v, w)));
                row.push(SUPPRESSED.to_owned());
                row
            })
            .collect();
        Hierarchy::from_rows(&rows, &[])
    }

    /// Text values generalized by keeping the first `lengths` characters
    /// (longest first), then `*`: dates `YYYY-MM-DD` → `YYYY-MM` → `YYYY`,
    /// codes to their category.
    pub fn prefixes(values: &[String], lengths: &[usize]) -> Result<Hierarchy, HierarchyError> {
        if lengths.windows(2).any(|p| p[1] >= p[0]) {
            return Err(fault(None, "prefix lengths must shrink level by level"));
        }
        let rows: Vec<Vec<String>> = values
            .iter()
            .map(|v| {
                let mut row = vec![v.clone()];
                row.extend(
                    lengths
                        .iter()
                        .map(|&n| v.chars().take(n).collect::<String>()),
                );
                row.push(SUPPRESSED.to_owned());
                row
            })
            .collect();
        Hierarchy::from_rows(&rows, &[])
    }

    /// Values mapped through a table (e.g. postcode area → prefecture →
    /// region), then `*`. `table[v]` lists v's labels level by level.
    pub fn table(
        values: &[String],
        table: &HashMap<String, Vec<String>>,
    ) -> Result<Hierarchy, HierarchyError> {
        let rows: Result<Vec<Vec<String>>, HierarchyError> = values
            .iter()
            .map(|v| {
                let above = table.get(v).ok_or_else(|| {
                    fault(None, format!("value {v:?} is not in the hierarchy's table"))
                })?;
                let mut row = vec![v.clone()];
                row.extend(above.iter().cloned());
                row.push(SUPPRESSED.to_owned());
                Ok(row)
            })
            .collect();
        Hierarchy::from_rows(&rows?, &[])
    }

    /// Each value, then `*`: all or nothing.
    pub fn suppress(values: &[String]) -> Result<Hierarchy, HierarchyError> {
        let rows: Vec<Vec<String>> = values
            .iter()
            .map(|v| vec![v.clone(), SUPPRESSED.to_owned()])
            .collect();
        Hierarchy::from_rows(&rows, &[])
    }

    /// Prefecture codes (JIS X 0401, `01`–`47`) → the eight regions → `*`.
    pub fn regions(values: &[String]) -> Result<Hierarchy, HierarchyError> {
        let table: HashMap<String, Vec<String>> = values
            .iter()
            .map(|v| {
                let region = v.parse::<u32>().ok().and_then(region_of).ok_or_else(|| {
                    fault(None, format!("{v:?} is not a prefecture code (01–47)"))
                })?;
                Ok((v.clone(), vec![region.to_owned()]))
            })
            .collect::<Result<_, HierarchyError>>()?;
        Hierarchy::table(values, &table)
    }

    /// The same hierarchy with one more value, `label`, that stays itself
    /// at every level below `*`: for a person whose value is unknown.
    pub fn with_value_of_its_own(&self, label: &str) -> Result<Hierarchy, HierarchyError> {
        if self.index.contains_key(label) {
            return Ok(self.clone());
        }
        let height = self.height();
        let mut rows: Vec<Vec<String>> = (0..self.values())
            .map(|v| {
                (0..height)
                    .map(|l| self.levels[l].labels[self.levels[l].group[v] as usize].clone())
                    .collect()
            })
            .collect();
        let mut own = vec![label.to_owned(); height];
        if height > 1 {
            own[height - 1] = self.levels[height - 1].labels[0].clone();
        }
        rows.push(own);
        Hierarchy::from_rows(&rows, &[])
    }

    /// Number of levels, the value itself included.
    pub fn height(&self) -> usize {
        self.levels.len()
    }

    /// Number of values.
    pub fn values(&self) -> usize {
        self.levels[0].group.len()
    }

    /// A value's index, if the hierarchy knows it.
    pub fn code(&self, value: &str) -> Option<u32> {
        self.index.get(value).copied()
    }

    /// Level `l`.
    pub fn level(&self, l: usize) -> &Level {
        &self.levels[l]
    }

    /// For each group at level `from`, its group at level `to` (≥ `from`).
    pub fn up(&self, from: usize, to: usize) -> Vec<u32> {
        let mut map = vec![0; self.levels[from].labels.len()];
        for v in 0..self.values() {
            map[self.levels[from].group[v] as usize] = self.levels[to].group[v];
        }
        map
    }

    /// How many values each group at level `l` covers.
    pub fn group_sizes(&self, l: usize) -> Vec<u32> {
        let mut sizes = vec![0; self.levels[l].labels.len()];
        for &g in &self.levels[l].group {
            sizes[g as usize] += 1;
        }
        sizes
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rows(text: &str) -> Vec<Vec<String>> {
        text.lines()
            .map(|l| l.split(';').map(str::to_owned).collect())
            .collect()
    }

    #[test]
    fn csv_rows_become_levels_with_groups() {
        let h = Hierarchy::from_rows(&rows("a;ab;*\nb;ab;*\nc;c;*"), &[1, 2, 3]).unwrap();
        assert_eq!(h.height(), 3);
        assert_eq!(h.values(), 3);
        assert_eq!(h.level(1).labels, ["ab", "c"]);
        assert_eq!(h.level(1).group, [0, 0, 1]);
        assert_eq!(h.up(1, 2), [0, 0]);
        assert_eq!(h.group_sizes(1), [2, 1]);
        assert_eq!(h.code("c"), Some(2));
    }

    #[test]
    fn a_group_under_two_parents_is_refused_with_its_line() {
        let e = Hierarchy::from_rows(&rows("a;ab;x\nb;ab;y"), &[7, 8]).unwrap_err();
        assert_eq!(e.line, Some(8));
        assert!(
            e.reason.contains("\"ab\" at level 1 lies under both"),
            "{e}"
        );
    }

    #[test]
    fn ragged_and_repeated_rows_are_refused() {
        let e = Hierarchy::from_rows(&rows("a;x;*\nb;*"), &[1, 2]).unwrap_err();
        assert_eq!(
            (e.line, e.reason.as_str()),
            (Some(2), "2 levels, but the first value has 3")
        );
        let e = Hierarchy::from_rows(&rows("a;*\na;*"), &[1, 2]).unwrap_err();
        assert!(
            e.to_string()
                .starts_with("line 2: value \"a\" appears twice")
        );
    }

    #[test]
    fn age_intervals_with_top_coding() {
        let h = Hierarchy::intervals(0, 99, &[5, 10], Some(90)).unwrap();
        let label = |v: &str, l: usize| {
            h.level(l).labels[h.level(l).group[h.code(v).unwrap() as usize] as usize].clone()
        };
        assert_eq!(label("37", 1), "35-39");
        assert_eq!(label("37", 2), "30-39");
        assert_eq!(label("88", 1), "85-89");
        assert_eq!(label("93", 1), "90+");
        assert_eq!(label("99", 2), "90+");
        assert_eq!(label("4", 3), "*");
        assert!(Hierarchy::intervals(0, 9, &[5, 7], None).is_err());
    }

    #[test]
    fn date_prefixes() {
        let values = vec![
            "2021-04-17".to_owned(),
            "2021-04-30".to_owned(),
            "2021-05-01".to_owned(),
        ];
        let h = Hierarchy::prefixes(&values, &[7, 4]).unwrap();
        assert_eq!(h.level(1).labels, ["2021-04", "2021-05"]);
        assert_eq!(h.level(2).labels, ["2021"]);
        assert_eq!(h.level(3).labels, ["*"]);
    }

    #[test]
    fn regions_suppress_and_a_value_of_its_own() {
        let values: Vec<String> = ["01", "13", "14", "15", "47"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        let h = Hierarchy::regions(&values).unwrap();
        assert_eq!(
            h.level(1).labels,
            ["Hokkaido", "Kanto", "Chubu", "Kyushu-Okinawa"]
        );
        assert!(Hierarchy::regions(&["48".to_owned()]).is_err());
        let h = h.with_value_of_its_own("unknown").unwrap();
        let u = h.code("unknown").unwrap() as usize;
        assert_eq!(h.level(1).labels[h.level(1).group[u] as usize], "unknown");
        assert_eq!(h.level(2).labels[h.level(2).group[u] as usize], "*");
        let s = Hierarchy::suppress(&["1".to_owned(), "2".to_owned()]).unwrap();
        assert_eq!(
            (s.height(), s.level(1).labels.clone()),
            (2, vec!["*".to_owned()])
        );
    }

    #[test]
    fn the_adult_hierarchies_are_trees() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/fixtures/adult");
        for name in [
            "age",
            "education",
            "marital-status",
            "native-country",
            "occupation",
            "race",
            "salary-class",
            "sex",
            "workclass",
        ] {
            let h = Hierarchy::from_csv(&dir.join(format!("adult_hierarchy_{name}.csv"))).unwrap();
            assert_eq!(h.level(h.height() - 1).labels, ["*"], "{name}");
        }
    }
}
