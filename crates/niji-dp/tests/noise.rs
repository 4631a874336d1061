//! The noise OpenDP adds is what the release reports: many releases of
//! known counts, their errors divided by the reported scale, tested
//! against the standard normal with Kolmogorov–Smirnov.

use niji_dp::{DpQuery, GroupKey, KeySets, Measure, Prepared, Rows};

/// Φ, the standard normal CDF (Abramowitz and Stegun 7.1.26, |error| <
/// 1.5e-7).
fn phi(x: f64) -> f64 {
    let z = x.abs() / std::f64::consts::SQRT_2;
    let t = 1.0 / (1.0 + 0.327_591_1 * z);
    let poly = t
        * (0.254_829_592
            + t * (-0.284_496_736
                + t * (1.421_413_741 + t * (-1.453_152_027 + t * 1.061_405_429))));
    let erf = 1.0 - poly * (-z * z).exp();
    if x >= 0.0 {
        0.5 * (1.0 + erf)
    } else {
        0.5 * (1.0 - erf)
    }
}

fn query(rho: f64) -> DpQuery {
    DpQuery {
        table: "persons".into(),
        group_by: vec![GroupKey {
            column: "sex".into(),
            keyset: "sex".into(),
        }],
        measures: vec![Measure::Count],
        rho,
        max_rows_per_person: 1,
    }
}

/// 1000 rows of sex 1, 400 of sex 2, 7 of an undeclared value.
fn rows() -> Rows {
    let mut sex = vec!["1".to_owned(); 1000];
    sex.extend(vec!["2".to_owned(); 400]);
    sex.extend(vec!["9".to_owned(); 7]);
    Rows {
        keys: vec![sex],
        values: Vec::new(),
    }
}

#[test]
fn count_noise_follows_the_reported_gaussian_scale() {
    let keysets = KeySets::builtin().unwrap();
    // ρ = 1/(2σ²): σ ≈ 31.6, wide enough that integer noise is close to
    // its continuous law.
    let rho = 0.0005;
    let data = rows();
    let mut errors = Vec::new();
    let mut scale = 0.0;
    for _ in 0..300 {
        let prepared = Prepared::new(&query(rho), &keysets).unwrap();
        assert!(prepared.rho() <= rho);
        let released = prepared.release(&data).unwrap();
        scale = released.noise[0].scale;
        assert_eq!(released.columns, ["sex", "count"]);
        // Only the declared keys, each once, the undeclared one left out.
        let keys: Vec<&str> = released.rows.iter().map(|r| r.0[0].as_str()).collect();
        assert_eq!(keys, ["1", "2"]);
        for (keys, values) in &released.rows {
            let truth = if keys[0] == "1" { 1000.0 } else { 400.0 };
            errors.push((values[0].unwrap() - truth) / scale);
        }
    }
    let sigma = (1.0 / (2.0 * rho)).sqrt();
    assert!(
        (scale - sigma).abs() / sigma < 0.01,
        "scale {scale}, σ {sigma}"
    );
    errors.sort_by(f64::total_cmp);
    let n = errors.len() as f64;
    let d = errors
        .iter()
        .enumerate()
        .map(|(i, &x)| {
            let f = phi(x);
            (f - i as f64 / n).abs().max(((i + 1) as f64 / n - f).abs())
        })
        .fold(0.0, f64::max);
    // α = 0.001: D must stay under 1.95/√n.
    let critical = 1.95 / n.sqrt();
    eprintln!("KS D = {d:.4} (critical {critical:.4}) over {n} draws, σ = {scale:.2}");
    assert!(d < critical, "KS D = {d} ≥ {critical}");
    let mean = errors.iter().sum::<f64>() / n;
    assert!(mean.abs() < 4.0 / n.sqrt(), "mean error {mean}");
}

#[test]
fn the_reported_accuracy_is_the_95_percent_half_width() {
    let keysets = KeySets::builtin().unwrap();
    for rho in [0.02, 0.001] {
        let prepared = Prepared::new(&query(rho), &keysets).unwrap();
        let noise = prepared.noise().unwrap();
        assert_eq!(noise[0].distribution, "Integer Gaussian");
        // The discrete Gaussian of the reported scale: the accuracy a is the
        // smallest with P(|X| < a) ≥ 95%.
        let sigma = noise[0].scale;
        let mass = |k: i64| (-((k * k) as f64) / (2.0 * sigma * sigma)).exp();
        let total: f64 = (-2000..=2000).map(mass).sum();
        let within = |a: i64| (-(a - 1)..a).map(mass).sum::<f64>() / total;
        let a = noise[0].accuracy as i64;
        assert!(within(a) >= 0.95 && within(a - 1) < 0.95, "{noise:?}");
    }
}

/// A count with nothing to count by is refused, not answered with the
/// noise around zero an empty frame would give.
#[test]
fn a_count_with_no_column_is_refused() {
    let mut q = query(0.1);
    q.group_by.clear();
    let err = Prepared::new(&q, &KeySets::builtin().unwrap())
        .err()
        .unwrap();
    assert!(err.to_string().contains("group-by key"), "{err}");
}
