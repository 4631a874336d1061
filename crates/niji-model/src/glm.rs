//! The fit: ndarray-glm's IRLS with the family's canonical link, an
//! intercept always, and Wald statistics and intervals from its covariance
//! (Fisher information times the dispersion, as R's `summary.glm`).

use crate::ModelError;
use crate::design::{Design, Place};
use crate::spec::Family;
use ndarray::{Array1, Array2};
use ndarray_glm::error::RegressionError;
use ndarray_glm::{Linear, Logistic, ModelBuilder, Poisson};
use statrs::distribution::{ContinuousCDF, Normal, StudentsT};

/// Confidence of the released intervals.
pub const CONFIDENCE: f64 = 0.95;

/// One coefficient's estimate.
#[derive(Debug, Clone, PartialEq)]
pub struct Estimate {
    /// Its term and level.
    pub place: Place,
    /// The estimate.
    pub estimate: f64,
    /// Its standard error.
    pub std_error: f64,
    /// estimate / standard error (t or z, per [`Fitted::statistic`]).
    pub statistic: f64,
    /// Two-sided p-value of that statistic.
    pub p_value: f64,
    /// Lower end of the Wald interval at [`CONFIDENCE`].
    pub lower: f64,
    /// Upper end of it.
    pub upper: f64,
}

/// A fitted model, as it may be released.
#[derive(Debug, Clone, PartialEq)]
pub struct Fitted {
    /// The family.
    pub family: Family,
    /// The intercept, then each design column's estimate.
    pub estimates: Vec<Estimate>,
    /// The residual deviance.
    pub deviance: f64,
    /// The intercept-only model's deviance.
    pub null_deviance: f64,
    /// Observations minus parameters.
    pub residual_df: u64,
    /// Observations minus one.
    pub null_df: u64,
    /// The dispersion (estimated for gaussian, 1 otherwise).
    pub dispersion: f64,
    /// Rows fitted.
    pub observations: u64,
    /// Persons those rows belong to.
    pub persons: u64,
    /// `t` (dispersion estimated) or `z`.
    pub statistic: &'static str,
    /// IRLS iterations.
    pub iterations: usize,
}

/// What the crate's fit gives, before statistics.
struct Raw {
    beta: Vec<f64>,
    std_errors: Vec<f64>,
    deviance: f64,
    null_deviance: f64,
    dispersion: f64,
    iterations: usize,
}

/// Builds and fits one family's model; ndarray-glm's traits are not
/// nameable outside it, so each family is spelled out by this macro.
macro_rules! fit_with {
    ($family:ty, $y:expr, $x:expr) => {{
        let y = $y;
        let model = ModelBuilder::<$family>::data(&y, $x)
            .build()
            .map_err(fit_error)?;
        let fit = model.fit().map_err(fit_error)?;
        let covariance = fit.covariance().map_err(fit_error)?;
        Raw {
            beta: fit.result.to_vec(),
            std_errors: covariance.diag().iter().map(|v| v.sqrt()).collect(),
            deviance: fit.deviance(),
            // D₀ = D + 2(ℓ − ℓ₀): the likelihood-ratio statistic against the
            // intercept-only model, on the deviance's scale.
            null_deviance: fit.deviance() + fit.lr_test(),
            dispersion: fit.dispersion(),
            iterations: fit.n_iter,
        }
    }};
}

/// Fits `family` to `response` over `design`.
pub fn fit(family: Family, response: &[f64], design: &Design) -> Result<Fitted, ModelError> {
    let x: &Array2<f64> = &design.x;
    let raw = match family {
        Family::Gaussian => fit_with!(Linear, Array1::from(response.to_vec()), x),
        Family::Binomial => {
            check_response(family, response)?;
            fit_with!(Logistic, Array1::from(response.to_vec()), x)
        }
        Family::Poisson => {
            check_response(family, response)?;
            let counts: Vec<u64> = response.iter().map(|&v| v as u64).collect();
            fit_with!(Poisson, Array1::from(counts), x)
        }
    };
    let observations = response.len() as u64;
    let parameters = raw.beta.len() as u64;
    let residual_df = observations.saturating_sub(parameters);
    let quantile = Quantile::new(family, residual_df)?;
    let mut places = vec![Place {
        term: "(Intercept)".into(),
        level: None,
    }];
    places.extend(design.places.iter().cloned());
    let estimates = places
        .into_iter()
        .zip(raw.beta.iter().zip(&raw.std_errors))
        .map(|(place, (&estimate, &std_error))| {
            if !(estimate.is_finite() && std_error.is_finite() && std_error > 0.0) {
                return Err(collinear());
            }
            let statistic = estimate / std_error;
            let half = quantile.q * std_error;
            Ok(Estimate {
                place,
                estimate,
                std_error,
                statistic,
                p_value: quantile.two_sided(statistic),
                lower: estimate - half,
                upper: estimate + half,
            })
        })
        .collect::<Result<Vec<_>, _>>()?;
    Ok(Fitted {
        family,
        estimates,
        deviance: raw.deviance,
        null_deviance: raw.null_deviance,
        residual_df,
        null_df: observations.saturating_sub(1),
        dispersion: raw.dispersion,
        observations,
        persons: design.person_count as u64,
        statistic: if family.estimates_dispersion() {
            "t"
        } else {
            "z"
        },
        iterations: raw.iterations,
    })
}

/// Refuses a response its family does not take: a binomial one holds 0
/// and 1 (or false and true), a poisson one counts.
pub fn check_response(family: Family, response: &[f64]) -> Result<(), ModelError> {
    let (ok, what): (fn(f64) -> bool, &str) = match family {
        Family::Gaussian => return Ok(()),
        Family::Binomial => (
            |v| v == 0.0 || v == 1.0,
            "a binomial response holds 0 and 1 (or false and true) only",
        ),
        Family::Poisson => (
            |v| v >= 0.0 && v.fract() == 0.0 && v < 2f64.powi(53),
            "a poisson response holds counts (0, 1, 2, …) only",
        ),
    };
    if response.iter().all(|&v| ok(v)) {
        Ok(())
    } else {
        Err(ModelError::Invalid(what.into()))
    }
}

/// The statistic's distribution: Student's t on the residual degrees of
/// freedom when the dispersion is estimated, else the standard normal.
struct Quantile {
    t: Option<StudentsT>,
    normal: Normal,
    q: f64,
}

impl Quantile {
    fn new(family: Family, residual_df: u64) -> Result<Quantile, ModelError> {
        let internal = |e: statrs::distribution::StudentsTError| ModelError::Fit(e.to_string());
        let normal = Normal::standard();
        let t = if family.estimates_dispersion() {
            Some(StudentsT::new(0.0, 1.0, residual_df as f64).map_err(internal)?)
        } else {
            None
        };
        let p = 1.0 - (1.0 - CONFIDENCE) / 2.0;
        let q = match &t {
            Some(t) => t.inverse_cdf(p),
            None => normal.inverse_cdf(p),
        };
        Ok(Quantile { t, normal, q })
    }

    fn two_sided(&self, statistic: f64) -> f64 {
        let tail = match &self.t {
            Some(t) => t.sf(statistic.abs()),
            None => self.normal.sf(statistic.abs()),
        };
        2.0 * tail
    }
}

fn collinear() -> ModelError {
    ModelError::Invalid(
        "the terms are collinear (a term, or a level, is a combination of the others): leave one out"
            .into(),
    )
}

/// The crate's errors, without the values some of them quote.
fn fit_error(e: RegressionError<f64>) -> ModelError {
    match e {
        RegressionError::LinalgError { .. } => collinear(),
        RegressionError::MaxIter { n_iter, .. } => ModelError::Invalid(format!(
            "the fit did not converge in {n_iter} iterations (a term may separate the outcomes perfectly); use fewer terms or merge levels"
        )),
        RegressionError::InvalidY(_) => {
            ModelError::Invalid("the response holds values its family does not take".into())
        }
        RegressionError::BadInput(_) | RegressionError::BuildError(_) => {
            ModelError::Fit("the design could not be built".into())
        }
    }
}
