//! The optimal search over the lattice of generalization levels.
//!
//! A node of the lattice gives each quasi-identifier a level of its
//! hierarchy. A node *passes* when the records in classes that fail the
//! model are no more than the suppression limit allows.
//!
//! The search is exact for its information-loss measure and prunes the way
//! ARX's Flash does:
//!
//! 1. **Tagging.** For the criteria that survive generalization even with
//!    suppression (k, distinct l), passing is monotone: every
//!    generalization of a passing node passes, every specialization of a
//!    failing node fails. Nodes are visited bottom-up; from each node not
//!    yet tagged, a path climbs through untagged nodes, a binary search on
//!    it finds where passing starts, and each evaluation tags the whole
//!    cone above (pass) or below (fail) it.
//! 2. **Bound.** Among the nodes tagged passing, the generalization loss
//!    (computed per attribute from value counts, without grouping) is a
//!    lower bound of the information loss, which adds suppressed records
//!    at full loss. Candidates are evaluated in order of that bound until
//!    the bound reaches the best loss found; the full model (entropy or
//!    recursive l, t-closeness) is checked there.
//!
//! Two shortcuts keep it fast without giving up exactness: no path starts
//! at a node whose bound already reaches the best loss found (nothing at or
//! above it can do better), and an evaluation stops as soon as the node
//! has more classes than n / k plus the suppression limit, since then more
//! records than the limit sit in classes below k.
//!
//! A node's classes are computed from the cached classes of a finer node
//! (a *rollup*), never from the rows again: a coarser level's groups are
//! unions of a finer level's.

use crate::hierarchy::Hierarchy;
use crate::model::Model;
use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};

/// A quasi-identifier: each record's value (its index in the hierarchy)
/// and the hierarchy.
#[derive(Debug, Clone)]
pub struct Quasi {
    /// Column name.
    pub name: String,
    /// The hierarchy.
    pub hierarchy: Hierarchy,
    /// Each record's value, as the hierarchy's index.
    pub codes: Vec<u32>,
}

/// The sensitive attribute: each record's value as an index into `labels`.
#[derive(Debug, Clone)]
pub struct Sensitive {
    /// Column name.
    pub name: String,
    /// The values.
    pub labels: Vec<String>,
    /// Each record's value.
    pub codes: Vec<u32>,
    /// Whether the values are ordered (for t-closeness).
    pub ordered: bool,
}

/// What the search works on.
#[derive(Debug, Clone)]
pub struct Table {
    /// The quasi-identifiers.
    pub quasi: Vec<Quasi>,
    /// The sensitive attribute, if the model needs one.
    pub sensitive: Option<Sensitive>,
}

impl Table {
    /// Number of records.
    pub fn rows(&self) -> usize {
        self.quasi
            .first()
            .map(|q| q.codes.len())
            .or(self.sensitive.as_ref().map(|s| s.codes.len()))
            .unwrap_or(0)
    }
}

/// Why a search could not run or found nothing.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum SearchError {
    /// Nothing to generalize.
    #[error("the table has no quasi-identifiers")]
    NoQuasi,
    /// The model needs a sensitive attribute the table lacks.
    #[error("the privacy model needs a sensitive attribute, and the table has none")]
    NoSensitive,
    /// Columns of different lengths.
    #[error("column {0} has {1} values, the table {2} rows")]
    Ragged(String, usize, usize),
    /// A code outside its hierarchy.
    #[error("column {0}: row {1} has no value in the hierarchy")]
    Unknown(String, usize),
    /// Too many quasi-identifier values to tell classes apart in 128 bits.
    #[error("the quasi-identifiers have too many value combinations to search (over 2^128)")]
    TooWide,
    /// Not even full generalization satisfies the model within the limit.
    #[error(
        "no generalization satisfies the model: even at the top, {0} records would have to be suppressed"
    )]
    Unsatisfiable(u64),
}

/// A multiply-shift hash for the integer keys of the rollup.
#[derive(Default, Clone, Copy)]
struct Mix(u64);

impl Hasher for Mix {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = (self.0.rotate_left(5) ^ u64::from(b)).wrapping_mul(0x51_7c_c1_b7_27_22_0a_95);
        }
    }
    fn write_u64(&mut self, n: u64) {
        self.0 = (self.0 ^ n)
            .wrapping_mul(0x9e37_79b9_7f4a_7c15)
            .rotate_left(26);
    }
    fn write_u128(&mut self, n: u128) {
        self.write_u64(n as u64);
        self.write_u64((n >> 64) as u64);
    }
}

type Fast = BuildHasherDefault<Mix>;

/// The classes of one node: each class's group per quasi-identifier, and
/// the (class, sensitive value) cells with their counts.
#[derive(Debug, Clone)]
struct Classes {
    node: Vec<u8>,
    /// `codes[q][c]`: class c's group at the node's level of q.
    codes: Vec<Vec<u32>>,
    cell_class: Vec<u32>,
    cell_value: Vec<u32>,
    cell_count: Vec<u64>,
}

impl Classes {
    fn len(&self) -> usize {
        self.codes.first().map_or(self.cell_class.len(), Vec::len)
    }
}

/// How a node fares.
#[derive(Debug, Clone, PartialEq)]
pub struct Verdict {
    /// Records in classes failing k or distinct l.
    pub failing_monotone: u64,
    /// Records in classes failing any criterion: the ones to suppress.
    pub suppressed: u64,
    /// Classes, and classes kept.
    pub classes: u64,
    /// Classes that pass.
    pub kept_classes: u64,
    /// Information loss, 0 (nothing generalized) to 1: each value's share
    /// of its attribute's domain its group covers, suppressed values at 1,
    /// averaged over every value of every quasi-identifier.
    pub information_loss: f64,
    /// Discernibility: the sum of kept classes' squared sizes, plus each
    /// suppressed record counted as indistinct from all records.
    pub discernibility: f64,
    /// Average size of the kept classes.
    pub average_class_size: f64,
}

/// The result of a search.
#[derive(Debug, Clone)]
pub struct Solution {
    /// Each quasi-identifier's level.
    pub node: Vec<u8>,
    /// How that node fares.
    pub verdict: Verdict,
    /// Nodes in the lattice.
    pub lattice: usize,
    /// Nodes whose classes were computed.
    pub evaluated: usize,
}

/// A search over one table under one model.
pub struct Search<'t> {
    table: &'t Table,
    model: Model,
    rows: u64,
    heights: Vec<u8>,
    /// `up[q][from][to]`: group at level `from` → group at level `to`.
    up: Vec<Vec<Vec<Vec<u32>>>>,
    /// `loss[q][l][g]`: generalization loss of group g at level l.
    loss: Vec<Vec<Vec<f64>>>,
    /// `level_loss[q][l]`: the average loss of q's values at level l.
    level_loss: Vec<Vec<f64>>,
    global: Vec<f64>,
    ordered: bool,
    cache: Vec<Classes>,
    evaluated: usize,
    /// Verdicts of the nodes the search has probed, by index: the bound
    /// walk meets nodes the tagging already judged.
    verdicts: HashMap<usize, Verdict>,
}

/// How many finer nodes' classes the search keeps for rollups.
const CACHE: usize = 64;

impl<'t> Search<'t> {
    /// Prepares a search: checks the table and counts values per level.
    pub fn new(table: &'t Table, model: Model) -> Result<Search<'t>, SearchError> {
        let rows = table.rows();
        if table.quasi.is_empty() {
            return Err(SearchError::NoQuasi);
        }
        if model.needs_sensitive() && table.sensitive.is_none() {
            return Err(SearchError::NoSensitive);
        }
        for q in &table.quasi {
            if q.codes.len() != rows {
                return Err(SearchError::Ragged(q.name.clone(), q.codes.len(), rows));
            }
            if let Some(at) = q
                .codes
                .iter()
                .position(|&c| c as usize >= q.hierarchy.values())
            {
                return Err(SearchError::Unknown(q.name.clone(), at + 1));
            }
        }
        if let Some(s) = &table.sensitive {
            if s.codes.len() != rows {
                return Err(SearchError::Ragged(s.name.clone(), s.codes.len(), rows));
            }
            if let Some(at) = s.codes.iter().position(|&c| c as usize >= s.labels.len()) {
                return Err(SearchError::Unknown(s.name.clone(), at + 1));
            }
        }
        let widest: f64 = table
            .quasi
            .iter()
            .map(|q| (q.hierarchy.values() as f64).log2())
            .sum();
        if widest > 127.0 {
            return Err(SearchError::TooWide);
        }
        let heights = table
            .quasi
            .iter()
            .map(|q| q.hierarchy.height() as u8)
            .collect();
        let up = table
            .quasi
            .iter()
            .map(|q| {
                let h = q.hierarchy.height();
                (0..h)
                    .map(|from| {
                        (0..h)
                            .map(|to| {
                                if to >= from {
                                    q.hierarchy.up(from, to)
                                } else {
                                    Vec::new()
                                }
                            })
                            .collect()
                    })
                    .collect()
            })
            .collect();
        let loss: Vec<Vec<Vec<f64>>> = table
            .quasi
            .iter()
            .map(|q| group_loss(&q.hierarchy))
            .collect();
        let level_loss = table
            .quasi
            .iter()
            .zip(&loss)
            .map(|(q, loss)| {
                let mut counts = vec![0u64; q.hierarchy.values()];
                for &c in &q.codes {
                    counts[c as usize] += 1;
                }
                (0..q.hierarchy.height())
                    .map(|l| {
                        let level = q.hierarchy.level(l);
                        let total: f64 = counts
                            .iter()
                            .enumerate()
                            .map(|(v, &n)| n as f64 * loss[l][level.group[v] as usize])
                            .sum();
                        total / rows.max(1) as f64
                    })
                    .collect()
            })
            .collect();
        let (global, ordered) = match &table.sensitive {
            Some(s) => {
                let mut g = vec![0.0; s.labels.len()];
                for &c in &s.codes {
                    g[c as usize] += 1.0 / rows as f64;
                }
                (g, s.ordered)
            }
            None => (Vec::new(), false),
        };
        let mut search = Search {
            table,
            model,
            rows: rows as u64,
            heights,
            up,
            loss,
            level_loss,
            global,
            ordered,
            cache: Vec::new(),
            evaluated: 0,
            verdicts: HashMap::new(),
        };
        let bottom = search.bottom();
        search.cache.push(bottom);
        Ok(search)
    }

    /// The classes of the bottom node, from the rows.
    fn bottom(&self) -> Classes {
        let rows = Classes {
            node: vec![0; self.heights.len()],
            codes: self.table.quasi.iter().map(|q| q.codes.clone()).collect(),
            cell_class: (0..self.rows as u32).collect(),
            cell_value: match &self.table.sensitive {
                Some(s) => s.codes.clone(),
                None => vec![0; self.rows as usize],
            },
            cell_count: vec![1; self.rows as usize],
        };
        self.rollup(&rows, &rows.node).0
    }

    /// Lattice size.
    pub fn lattice(&self) -> usize {
        self.heights.iter().map(|&h| h as usize).product()
    }

    fn decode(&self, mut index: usize) -> Vec<u8> {
        let mut node = vec![0u8; self.heights.len()];
        for (q, &h) in self.heights.iter().enumerate().rev() {
            node[q] = (index % h as usize) as u8;
            index /= h as usize;
        }
        node
    }

    fn encode(&self, node: &[u8]) -> usize {
        node.iter()
            .zip(&self.heights)
            .fold(0, |acc, (&l, &h)| acc * h as usize + l as usize)
    }

    /// The generalization loss of a node: a lower bound of its
    /// information loss, computed without grouping.
    pub fn generalization_loss(&self, node: &[u8]) -> f64 {
        if node.is_empty() {
            return 0.0;
        }
        node.iter()
            .enumerate()
            .map(|(q, &l)| self.level_loss[q][l as usize])
            .sum::<f64>()
            / node.len() as f64
    }

    /// Groups `src`'s classes at the coarser `node`. Also returns each
    /// source class's class, numbered in order of first appearance.
    fn rollup(&self, src: &Classes, node: &[u8]) -> (Classes, Vec<u32>) {
        self.rollup_capped(src, node, usize::MAX)
            .expect("no cap, no abort")
    }

    /// [`Search::rollup`], giving up (`None`) past `cap` classes.
    fn rollup_capped(&self, src: &Classes, node: &[u8], cap: usize) -> Option<(Classes, Vec<u32>)> {
        let maps: Vec<&[u32]> = (0..node.len())
            .map(|q| self.up[q][src.node[q] as usize][node[q] as usize].as_slice())
            .collect();
        let cards: Vec<u32> = (0..node.len())
            .map(|q| {
                self.table.quasi[q]
                    .hierarchy
                    .level(node[q] as usize)
                    .labels
                    .len() as u32
            })
            .collect();
        let bits: f64 = cards.iter().map(|&c| f64::from(c.max(1)).log2()).sum();
        // Narrow keys when the combinations fit in 64 bits, as they almost
        // always do: hashing a u128 costs twice as much.
        let (count, codes, remap) = if bits <= DENSE_BITS {
            let size = cards.iter().map(|&c| c.max(1) as usize).product::<usize>();
            number::<u64, _>(src, &maps, &cards, || vec![0u32; size], cap)?
        } else if bits < 63.0 {
            number::<u64, _>(src, &maps, &cards, HashMap::<u64, u32, Fast>::default, cap)?
        } else {
            number::<u128, _>(src, &maps, &cards, HashMap::<u128, u32, Fast>::default, cap)?
        };
        let mut out = Classes {
            node: node.to_vec(),
            codes,
            cell_class: Vec::new(),
            cell_value: Vec::new(),
            cell_count: Vec::new(),
        };
        if self.table.sensitive.is_none() {
            // One cell per class: the cells are the classes.
            out.cell_count = vec![0; count];
            for (i, &c) in src.cell_class.iter().enumerate() {
                out.cell_count[remap[c as usize] as usize] += src.cell_count[i];
            }
            out.cell_class = (0..count as u32).collect();
            out.cell_value = vec![0; count];
            return Some((out, remap));
        }
        let mut cells: HashMap<u64, u32, Fast> =
            HashMap::with_capacity_and_hasher(src.cell_class.len() / 2, Fast::default());
        for i in 0..src.cell_class.len() {
            let class = remap[src.cell_class[i] as usize];
            let value = src.cell_value[i];
            let next = cells.len() as u32;
            let cell = *cells
                .entry(u64::from(class) << 32 | u64::from(value))
                .or_insert(next);
            if cell == next {
                out.cell_class.push(class);
                out.cell_value.push(value);
                out.cell_count.push(0);
            }
            out.cell_count[cell as usize] += src.cell_count[i];
        }
        Some((out, remap))
    }

    /// The classes of `node`, rolled up from the smallest cached finer
    /// node's; `None` when they are more than `cap`.
    fn classes(&mut self, node: &[u8], cap: usize) -> Option<Classes> {
        self.evaluated += 1;
        let source = self
            .cache
            .iter()
            .enumerate()
            .filter(|(_, c)| c.node.iter().zip(node).all(|(a, b)| a <= b))
            .min_by_key(|(_, c)| c.cell_class.len())
            .map(|(i, _)| i)
            .unwrap_or(0);
        let (classes, _) = self.rollup_capped(&self.cache[source], node, cap)?;
        // The bottom stays; the oldest other entry makes room.
        if self.cache.len() >= CACHE {
            self.cache.remove(1);
        }
        self.cache.push(classes.clone());
        Some(classes)
    }

    /// More classes than this and the node fails k within the limit: each
    /// passing class holds k records, so at most n / k of them pass, and
    /// every other class puts at least one record over the limit.
    fn class_cap(&self) -> usize {
        let k = u64::from(self.model.k.max(1));
        usize::try_from(self.rows / k + self.limit()).unwrap_or(usize::MAX)
    }

    /// Judges every class of `classes` and sums up.
    fn judge(&self, classes: &Classes) -> (Verdict, Vec<bool>) {
        let n = classes.len();
        let mut size = vec![0u64; n];
        let mut distinct = vec![0u64; n];
        for (i, &c) in classes.cell_class.iter().enumerate() {
            size[c as usize] += classes.cell_count[i];
            distinct[c as usize] += 1;
        }
        let needs_cells = self
            .model
            .diversity
            .is_some_and(|d| !matches!(d, crate::model::Diversity::Distinct(_)))
            || self.model.closeness.is_some();
        let mut by_class: Vec<Vec<(u32, u64)>> = if needs_cells {
            let mut by_class = vec![Vec::new(); n];
            for i in 0..classes.cell_class.len() {
                by_class[classes.cell_class[i] as usize]
                    .push((classes.cell_value[i], classes.cell_count[i]));
            }
            by_class
        } else {
            Vec::new()
        };
        let mut ok = vec![true; n];
        let (mut failing_monotone, mut suppressed, mut squares, mut excess) =
            (0u64, 0u64, 0f64, 0f64);
        for c in 0..n {
            let monotone = self.model.monotone_ok(size[c], distinct[c]);
            if !monotone {
                failing_monotone += size[c];
            }
            ok[c] = monotone
                && (!needs_cells
                    || self
                        .model
                        .class_ok(size[c], &mut by_class[c], &self.global, self.ordered));
            if ok[c] {
                squares += (size[c] as f64).powi(2);
            } else {
                suppressed += size[c];
                // A suppressed value is at full loss, not its group's.
                let lost: f64 = (0..classes.codes.len())
                    .map(|q| {
                        1.0 - self.loss[q][classes.node[q] as usize][classes.codes[q][c] as usize]
                    })
                    .sum();
                excess += lost * size[c] as f64;
            }
        }
        let q = classes.node.len().max(1) as f64;
        let kept_classes = ok.iter().filter(|&&k| k).count() as u64;
        let verdict = Verdict {
            failing_monotone,
            suppressed,
            classes: n as u64,
            kept_classes,
            information_loss: self.generalization_loss(&classes.node)
                + excess / (self.rows.max(1) as f64 * q),
            discernibility: squares + suppressed as f64 * self.rows as f64,
            average_class_size: if kept_classes == 0 {
                0.0
            } else {
                (self.rows - suppressed) as f64 / kept_classes as f64
            },
        };
        (verdict, ok)
    }

    fn limit(&self) -> u64 {
        (self.model.max_suppression.clamp(0.0, 1.0) * self.rows as f64).floor() as u64
    }

    /// Evaluates a node: its verdict.
    pub fn evaluate(&mut self, node: &[u8]) -> Verdict {
        let classes = self.classes(node, usize::MAX).expect("no cap, no abort");
        self.judge(&classes).0
    }

    /// Evaluates a node for the search: gives up as soon as it has too
    /// many classes to pass (most of the finest nodes fail that way, after
    /// a fraction of their records).
    fn probe(&mut self, node: &[u8]) -> Verdict {
        let index = self.encode(node);
        if let Some(v) = self.verdicts.get(&index) {
            return v.clone();
        }
        let verdict = self.probe_uncached(node);
        self.verdicts.insert(index, verdict.clone());
        verdict
    }

    fn probe_uncached(&mut self, node: &[u8]) -> Verdict {
        match self.classes(node, self.class_cap()) {
            Some(classes) => self.judge(&classes).0,
            // Too many classes to pass: a verdict that fails, counting only
            // what is known.
            None => Verdict {
                failing_monotone: self.limit() + 1,
                suppressed: self.rows,
                classes: self.class_cap() as u64 + 1,
                kept_classes: 0,
                information_loss: 1.0,
                discernibility: (self.rows as f64).powi(2),
                average_class_size: 0.0,
            },
        }
    }

    /// Runs the search.
    pub fn run(&mut self) -> Result<Solution, SearchError> {
        let size = self.lattice();
        let top: Vec<u8> = self.heights.iter().map(|h| h - 1).collect();
        let at_top = self.evaluate(&top);
        self.verdicts.insert(self.encode(&top), at_top.clone());
        if at_top.failing_monotone > self.limit() {
            return Err(SearchError::Unsatisfiable(at_top.failing_monotone));
        }
        let limit = self.limit();
        let mut best: Option<(Vec<u8>, Verdict)> =
            (at_top.suppressed <= limit).then(|| (top.clone(), at_top.clone()));
        let passes = self.tag(&mut best);
        let mut candidates: Vec<(f64, usize)> = (0..size)
            .filter(|&i| passes[i] == Tag::Pass)
            .map(|i| (self.generalization_loss(&self.decode(i)), i))
            .collect();
        candidates.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)));
        for (bound, index) in candidates {
            if best
                .as_ref()
                .is_some_and(|(_, v)| bound >= v.information_loss)
            {
                break;
            }
            let node = self.decode(index);
            let verdict = self.probe(&node);
            keep_better(&mut best, node, verdict, limit);
        }
        let (node, verdict) = match best {
            Some(b) => b,
            None => return Err(SearchError::Unsatisfiable(at_top.suppressed)),
        };
        Ok(Solution {
            node,
            verdict,
            lattice: size,
            evaluated: self.evaluated,
        })
    }

    /// Tags the nodes passing or failing the monotone criteria that could
    /// still beat `best`, and keeps in `best` the best node it evaluates
    /// that meets the whole model. A node whose generalization loss reaches
    /// the best loss found, and everything above it, cannot do better, so
    /// no path starts there. (Cutting paths there too was measured: more,
    /// shorter paths, and more evaluations near the bottom.)
    fn tag(&mut self, best: &mut Option<(Vec<u8>, Verdict)>) -> Vec<Tag> {
        let size = self.lattice();
        let mut tags = vec![Tag::Unknown; size];
        let limit = self.limit();
        let mut order: Vec<usize> = (0..size).collect();
        let level = |s: &Search, i: usize| s.decode(i).iter().map(|&l| l as u32).sum::<u32>();
        order.sort_by_key(|&i| (level(self, i), i));
        let beaten = |s: &Search, i: usize, best: &Option<(Vec<u8>, Verdict)>| {
            best.as_ref()
                .is_some_and(|(_, v)| s.generalization_loss(&s.decode(i)) >= v.information_loss)
        };
        for start in order {
            if tags[start] != Tag::Unknown || beaten(self, start, best) {
                continue;
            }
            let path = self.path(start, &tags);
            // Binary search for the first passing node on the path; nodes
            // tagged meanwhile are read, not evaluated.
            let (mut lo, mut hi) = (0usize, path.len());
            while lo < hi {
                let mid = (lo + hi) / 2;
                let pass = match tags[path[mid]] {
                    Tag::Pass => true,
                    Tag::Fail => false,
                    Tag::Unknown => {
                        let node = self.decode(path[mid]);
                        let verdict = self.probe(&node);
                        let pass = verdict.failing_monotone <= limit;
                        self.spread(path[mid], pass, &mut tags);
                        keep_better(best, node, verdict, limit);
                        pass
                    }
                };
                if pass {
                    hi = mid;
                } else {
                    lo = mid + 1;
                }
            }
        }
        tags
    }

    /// A path upward from `start` through untagged nodes: at each step the
    /// successor with the least generalization loss.
    fn path(&self, start: usize, tags: &[Tag]) -> Vec<usize> {
        let mut path = vec![start];
        let mut node = self.decode(start);
        loop {
            let next = (0..node.len())
                .filter(|&q| node[q] + 1 < self.heights[q])
                .map(|q| {
                    let mut n = node.clone();
                    n[q] += 1;
                    n
                })
                .filter(|n| tags[self.encode(n)] == Tag::Unknown)
                .min_by(|a, b| {
                    self.generalization_loss(a)
                        .total_cmp(&self.generalization_loss(b))
                });
            match next {
                Some(n) => {
                    path.push(self.encode(&n));
                    node = n;
                }
                None => return path,
            }
        }
    }

    /// Tags `index` and its cone: every generalization when it passes,
    /// every specialization when it fails.
    fn spread(&self, index: usize, pass: bool, tags: &mut [Tag]) {
        let tag = if pass { Tag::Pass } else { Tag::Fail };
        let mut stack = vec![index];
        while let Some(i) = stack.pop() {
            if tags[i] == tag {
                continue;
            }
            tags[i] = tag;
            let node = self.decode(i);
            for q in 0..node.len() {
                let mut n = node.clone();
                if pass && n[q] + 1 < self.heights[q] {
                    n[q] += 1;
                } else if !pass && n[q] > 0 {
                    n[q] -= 1;
                } else {
                    continue;
                }
                stack.push(self.encode(&n));
            }
        }
    }

    /// Applies a node to the rows: each row's group label index per
    /// quasi-identifier, and whether the row is suppressed.
    pub fn apply(&self, node: &[u8]) -> Applied {
        let rows = self.rows as usize;
        let codes: Vec<Vec<u32>> = self
            .table
            .quasi
            .iter()
            .zip(node)
            .map(|(q, &l)| {
                let group = &q.hierarchy.level(l as usize).group;
                q.codes.iter().map(|&c| group[c as usize]).collect()
            })
            .collect();
        // Each row as a class of its own at this node, grouped: the rollup
        // tells each row its class.
        let rows_as_classes = Classes {
            node: node.to_vec(),
            codes: codes.clone(),
            cell_class: (0..rows as u32).collect(),
            cell_value: match &self.table.sensitive {
                Some(s) => s.codes.clone(),
                None => vec![0; rows],
            },
            cell_count: vec![1; rows],
        };
        let (classes, row_class) = self.rollup(&rows_as_classes, node);
        let (_, ok) = self.judge(&classes);
        let suppressed = row_class.iter().map(|&c| !ok[c as usize]).collect();
        Applied {
            node: node.to_vec(),
            codes,
            suppressed,
        }
    }
}

/// Keeps `node` in `best` if it meets the whole model within the limit and
/// loses less.
fn keep_better(best: &mut Option<(Vec<u8>, Verdict)>, node: Vec<u8>, verdict: Verdict, limit: u64) {
    if verdict.suppressed <= limit
        && best
            .as_ref()
            .is_none_or(|(_, v)| verdict.information_loss < v.information_loss)
    {
        *best = Some((node, verdict));
    }
}

/// A node applied to the rows.
#[derive(Debug, Clone)]
pub struct Applied {
    /// The node.
    pub node: Vec<u8>,
    /// `codes[q][row]`: the row's group at the node's level of q.
    pub codes: Vec<Vec<u32>>,
    /// Rows whose class fails the model.
    pub suppressed: Vec<bool>,
}

/// Up to this many bits of combinations, classes are numbered through an
/// array indexed by the key (16 MiB at most) instead of a hash map: most
/// evaluations land here, and an array lookup is several times cheaper.
const DENSE_BITS: f64 = 22.0;

/// From this many source classes on, two threads number halves of them.
const PARALLEL: usize = 1 << 17;

/// Where class numbers are kept by key: 0 for a key not seen yet, else
/// the class number plus one.
trait Index<K>: Send {
    fn slot(&mut self, key: K) -> &mut u32;
}

impl Index<u64> for Vec<u32> {
    fn slot(&mut self, key: u64) -> &mut u32 {
        &mut self[key as usize]
    }
}

impl<K: Copy + Eq + std::hash::Hash + Send> Index<K> for HashMap<K, u32, Fast> {
    fn slot(&mut self, key: K) -> &mut u32 {
        self.entry(key).or_insert(0)
    }
}

/// Classes numbered over a range of the source's classes.
struct Part<K> {
    keys: Vec<K>,
    codes: Vec<Vec<u32>>,
    remap: Vec<u32>,
}

fn number_part<K, I>(
    src: &Classes,
    range: std::ops::Range<usize>,
    scaled: &[Vec<K>],
    maps: &[&[u32]],
    index: &mut I,
    cap: usize,
) -> Option<Part<K>>
where
    K: Copy + std::ops::Add<Output = K>,
    I: Index<K>,
{
    let mut part = Part {
        keys: Vec::new(),
        codes: vec![Vec::new(); maps.len()],
        remap: Vec::with_capacity(range.len()),
    };
    for c in range {
        let mut key = scaled[0][src.codes[0][c] as usize];
        for q in 1..maps.len() {
            key = key + scaled[q][src.codes[q][c] as usize];
        }
        let slot = index.slot(key);
        if *slot == 0 {
            if part.keys.len() == cap {
                return None;
            }
            part.keys.push(key);
            *slot = part.keys.len() as u32;
            for q in 0..maps.len() {
                part.codes[q].push(maps[q][src.codes[q][c] as usize]);
            }
        }
        part.remap.push(*slot - 1);
    }
    Some(part)
}

/// Numbers `src`'s classes by their groups under `maps` (one per
/// quasi-identifier, `cards` groups each), in order of first appearance.
/// Returns the number of classes, each class's groups, and each source
/// class's number. A key is the sum of each group scaled by its place
/// value, so building it takes one lookup and one addition per attribute.
/// Large sources are split in two halves numbered on two threads, the
/// second half's new classes then appended to the first's.
fn number<K, I>(
    src: &Classes,
    maps: &[&[u32]],
    cards: &[u32],
    index: impl Fn() -> I,
    cap: usize,
) -> Option<(usize, Vec<Vec<u32>>, Vec<u32>)>
where
    K: Copy + Send + Sync + From<u32> + std::ops::Add<Output = K> + std::ops::Mul<Output = K>,
    I: Index<K>,
{
    let mut place = K::from(1);
    let mut scaled: Vec<Vec<K>> = vec![Vec::new(); maps.len()];
    for q in (0..maps.len()).rev() {
        scaled[q] = maps[q].iter().map(|&g| K::from(g) * place).collect();
        place = place * K::from(cards[q].max(1));
    }
    let n = src.len();
    let (mut first_index, mut second_index) = (index(), None);
    if n >= PARALLEL {
        second_index = Some(index());
    }
    let Some(mut second_index) = second_index else {
        let part = number_part(src, 0..n, &scaled, maps, &mut first_index, cap)?;
        return Some((part.keys.len(), part.codes, part.remap));
    };
    let (first, second) = std::thread::scope(|scope| {
        let second =
            scope.spawn(|| number_part(src, n / 2..n, &scaled, maps, &mut second_index, cap));
        let first = number_part(src, 0..n / 2, &scaled, maps, &mut first_index, cap);
        (first, second.join().expect("a numbering thread panicked"))
    });
    let (mut first, second) = (first?, second?);
    let mut count = first.keys.len() as u32;
    let translate: Vec<u32> = (0..second.keys.len())
        .map(|local| {
            let slot = first_index.slot(second.keys[local]);
            if *slot == 0 {
                count += 1;
                *slot = count;
                for q in 0..maps.len() {
                    first.codes[q].push(second.codes[q][local]);
                }
            }
            *slot - 1
        })
        .collect();
    if count as usize > cap {
        return None;
    }
    first
        .remap
        .extend(second.remap.iter().map(|&l| translate[l as usize]));
    Some((count as usize, first.codes, first.remap))
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Tag {
    Unknown,
    Pass,
    Fail,
}

/// `loss[l][g]`: the share of the domain (values − 1) that group g at
/// level l covers beyond one value; 0 at level 0, 1 at `*`.
fn group_loss(h: &Hierarchy) -> Vec<Vec<f64>> {
    let domain = h.values().saturating_sub(1).max(1) as f64;
    (0..h.height())
        .map(|l| {
            h.group_sizes(l)
                .iter()
                .map(|&s| (s.saturating_sub(1)) as f64 / domain)
                .collect()
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Diversity;
    use rand::{Rng, SeedableRng};
    use rand_chacha::ChaCha8Rng;

    fn quasi(name: &str, hierarchy: Hierarchy, rng: &mut ChaCha8Rng, rows: usize) -> Quasi {
        let values = hierarchy.values() as u32;
        // Skewed draws, so that rare values exist.
        let codes = (0..rows)
            .map(|_| {
                let a = rng.random_range(0..values);
                let b = rng.random_range(0..values);
                a.min(b)
            })
            .collect();
        Quasi {
            name: name.into(),
            hierarchy,
            codes,
        }
    }

    fn random_table(rng: &mut ChaCha8Rng) -> Table {
        let rows = rng.random_range(20..200);
        let mut quasi_ids = vec![
            quasi(
                "age",
                Hierarchy::intervals(0, 19, &[2, 4, 8], None).unwrap(),
                rng,
                rows,
            ),
            quasi(
                "zone",
                Hierarchy::intervals(0, 8, &[3], None).unwrap(),
                rng,
                rows,
            ),
        ];
        if rng.random_bool(0.5) {
            quasi_ids.push(quasi(
                "sex",
                Hierarchy::intervals(1, 2, &[], None).unwrap(),
                rng,
                rows,
            ));
        }
        let sensitive = Sensitive {
            name: "disease".into(),
            labels: (0..4).map(|i| format!("d{i}")).collect(),
            codes: (0..rows).map(|_| rng.random_range(0..4)).collect(),
            ordered: rng.random_bool(0.5),
        };
        Table {
            quasi: quasi_ids,
            sensitive: Some(sensitive),
        }
    }

    fn random_model(rng: &mut ChaCha8Rng) -> Model {
        Model {
            k: rng.random_range(1..6),
            diversity: match rng.random_range(0..4) {
                0 => None,
                1 => Some(Diversity::Distinct(2)),
                2 => Some(Diversity::Entropy(1.5)),
                _ => Some(Diversity::Recursive { c: 3.0, l: 2 }),
            },
            closeness: rng.random_bool(0.3).then_some(0.3),
            max_suppression: [0.0, 0.05, 0.2][rng.random_range(0..3)],
        }
    }

    /// Evaluates every node and keeps the least loss within the limit.
    fn brute_force(table: &Table, model: &Model) -> Option<f64> {
        let mut search = Search::new(table, model.clone()).unwrap();
        let limit = search.limit();
        (0..search.lattice())
            .map(|i| search.decode(i))
            .collect::<Vec<_>>()
            .into_iter()
            .map(|node| search.evaluate(&node))
            .filter(|v| v.suppressed <= limit)
            .map(|v| v.information_loss)
            .min_by(f64::total_cmp)
    }

    #[test]
    fn the_search_finds_what_evaluating_every_node_finds() {
        let mut rng = ChaCha8Rng::seed_from_u64(6);
        let mut solved = 0;
        for round in 0..600 {
            let table = random_table(&mut rng);
            let model = random_model(&mut rng);
            let expected = brute_force(&table, &model);
            let found = Search::new(&table, model.clone()).unwrap().run();
            match (expected, found) {
                (Some(best), Ok(solution)) => {
                    solved += 1;
                    assert!(
                        (solution.verdict.information_loss - best).abs() < 1e-9,
                        "round {round}: {model:?}: search {} at {:?}, every node {best}",
                        solution.verdict.information_loss,
                        solution.node
                    );
                    assert!(
                        solution.evaluated <= solution.lattice,
                        "every node at most once"
                    );
                }
                (None, Err(SearchError::Unsatisfiable(_))) => {}
                (e, f) => panic!("round {round}: {model:?}: every node {e:?}, search {f:?}"),
            }
        }
        assert!(solved > 400, "only {solved} of 600 models were satisfiable");
    }

    #[test]
    fn applying_the_solution_suppresses_exactly_the_failing_rows() {
        let mut rng = ChaCha8Rng::seed_from_u64(7);
        for _ in 0..50 {
            let table = random_table(&mut rng);
            let model = random_model(&mut rng);
            let mut search = Search::new(&table, model.clone()).unwrap();
            let Ok(solution) = search.run() else { continue };
            let applied = search.apply(&solution.node);
            let suppressed = applied.suppressed.iter().filter(|&&s| s).count() as u64;
            assert_eq!(suppressed, solution.verdict.suppressed);
            // The kept rows' classes all hold k rows.
            let mut sizes: HashMap<Vec<u32>, u64> = HashMap::new();
            for r in (0..table.rows()).filter(|&r| !applied.suppressed[r]) {
                *sizes
                    .entry(applied.codes.iter().map(|c| c[r]).collect())
                    .or_default() += 1;
            }
            assert!(
                sizes.values().all(|&n| n >= u64::from(model.k)),
                "{model:?}"
            );
        }
    }

    #[test]
    fn large_tables_numbered_on_two_threads_count_every_row_once() {
        // Enough rows for the two-thread numbering of the bottom and of
        // `apply`, checked against a plain count.
        let mut rng = ChaCha8Rng::seed_from_u64(8);
        let rows = PARALLEL + 5_000;
        let table = Table {
            quasi: vec![
                quasi(
                    "a",
                    Hierarchy::intervals(0, 999, &[10, 100], None).unwrap(),
                    &mut rng,
                    rows,
                ),
                quasi(
                    "b",
                    Hierarchy::intervals(0, 99, &[10], None).unwrap(),
                    &mut rng,
                    rows,
                ),
            ],
            sensitive: None,
        };
        let mut search = Search::new(&table, Model::k_anonymity(3)).unwrap();
        let bottom = search.evaluate(&[0, 0]);
        let distinct: std::collections::HashSet<(u32, u32)> = (0..rows)
            .map(|r| (table.quasi[0].codes[r], table.quasi[1].codes[r]))
            .collect();
        assert_eq!(bottom.classes, distinct.len() as u64);
        let solution = search.run().unwrap();
        let applied = search.apply(&solution.node);
        let mut sizes: HashMap<(u32, u32), u64> = HashMap::new();
        for r in 0..rows {
            *sizes
                .entry((applied.codes[0][r], applied.codes[1][r]))
                .or_default() += 1;
        }
        assert_eq!(sizes.len() as u64, solution.verdict.classes);
        assert_eq!(sizes.values().sum::<u64>(), rows as u64);
        assert!(sizes.values().all(|&n| n >= 3));
    }

    #[test]
    fn bad_tables_are_refused() {
        let h = Hierarchy::intervals(0, 3, &[], None).unwrap();
        let table = Table {
            quasi: vec![Quasi {
                name: "a".into(),
                hierarchy: h,
                codes: vec![0, 9],
            }],
            sensitive: None,
        };
        assert_eq!(
            Search::new(&table, Model::k_anonymity(2)).err(),
            Some(SearchError::Unknown("a".into(), 2))
        );
        let mut model = Model::k_anonymity(2);
        model.diversity = Some(Diversity::Distinct(2));
        let ok = Table {
            quasi: vec![Quasi {
                name: "a".into(),
                hierarchy: Hierarchy::intervals(0, 3, &[], None).unwrap(),
                codes: vec![0, 1],
            }],
            sensitive: None,
        };
        assert_eq!(
            Search::new(&ok, model).err(),
            Some(SearchError::NoSensitive)
        );
        assert_eq!(
            Search::new(&ok, Model::k_anonymity(3)).unwrap().run().err(),
            Some(SearchError::Unsatisfiable(2))
        );
    }
}
