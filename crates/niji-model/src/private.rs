//! A differentially private gaussian model: OpenDP releases the model's
//! sufficient statistics — the sums of products of the clamped design and
//! response, `Σ z zᵀ` with `z = (1, x, y)` — as noisy sums under zCDP with
//! the person as privacy unit (niji-dp), and the least-squares fit is
//! post-processing of them (sufficient-statistics perturbation). Numeric
//! columns are clamped into bounds the researcher gives; a categorical
//! term's levels come from a public key set, never from the data.
//!
//! OpenDP offers no private estimator for logistic or Poisson models; those
//! families are refused here, with what to do instead.
//!
//! The standard errors add to the sampling variance of the noisy normal
//! equations the variance the noise itself causes, found by redrawing the
//! noise at its published scale (post-processing: no privacy cost).

use crate::ModelError;
use crate::design::{Kind, Place};
use crate::glm::{CONFIDENCE, Estimate};
use crate::spec::{Family, ModelSpec};
use ndarray::{Array1, Array2};
use ndarray_linalg::{InverseC, SolveC};
use niji_dp::{DpError, DpQuery, KeySets, Measure, Noise, Prepared, Rows};
use statrs::distribution::{ContinuousCDF, Normal};
use std::collections::BTreeMap;

/// Noise redraws for the standard errors.
const REDRAWS: usize = 400;

/// What a private model needs beside its spec.
#[derive(Debug, Clone, PartialEq)]
pub struct PrivateSpec {
    /// ρ (zCDP) to spend.
    pub rho: f64,
    /// Each numeric column's (the response's too) clamping bounds.
    pub bounds: BTreeMap<String, (f64, f64)>,
    /// Each categorical column's public key set (`policies/dp-keysets.toml`).
    pub keysets: BTreeMap<String, String>,
    /// Rows of one person kept (1 for a person table).
    pub max_rows_per_person: u32,
}

/// A private fit, as it may be released.
#[derive(Debug, Clone, PartialEq)]
pub struct PrivateFit {
    /// The intercept, then each design column's estimate.
    pub estimates: Vec<Estimate>,
    /// The noisy count of rows the statistics summed.
    pub observations: f64,
    /// The residual variance, from the noisy statistics.
    pub dispersion: f64,
    /// Each released statistic's noise.
    pub noise: Vec<Noise>,
    /// ρ charged.
    pub rho: f64,
}

/// A private model with its rows read, ready to release once its ρ is
/// debited.
pub struct PrivateRead {
    model: PreparedModel,
    categorical: Vec<Vec<String>>,
    numbers: Vec<Vec<f64>>,
    /// Rows of the table scanned.
    pub scanned: u64,
}

impl PrivateRead {
    /// The ρ its release costs.
    pub fn rho(&self) -> f64 {
        self.model.rho()
    }

    /// Runs the measurement and fits the model from its release.
    pub fn release(self) -> Result<PrivateFit, ModelError> {
        self.model.release(&self.categorical, &self.numbers)
    }
}

/// Prepares `spec`'s private model (refusing what it cannot measure before
/// anything is read), then reads at most `max_rows_per_person` rows of
/// each person of the granted table. Nothing is released or spent.
pub fn read_private(
    analysis: &niji_query::Analysis,
    spec: &ModelSpec,
    private: &PrivateSpec,
) -> Result<PrivateRead, ModelError> {
    let kinds = crate::plan(analysis, spec)?;
    let keysets = KeySets::builtin().map_err(dp_error)?;
    let model = PreparedModel::new(spec, &kinds, private, &keysets)?;
    let (texts, numbers) = crate::columns(spec, &kinds);
    let (data, scanned) =
        analysis.person_columns(&spec.table, &texts, &numbers, private.max_rows_per_person)?;
    // Refused here, before the caller debits ρ, not by the measurement.
    let rows = data.values.first().map_or(0, Vec::len);
    if rows > niji_dp::MAX_GROUP_LENGTH as usize {
        return Err(ModelError::Invalid(format!(
            "a private model reads at most {} rows; lower max_rows_per_person",
            niji_dp::MAX_GROUP_LENGTH
        )));
    }
    Ok(PrivateRead {
        model,
        categorical: data.keys,
        numbers: data.values,
        scanned,
    })
}

/// A private model ready to run: its measurement built, nothing read.
pub struct PreparedModel {
    places: Vec<Place>,
    /// Per categorical term (in the spec's order of categorical terms), its
    /// public levels.
    levels: Vec<Vec<String>>,
    /// Per numeric column read (the response first), its bounds.
    bounds: Vec<(f64, f64)>,
    kinds: Vec<Kind>,
    prepared: Prepared,
    /// Each product's divisor (its largest magnitude), in `products` order.
    widths: Vec<f64>,
}

impl PreparedModel {
    /// Checks the request and builds its measurement at the smallest noise
    /// scale that costs at most `private.rho`.
    pub fn new(
        spec: &ModelSpec,
        kinds: &[Kind],
        private: &PrivateSpec,
        keysets: &KeySets,
    ) -> Result<PreparedModel, ModelError> {
        if spec.family != Family::Gaussian {
            return Err(ModelError::Invalid(format!(
                "OpenDP offers no private estimator for a {} model; fit it without `dp`, under the rule set's checks, or model a gaussian response",
                spec.family.as_str()
            )));
        }
        let bound = |column: &str| -> Result<(f64, f64), ModelError> {
            let found = private
                .bounds
                .iter()
                .find(|(c, _)| c.eq_ignore_ascii_case(column))
                .map(|(_, b)| *b);
            match found {
                Some((lo, hi)) if lo.is_finite() && hi.is_finite() && lo < hi => Ok((lo, hi)),
                Some(_) => Err(ModelError::Invalid(format!(
                    "dp.bounds.{column}: lower < upper, both finite"
                ))),
                None => Err(ModelError::Invalid(format!(
                    "dp.bounds: give `{column}` its [lower, upper]: values are clamped into them, and they set the noise"
                ))),
            }
        };
        // A bound or key set for no column of the model is a mistake to
        // say, not to ignore.
        let numeric = |c: &str| {
            c.eq_ignore_ascii_case(&spec.response)
                || spec
                    .terms
                    .iter()
                    .zip(kinds)
                    .any(|(t, k)| *k == Kind::Numeric && t.column.eq_ignore_ascii_case(c))
        };
        let categorical = |c: &str| {
            spec.terms
                .iter()
                .zip(kinds)
                .any(|(t, k)| *k == Kind::Categorical && t.column.eq_ignore_ascii_case(c))
        };
        if let Some(c) = private.bounds.keys().find(|c| !numeric(c)) {
            return Err(ModelError::Invalid(format!(
                "dp.bounds.{c}: not the response or a numeric term of the model"
            )));
        }
        if let Some(c) = private.keysets.keys().find(|c| !categorical(c)) {
            return Err(ModelError::Invalid(format!(
                "dp.keysets.{c}: not a categorical term of the model"
            )));
        }
        let mut bounds = vec![bound(&spec.response)?];
        let mut places = Vec::new();
        let mut levels = Vec::new();
        for (term, kind) in spec.terms.iter().zip(kinds) {
            match kind {
                Kind::Numeric => {
                    bounds.push(bound(&term.column)?);
                    places.push(Place {
                        term: term.column.clone(),
                        level: None,
                    });
                }
                Kind::Categorical => {
                    let name = private
                        .keysets
                        .iter()
                        .find(|(c, _)| c.eq_ignore_ascii_case(&term.column))
                        .map(|(_, k)| k.as_str())
                        .ok_or_else(|| {
                            ModelError::Invalid(format!(
                                "dp.keysets: name the public key set of `{}` (its levels must not come from the data); known: {}",
                                term.column,
                                keysets.names().collect::<Vec<_>>().join(", ")
                            ))
                        })?;
                    let values = keysets.get(name).ok_or_else(|| {
                        ModelError::Invalid(format!("dp.keysets: no key set `{name}`"))
                    })?;
                    for level in values.iter().skip(1) {
                        places.push(Place {
                            term: term.column.clone(),
                            level: Some(level.clone()),
                        });
                    }
                    levels.push(values.to_vec());
                }
            }
        }
        if places.len() + 1 > crate::MAX_PARAMETERS {
            return Err(ModelError::Invalid(format!(
                "the model has more than {} parameters",
                crate::MAX_PARAMETERS
            )));
        }
        let ranges = ranges(&levels, &bounds, kinds);
        // Each product is divided by its largest magnitude before OpenDP
        // sums it, so that every sum has the same sensitivity and one noise
        // scale suits them all; the released sums are multiplied back.
        let mut widths = Vec::new();
        let measures = products(ranges.len())
            .map(|(i, j)| {
                let (lower, upper) = product_range(ranges[i], ranges[j], i == j);
                let width = lower.abs().max(upper.abs()).max(f64::MIN_POSITIVE);
                widths.push(width);
                Measure::Sum {
                    column: format!("z{i}_{j}"),
                    lower: lower / width,
                    upper: upper / width,
                }
            })
            .collect();
        let query = DpQuery {
            table: spec.table.clone(),
            group_by: Vec::new(),
            measures,
            rho: private.rho,
            max_rows_per_person: private.max_rows_per_person,
        };
        let prepared = Prepared::new(&query, keysets).map_err(dp_error)?;
        Ok(PreparedModel {
            places,
            levels,
            bounds,
            kinds: kinds.to_vec(),
            prepared,
            widths,
        })
    }

    /// The ρ it costs.
    pub fn rho(&self) -> f64 {
        self.prepared.rho()
    }

    /// Runs the measurement once on `rows` (the categorical columns as
    /// text; the response, then the numeric terms, as numbers; a missing
    /// number counts as 0, clamped) and fits the model from its release.
    pub fn release(
        self,
        categorical: &[Vec<String>],
        numbers: &[Vec<f64>],
    ) -> Result<PrivateFit, ModelError> {
        let n = numbers.first().map_or(0, Vec::len);
        let z = self.design(categorical, numbers, n);
        let width = z.len();
        let mut values = Vec::new();
        for ((i, j), w) in products(width).zip(&self.widths) {
            values.push((0..n).map(|r| z[i][r] * z[j][r] / w).collect::<Vec<f64>>());
        }
        let released = self
            .prepared
            .release(&Rows {
                keys: Vec::new(),
                values,
            })
            .map_err(dp_error)?;
        let sums: Vec<f64> = released
            .rows
            .first()
            .map(|(_, v)| v.iter().map(|x| x.unwrap_or(0.0)).collect::<Vec<f64>>())
            .unwrap_or_default()
            .iter()
            .zip(&self.widths)
            .map(|(sum, w)| sum * w)
            .collect();
        // Each sum's noise, by its name (`sum_zI_J`), on the data's scale.
        let noise: Vec<Noise> = products(width)
            .zip(&self.widths)
            .map(|((i, j), w)| {
                let name = format!("sum_z{i}_{j}");
                released
                    .noise
                    .iter()
                    .find(|n| n.column == name)
                    .map(|n| Noise {
                        scale: n.scale * w,
                        accuracy: n.accuracy * w,
                        ..n.clone()
                    })
                    .ok_or_else(|| ModelError::Fit(format!("no noise reported for {name}")))
            })
            .collect::<Result<_, _>>()?;
        let scales: Vec<f64> = noise.iter().map(|n| n.scale).collect();
        let mut s = Array2::<f64>::zeros((width, width));
        for ((i, j), v) in products(width).zip(&sums) {
            s[[i, j]] = *v;
            s[[j, i]] = *v;
        }
        let fit = solve(&s)?;
        let spread = noise_spread(&s, &scales, fit.beta.len())?;
        let places = std::iter::once(Place {
            term: "(Intercept)".into(),
            level: None,
        })
        .chain(self.places.iter().cloned());
        let q = Normal::standard().inverse_cdf(1.0 - (1.0 - CONFIDENCE) / 2.0);
        let estimates = places
            .zip(fit.beta.iter().zip(fit.std_errors.iter().zip(&spread)))
            .map(|(place, (&estimate, (&sampling, &noise)))| {
                let std_error = (sampling * sampling + noise * noise).sqrt();
                let statistic = estimate / std_error;
                Estimate {
                    place,
                    estimate,
                    std_error,
                    statistic,
                    p_value: 2.0 * Normal::standard().sf(statistic.abs()),
                    lower: estimate - q * std_error,
                    upper: estimate + q * std_error,
                }
            })
            .collect();
        Ok(PrivateFit {
            estimates,
            observations: s[[0, 0]],
            dispersion: fit.dispersion,
            noise,
            rho: released.rho,
        })
    }

    /// The clamped columns of `z = (1, x…, y)`, one vector per column.
    fn design(&self, categorical: &[Vec<String>], numbers: &[Vec<f64>], n: usize) -> Vec<Vec<f64>> {
        let clamp = |v: f64, (lo, hi): (f64, f64)| v.clamp(lo, hi);
        let mut z = vec![vec![1.0; n]];
        let (mut numeric, mut category) = (1, 0);
        for kind in &self.kinds {
            match kind {
                Kind::Numeric => {
                    let b = self.bounds[numeric];
                    z.push(numbers[numeric].iter().map(|&v| clamp(v, b)).collect());
                    numeric += 1;
                }
                Kind::Categorical => {
                    // A value outside the key set is in no level: the
                    // reference's row, as for any value not listed.
                    for level in self.levels[category].iter().skip(1) {
                        z.push(
                            categorical[category]
                                .iter()
                                .map(|v| f64::from(v == level))
                                .collect(),
                        );
                    }
                    category += 1;
                }
            }
        }
        z.push(
            numbers[0]
                .iter()
                .map(|&v| clamp(v, self.bounds[0]))
                .collect(),
        );
        z
    }
}

/// Each column's range: the intercept and indicators [0, 1] (a sum needs
/// lower < upper), numbers their bounds; the response last.
fn ranges(levels: &[Vec<String>], bounds: &[(f64, f64)], kinds: &[Kind]) -> Vec<(f64, f64)> {
    let mut out = vec![(0.0, 1.0)];
    let mut numeric = 1;
    let mut category = 0;
    for kind in kinds {
        match kind {
            Kind::Numeric => {
                out.push(bounds[numeric]);
                numeric += 1;
            }
            Kind::Categorical => {
                out.extend(std::iter::repeat_n((0.0, 1.0), levels[category].len() - 1));
                category += 1;
            }
        }
    }
    out.push(bounds[0]);
    out
}

/// The pairs (i ≤ j) of a symmetric matrix of `width` columns, in order.
fn products(width: usize) -> impl Iterator<Item = (usize, usize)> {
    (0..width).flat_map(move |i| (i..width).map(move |j| (i, j)))
}

/// The range of a product of values in `a` and `b` (of one value with
/// itself when `square`).
fn product_range(a: (f64, f64), b: (f64, f64), square: bool) -> (f64, f64) {
    let corners = [a.0 * b.0, a.0 * b.1, a.1 * b.0, a.1 * b.1];
    let lo = corners.iter().copied().fold(f64::INFINITY, f64::min);
    let hi = corners.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    if square && a.0 < 0.0 && a.1 > 0.0 {
        (0.0, hi)
    } else if square {
        (lo.max(0.0), hi)
    } else {
        (lo, hi)
    }
}

/// The least-squares fit from `S = Σ z zᵀ`.
struct Solved {
    beta: Array1<f64>,
    std_errors: Vec<f64>,
    dispersion: f64,
}

fn swamped() -> ModelError {
    ModelError::Refused(
        "the noise swamped the model's statistics (they are no longer a valid design): spend a larger ρ, narrow the bounds, or use fewer terms"
            .into(),
    )
}

/// The normal equations' parts of `S`: XᵀX, Xᵀy.
fn normal_equations(s: &Array2<f64>) -> (Array2<f64>, Array1<f64>) {
    let p = s.nrows() - 1;
    (
        s.slice(ndarray::s![..p, ..p]).to_owned(),
        s.slice(ndarray::s![..p, p]).to_owned(),
    )
}

/// The coefficients alone, or `None` when XᵀX is not positive definite.
fn coefficients(s: &Array2<f64>) -> Option<Array1<f64>> {
    let (xtx, xty) = normal_equations(s);
    xtx.solvec(&xty).ok()
}

fn solve(s: &Array2<f64>) -> Result<Solved, ModelError> {
    let p = s.nrows() - 1;
    let (xtx, xty) = normal_equations(s);
    let yty = s[[p, p]];
    let n = s[[0, 0]];
    let beta = coefficients(s).ok_or_else(swamped)?;
    let inverse = xtx.invc().map_err(|_| swamped())?;
    let rss = yty - 2.0 * beta.dot(&xty) + beta.dot(&xtx.dot(&beta));
    let df = n - p as f64;
    if !(df >= 1.0 && rss > 0.0) {
        return Err(swamped());
    }
    let dispersion = rss / df;
    let std_errors = (0..p)
        .map(|i| (dispersion * inverse[[i, i]]).max(0.0).sqrt())
        .collect();
    Ok(Solved {
        beta,
        std_errors,
        dispersion,
    })
}

/// How far the coefficients move when the noise is drawn again at its
/// published `scales`: each coefficient's standard deviation over the
/// redraws (redraws whose matrix is not a valid design are skipped).
fn noise_spread(
    s: &Array2<f64>,
    scales: &[f64],
    parameters: usize,
) -> Result<Vec<f64>, ModelError> {
    let width = s.nrows();
    // A fixed SplitMix64 stream: the redraws simulate the published noise
    // distribution to measure a spread, so they need to be reproducible,
    // not secret (the released noise came from OpenDP's secure source).
    let mut state: u64 = 0x6e69_6a69;
    let mut uniform = || {
        state = state.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = state;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        ((z ^ (z >> 31)) >> 11) as f64 / (1u64 << 53) as f64
    };
    let mut gaussian = || {
        let (u, v) = (uniform().max(1e-300), uniform());
        (-2.0 * u.ln()).sqrt() * (2.0 * std::f64::consts::PI * v).cos()
    };
    let mut draws: Vec<Array1<f64>> = Vec::with_capacity(REDRAWS);
    for _ in 0..REDRAWS {
        let mut t = s.clone();
        for ((i, j), scale) in products(width).zip(scales) {
            let e = scale * gaussian();
            t[[i, j]] += e;
            if i != j {
                t[[j, i]] += e;
            }
        }
        if let Some(beta) = coefficients(&t) {
            draws.push(beta);
        }
    }
    // Noise that often leaves no valid design makes the estimates
    // meaningless, whatever they happen to be this time.
    if draws.len() < REDRAWS * 9 / 10 {
        return Err(ModelError::Refused(
            "the noise swamped the model's statistics (redrawn at its scale, it often leaves no valid design): spend a larger ρ, narrow the bounds, or use fewer terms"
                .into(),
        ));
    }
    let m = draws.len() as f64;
    Ok((0..parameters)
        .map(|k| {
            let mean = draws.iter().map(|b| b[k]).sum::<f64>() / m;
            (draws.iter().map(|b| (b[k] - mean).powi(2)).sum::<f64>() / (m - 1.0)).sqrt()
        })
        .collect())
}

fn dp_error(e: DpError) -> ModelError {
    match e {
        DpError::Refused(reason) => ModelError::Invalid(reason),
        DpError::Measurement(reason) => ModelError::Fit(reason),
        DpError::Policy(reason) => ModelError::Fit(reason),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn private(rho: f64) -> PrivateSpec {
        PrivateSpec {
            rho,
            bounds: [("y".into(), (0.0, 100.0)), ("x".into(), (0.0, 10.0))].into(),
            keysets: [("sex".into(), "sex".into())].into(),
            max_rows_per_person: 1,
        }
    }

    fn spec(family: Family) -> ModelSpec {
        ModelSpec::from_formula(family, "persons", "y ~ x + sex").unwrap()
    }

    const KINDS: [Kind; 2] = [Kind::Numeric, Kind::Categorical];

    /// 20,000 persons: y = 20 + 3x + 10·[sex 2] + noise.
    fn rows() -> (Vec<Vec<String>>, Vec<Vec<f64>>, [f64; 3]) {
        let (mut sex, mut y, mut x) = (Vec::new(), Vec::new(), Vec::new());
        let mut state = 17u64;
        let mut next = || {
            state = state.wrapping_mul(6364136223846793005).wrapping_add(1);
            (state >> 11) as f64 / (1u64 << 53) as f64
        };
        for _ in 0..20_000 {
            let xi = (next() * 10.0).floor();
            let female = next() < 0.5;
            let e = (next() + next() + next() - 1.5) * 4.0;
            sex.push(if female { "2" } else { "1" }.to_owned());
            x.push(xi);
            y.push(20.0 + 3.0 * xi + if female { 10.0 } else { 0.0 } + e);
        }
        (vec![sex], vec![y, x], [20.0, 3.0, 10.0])
    }

    #[test]
    fn a_private_gaussian_model_finds_the_coefficients_within_its_errors() {
        let keysets = KeySets::builtin().unwrap();
        let model =
            PreparedModel::new(&spec(Family::Gaussian), &KINDS, &private(1.0), &keysets).unwrap();
        assert!(model.rho() <= 1.0 && model.rho() > 0.99, "{}", model.rho());
        let (categorical, numbers, truth) = rows();
        let fit = model.release(&categorical, &numbers).unwrap();
        let names: Vec<String> = fit.estimates.iter().map(|e| e.place.name()).collect();
        assert_eq!(names, ["(Intercept)", "x", "sex2"]);
        // The noise is OpenDP's, unseeded: four standard errors (the
        // noise's share included) fail one run in ten thousand per number.
        for (e, t) in fit.estimates.iter().zip(truth) {
            assert!(
                (e.estimate - t).abs() <= 4.0 * e.std_error,
                "{}: {e:?}",
                e.place.name()
            );
            assert!(e.std_error < 1.0, "{}: {e:?}", e.place.name());
        }
        assert!(
            (fit.observations - 20_000.0).abs() < 500.0,
            "{}",
            fit.observations
        );
        // One sum per pair of (1, x, sex2, y): 10 statistics, each with noise.
        assert_eq!(fit.noise.len(), 10);
    }

    #[test]
    fn what_opendp_cannot_estimate_privately_is_refused_with_what_to_do() {
        let keysets = KeySets::builtin().unwrap();
        let refused = |spec: &ModelSpec, private: &PrivateSpec| match PreparedModel::new(
            spec, &KINDS, private, &keysets,
        ) {
            Err(ModelError::Invalid(reason)) => reason,
            Err(other) => panic!("{other:?}"),
            Ok(_) => panic!("prepared"),
        };
        assert!(refused(&spec(Family::Binomial), &private(1.0)).contains("fit it without `dp`"));
        let mut no_bounds = private(1.0);
        no_bounds.bounds.remove("x");
        assert!(
            refused(&spec(Family::Gaussian), &no_bounds).contains("give `x` its [lower, upper]")
        );
        let mut stray = private(1.0);
        stray.bounds.insert("z".into(), (0.0, 1.0));
        assert!(refused(&spec(Family::Gaussian), &stray).contains("dp.bounds.z: not the response"));
        let mut no_keyset = private(1.0);
        no_keyset.keysets.clear();
        assert!(refused(&spec(Family::Gaussian), &no_keyset).contains("public key set of `sex`"));
    }
}
