//! Privacy models: what every equivalence class of a release must satisfy.
//!
//! An equivalence class is the set of records that share every
//! quasi-identifier after generalization. A class that fails the model is
//! suppressed (its records withheld), up to the model's limit.

/// l-diversity of the sensitive attribute inside each class.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Diversity {
    /// At least `l` distinct values.
    Distinct(u32),
    /// The entropy of the values is at least ln(l).
    Entropy(f64),
    /// Recursive (c, l): the most frequent value occurs fewer than c times
    /// the sum of all but the l − 1 most frequent.
    Recursive {
        /// The factor c.
        c: f64,
        /// The l.
        l: u32,
    },
}

/// A privacy model.
#[derive(Debug, Clone, PartialEq)]
pub struct Model {
    /// Every class holds at least k records.
    pub k: u32,
    /// l-diversity of the sensitive attribute, if any.
    pub diversity: Option<Diversity>,
    /// t-closeness: each class's distribution of the sensitive attribute is
    /// within this earth mover's distance of the whole table's (equal
    /// ground distance for categories, ordered distance for ordered ones).
    pub closeness: Option<f64>,
    /// The share of records that may be suppressed, 0.0 to 1.0.
    pub max_suppression: f64,
}

impl Model {
    /// k-anonymity alone, with no suppression.
    pub fn k_anonymity(k: u32) -> Model {
        Model {
            k,
            diversity: None,
            closeness: None,
            max_suppression: 0.0,
        }
    }

    /// Whether the model needs a sensitive attribute.
    pub fn needs_sensitive(&self) -> bool {
        self.diversity.is_some() || self.closeness.is_some()
    }

    /// The criteria that hold for a union of classes whenever they hold
    /// for one of its parts (k, distinct l), so that a generalization of a
    /// passing node passes too, even with suppression. The search prunes
    /// with these.
    pub(crate) fn monotone_ok(&self, size: u64, distinct: u64) -> bool {
        size >= u64::from(self.k)
            && match self.diversity {
                Some(Diversity::Distinct(l)) => distinct >= u64::from(l),
                _ => true,
            }
    }

    /// Every criterion, for one class: `counts` are the frequencies of its
    /// sensitive values, `global` the whole table's share of each value
    /// (for t-closeness), `ordered` whether the values are ordered.
    pub(crate) fn class_ok(
        &self,
        size: u64,
        counts: &mut [(u32, u64)],
        global: &[f64],
        ordered: bool,
    ) -> bool {
        if !self.monotone_ok(size, counts.len() as u64) {
            return false;
        }
        if let Some(d) = self.diversity
            && !diverse(d, size, counts)
        {
            return false;
        }
        match self.closeness {
            Some(t) => distance(size, counts, global, ordered) <= t + 1e-12,
            None => true,
        }
    }
}

/// Whether a class's sensitive values are diverse enough.
fn diverse(d: Diversity, size: u64, counts: &mut [(u32, u64)]) -> bool {
    match d {
        Diversity::Distinct(l) => counts.len() as u64 >= u64::from(l),
        Diversity::Entropy(l) => entropy(size, counts) >= l.ln() - 1e-12,
        Diversity::Recursive { c, l } => {
            let l = l as usize;
            if l < 2 {
                return true;
            }
            if counts.len() < l {
                return false;
            }
            counts.sort_unstable_by_key(|x| std::cmp::Reverse(x.1));
            let tail: u64 = counts[l - 1..].iter().map(|x| x.1).sum();
            (counts[0].1 as f64) < c * tail as f64
        }
    }
}

/// Shannon entropy (natural log) of a class's sensitive values.
pub(crate) fn entropy(size: u64, counts: &[(u32, u64)]) -> f64 {
    counts
        .iter()
        .map(|&(_, n)| {
            let p = n as f64 / size as f64;
            -p * p.ln()
        })
        .sum()
}

/// Earth mover's distance between a class's distribution and the global
/// one. Equal ground distance: half the L1 distance. Ordered: the mean
/// absolute difference of the cumulative distributions, normalized by the
/// number of values − 1.
pub(crate) fn distance(size: u64, counts: &[(u32, u64)], global: &[f64], ordered: bool) -> f64 {
    let mut local = vec![0.0; global.len()];
    for &(v, n) in counts {
        local[v as usize] = n as f64 / size as f64;
    }
    if ordered {
        if global.len() < 2 {
            return 0.0;
        }
        let (mut cumulative, mut total) = (0.0, 0.0);
        for (p, q) in local.iter().zip(global) {
            cumulative += p - q;
            total += f64::abs(cumulative);
        }
        total / (global.len() - 1) as f64
    } else {
        local
            .iter()
            .zip(global)
            .map(|(p, q)| (p - q).abs())
            .sum::<f64>()
            / 2.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn model(diversity: Option<Diversity>, closeness: Option<f64>) -> Model {
        Model {
            k: 2,
            diversity,
            closeness,
            max_suppression: 0.0,
        }
    }

    #[test]
    fn k_and_distinct_l() {
        let m = model(Some(Diversity::Distinct(2)), None);
        assert!(m.class_ok(3, &mut [(0, 2), (1, 1)], &[], false));
        assert!(!m.class_ok(3, &mut [(0, 3)], &[], false), "one value");
        assert!(!m.class_ok(1, &mut [(0, 1)], &[], false), "below k");
    }

    #[test]
    fn entropy_l() {
        let m = model(Some(Diversity::Entropy(2.0)), None);
        // Two equally frequent values: entropy ln 2, exactly enough.
        assert!(m.class_ok(4, &mut [(0, 2), (1, 2)], &[], false));
        // 3 to 1: entropy below ln 2.
        assert!(!m.class_ok(4, &mut [(0, 3), (1, 1)], &[], false));
    }

    #[test]
    fn recursive_c_l() {
        // (c = 2, l = 2): the top count must stay below 2 × the rest.
        let m = model(Some(Diversity::Recursive { c: 2.0, l: 2 }), None);
        assert!(m.class_ok(5, &mut [(0, 3), (1, 2)], &[], false)); // 3 < 4
        assert!(!m.class_ok(6, &mut [(0, 4), (1, 2)], &[], false)); // 4 ≥ 4
        assert!(!m.class_ok(5, &mut [(0, 5)], &[], false));
    }

    #[test]
    fn closeness_equal_and_ordered() {
        let global = [0.5, 0.5];
        // A class of only the first value: L1/2 = 0.5.
        assert!((distance(2, &[(0, 2)], &global, false) - 0.5).abs() < 1e-12);
        let m = model(None, Some(0.4));
        assert!(!m.class_ok(2, &mut [(0, 2)], &global, false));
        assert!(m.class_ok(4, &mut [(0, 2), (1, 2)], &global, false));
        // Ordered over three values: all mass at the low end against a
        // uniform table: cumulative gaps 2/3, 1/3 over 2 steps = 0.5.
        let uniform = [1.0 / 3.0; 3];
        assert!((distance(3, &[(0, 3)], &uniform, true) - 0.5).abs() < 1e-9);
    }
}
