//! The fit against R's `glm` on the same synthetic data, to 1e-6, for each
//! family; and each disclosure check refusing the case made to fail it.
//! R (`Rscript`, Debian's r-base-core) is installed by `.ci/run`.

use niji_model::{Family, Kind, ModelError, ModelSpec, Observations, fit_rows};
use niji_query::RuleSet;
use std::process::Command;

/// A small deterministic generator (the test needs the same data each run,
/// not good randomness).
struct Lcg(u64);

impl Lcg {
    fn next(&mut self) -> f64 {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (self.0 >> 11) as f64 / (1u64 << 53) as f64
    }

    fn normal(&mut self) -> f64 {
        let (u, v) = (self.next().max(1e-12), self.next());
        (-2.0 * u.ln()).sqrt() * (2.0 * std::f64::consts::PI * v).cos()
    }

    fn poisson(&mut self, mean: f64) -> f64 {
        // Knuth's method: fine for the small means here.
        let (limit, mut k, mut p) = ((-mean).exp(), 0.0, 1.0);
        loop {
            p *= self.next();
            if p <= limit {
                return k;
            }
            k += 1.0;
        }
    }
}

/// 600 rows of 400 persons (some with two rows): age, sex, a region of
/// three levels, and a response of `family` driven by them.
fn data(family: Family) -> Observations {
    let mut rng = Lcg(7 + family as u64);
    let mut obs = Observations {
        numeric: vec![Vec::new()],
        categorical: vec![Vec::new(), Vec::new()],
        ..Default::default()
    };
    for i in 0..600 {
        let age = 20.0 + (rng.next() * 60.0).floor();
        let male = rng.next() < 0.5;
        let region = ["kanto", "kinki", "tohoku"][(rng.next() * 3.0) as usize];
        let eta = -1.0
            + 0.02 * age
            + if male { 0.4 } else { 0.0 }
            + match region {
                "kinki" => 0.3,
                "tohoku" => -0.2,
                _ => 0.0,
            };
        let y = match family {
            Family::Gaussian => 50.0 + 10.0 * eta + 4.0 * rng.normal(),
            Family::Binomial => f64::from(rng.next() < 1.0 / (1.0 + (-eta).exp())),
            Family::Poisson => rng.poisson(eta.exp()),
        };
        obs.persons.push(format!("p{}", i % 400));
        obs.response.push(y);
        obs.numeric[0].push(age);
        obs.categorical[0].push(if male { "M" } else { "F" }.into());
        obs.categorical[1].push(region.into());
    }
    obs
}

fn spec(family: Family) -> (ModelSpec, Vec<Kind>) {
    let spec = ModelSpec::from_formula(family, "persons", "y ~ age + sex + region").unwrap();
    (
        spec,
        vec![Kind::Numeric, Kind::Categorical, Kind::Categorical],
    )
}

fn ndb() -> RuleSet {
    RuleSet::builtin().unwrap()["ndb"].clone()
}

/// R's fit of the same rows: name → (estimate, standard error), and the
/// model's deviance, null deviance, residual df and dispersion.
struct Reference {
    coefficients: Vec<(String, f64, f64)>,
    deviance: f64,
    null_deviance: f64,
    residual_df: f64,
    dispersion: f64,
}

fn r_glm(family: Family, obs: &Observations) -> Reference {
    let dir = tempfile::tempdir().unwrap();
    let csv = dir.path().join("data.csv");
    let mut text = String::from("y,age,sex,region\n");
    for i in 0..obs.response.len() {
        text += &format!(
            "{:.17},{},{},{}\n",
            obs.response[i], obs.numeric[0][i], obs.categorical[0][i], obs.categorical[1][i]
        );
    }
    std::fs::write(&csv, text).unwrap();
    // Levels in byte order (the C locale), as niji orders them; a tight
    // convergence so that R's own rounding is far below the tolerance.
    let script = format!(
        r#"d <- read.csv("{}", stringsAsFactors = FALSE)
for (v in c("sex", "region")) d[[v]] <- factor(d[[v]], levels = sort(unique(d[[v]]), method = "radix"))
m <- glm(y ~ age + sex + region, data = d, family = {}, control = glm.control(epsilon = 1e-14, maxit = 100))
s <- summary(m)
co <- s$coefficients
for (i in seq_len(nrow(co))) cat(sprintf("coef\t%s\t%.17g\t%.17g\n", rownames(co)[i], co[i, 1], co[i, 2]))
cat(sprintf("deviance\t%.17g\nnull\t%.17g\ndf\t%.17g\ndispersion\t%.17g\n", m$deviance, m$null.deviance, m$df.residual, s$dispersion))
"#,
        csv.display(),
        family.as_str()
    );
    let out = Command::new("Rscript")
        .args(["--vanilla", "-e", &script])
        .output()
        .expect("Rscript (r-base-core) is installed by .ci/run");
    assert!(
        out.status.success(),
        "R failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let mut r = Reference {
        coefficients: Vec::new(),
        deviance: f64::NAN,
        null_deviance: f64::NAN,
        residual_df: f64::NAN,
        dispersion: f64::NAN,
    };
    for line in String::from_utf8(out.stdout).unwrap().lines() {
        let f: Vec<&str> = line.split('\t').collect();
        let num = |s: &str| s.parse::<f64>().unwrap();
        match f[0] {
            "coef" => r.coefficients.push((f[1].into(), num(f[2]), num(f[3]))),
            "deviance" => r.deviance = num(f[1]),
            "null" => r.null_deviance = num(f[1]),
            "df" => r.residual_df = num(f[1]),
            "dispersion" => r.dispersion = num(f[1]),
            _ => {}
        }
    }
    r
}

fn close(what: &str, ours: f64, theirs: f64) {
    let tolerance = 1e-6 * theirs.abs().max(1.0);
    assert!(
        (ours - theirs).abs() <= tolerance,
        "{what}: niji {ours} vs R {theirs}"
    );
}

fn matches_r(family: Family) {
    let obs = data(family);
    let (spec, kinds) = spec(family);
    let ours = fit_rows(&spec, &kinds, &obs, &ndb()).unwrap();
    let r = r_glm(family, &obs);
    assert_eq!(ours.estimates.len(), r.coefficients.len());
    for (e, (name, estimate, se)) in ours.estimates.iter().zip(&r.coefficients) {
        assert_eq!(&e.place.name(), name);
        close(&format!("{name} estimate"), e.estimate, *estimate);
        close(&format!("{name} standard error"), e.std_error, *se);
        assert!(e.lower < e.estimate && e.estimate < e.upper);
    }
    close("deviance", ours.deviance, r.deviance);
    close("null deviance", ours.null_deviance, r.null_deviance);
    close("dispersion", ours.dispersion, r.dispersion);
    assert_eq!(ours.residual_df as f64, r.residual_df);
    assert_eq!((ours.observations, ours.persons), (600, 400));
}

#[test]
fn a_gaussian_model_matches_r() {
    matches_r(Family::Gaussian);
}

#[test]
fn a_binomial_model_matches_r() {
    matches_r(Family::Binomial);
}

#[test]
fn a_poisson_model_matches_r() {
    matches_r(Family::Poisson);
}

fn refused(obs: &Observations, family: Family, formula: &str, kinds: &[Kind], check: &str) {
    let spec = ModelSpec::from_formula(family, "persons", formula).unwrap();
    match fit_rows(&spec, kinds, obs, &ndb()) {
        Err(ModelError::Refused(reason)) => assert!(reason.contains(check), "{reason}"),
        other => panic!("expected the `{check}` refusal, got {other:?}"),
    }
}

#[test]
fn rows_of_too_few_persons_are_refused() {
    // 600 rows, but of 9 persons.
    let mut obs = data(Family::Gaussian);
    for (i, p) in obs.persons.iter_mut().enumerate() {
        *p = format!("p{}", i % 9);
    }
    let (_, kinds) = spec(Family::Gaussian);
    refused(
        &obs,
        Family::Gaussian,
        "y ~ age + sex + region",
        &kinds,
        "fewer than 10 persons",
    );
}

#[test]
fn a_level_of_few_persons_is_refused() {
    // Nine persons (in 12 rows) live in a fourth region.
    let mut obs = data(Family::Gaussian);
    for i in 0..12 {
        obs.categorical[1][i * 3] = "okinawa".into();
        obs.persons[i * 3] = format!("p{}", i % 9);
    }
    let (_, kinds) = spec(Family::Gaussian);
    refused(
        &obs,
        Family::Gaussian,
        "y ~ age + sex + region",
        &kinds,
        "term `region`: a level is held by fewer than 10 persons",
    );
}

#[test]
fn a_level_whose_persons_share_one_outcome_is_refused() {
    // Every person of the kinki region has the outcome.
    let mut obs = data(Family::Binomial);
    for i in 0..obs.response.len() {
        if obs.categorical[1][i] == "kinki" {
            obs.response[i] = 1.0;
        }
    }
    let (_, kinds) = spec(Family::Binomial);
    refused(
        &obs,
        Family::Binomial,
        "y ~ age + sex + region",
        &kinds,
        "term `region`: in a level, fewer than 10 persons have one of the outcomes",
    );
}

#[test]
fn a_numeric_term_few_persons_depart_from_is_refused() {
    // Age is 50 for everyone but 9 persons: a level in disguise.
    let mut obs = data(Family::Gaussian);
    for (i, age) in obs.numeric[0].iter_mut().enumerate() {
        *age = if i % 400 < 9 { 70.0 } else { 50.0 };
    }
    let (_, kinds) = spec(Family::Gaussian);
    refused(
        &obs,
        Family::Gaussian,
        "y ~ age + sex + region",
        &kinds,
        "term `age`: fewer than 10 persons hold a value other than its most common one",
    );
    // Ten persons are enough.
    for (i, age) in obs.numeric[0].iter_mut().enumerate() {
        *age = if i % 400 < 10 { 70.0 } else { 50.0 };
    }
    let spec =
        ModelSpec::from_formula(Family::Gaussian, "persons", "y ~ age + sex + region").unwrap();
    assert!(fit_rows(&spec, &kinds, &obs, &ndb()).is_ok());
}

/// `rows` rows of as many persons and `terms` numeric terms.
fn numeric_only(rows: usize, terms: usize) -> (Observations, Vec<Kind>, String) {
    let mut rng = Lcg(11);
    let obs = Observations {
        persons: (0..rows).map(|i| format!("p{i}")).collect(),
        response: (0..rows).map(|_| rng.normal()).collect(),
        numeric: (0..terms)
            .map(|_| (0..rows).map(|_| rng.normal()).collect())
            .collect(),
        categorical: Vec::new(),
    };
    let names: Vec<String> = (0..terms).map(|t| format!("x{t}")).collect();
    (
        obs,
        vec![Kind::Numeric; terms],
        format!("y ~ {}", names.join(" + ")),
    )
}

#[test]
fn a_nearly_saturated_model_is_refused() {
    // 11 parameters on 30 observations: 0.37 per observation, above the
    // 0.33 allowed, though 19 residual degrees of freedom would pass.
    let (obs, kinds, formula) = numeric_only(30, 10);
    refused(&obs, Family::Gaussian, &formula, &kinds, "nearly saturated");
    // The same terms on 40 observations are fitted.
    let (obs, kinds, formula) = numeric_only(40, 10);
    let spec = ModelSpec::from_formula(Family::Gaussian, "persons", &formula).unwrap();
    assert!(fit_rows(&spec, &kinds, &obs, &ndb()).is_ok());
}

#[test]
fn too_few_residual_degrees_of_freedom_are_refused() {
    // 4 parameters on 13 observations: 9 residual degrees of freedom
    // (0.31 parameters per observation passes the saturation check).
    let (obs, kinds, formula) = numeric_only(13, 3);
    refused(
        &obs,
        Family::Gaussian,
        &formula,
        &kinds,
        "residual degrees of freedom below 10",
    );
    let (obs, kinds, formula) = numeric_only(14, 3);
    let spec = ModelSpec::from_formula(Family::Gaussian, "persons", &formula).unwrap();
    assert!(fit_rows(&spec, &kinds, &obs, &ndb()).is_ok());
}
