//! Models read from a release through the analysis sandbox: rows left out
//! for a missing value are the difference between two models, so the
//! persons they belong to must be none or at least the cell minimum.

use niji_model::{Family, ModelError, ModelSpec};
use niji_query::{Analysis, GrantedTable, Limits, RuleSet};
use std::path::{Path, PathBuf};

/// A single-file release of 300 persons: age, sex and a response `y`
/// that `missing` of them lack.
fn release(dir: &Path, missing: u32) -> PathBuf {
    let path = dir.join(format!("model-{missing}.duckdb"));
    let conn = duckdb::Connection::open(&path).unwrap();
    conn.execute_batch(&format!(
        "CREATE TABLE persons AS SELECT
             translate(md5('person ' || i), '0123456789abcdef', 'abcdefghijklmnop') AS pseudonym,
             20 + i % 60 AS age,
             CASE WHEN i % 2 = 0 THEN '1' ELSE '2' END AS sex,
             CASE WHEN i < {missing} THEN NULL ELSE 50.0 + (i % 60) * 0.5 + (i % 7) END AS y
         FROM range(300) t(i);"
    ))
    .unwrap();
    path
}

fn fit(path: &Path) -> Result<niji_model::Outcome, ModelError> {
    let analysis = Analysis::new(
        vec![GrantedTable {
            view: "persons".into(),
            release: "test".into(),
            path: path.to_owned(),
            table: "persons".into(),
            columns: vec!["age".into(), "sex".into(), "y".into()],
        }],
        Limits::default(),
    );
    let rules = RuleSet::builtin().unwrap()["ndb"].clone();
    let spec = ModelSpec::from_formula(Family::Gaussian, "persons", "y ~ age + sex").unwrap();
    niji_model::fit(&analysis, &spec, &rules)
}

#[test]
fn rows_left_out_for_a_few_persons_are_refused_and_many_are_not() {
    let dir = tempfile::tempdir().unwrap();
    let complete = fit(&release(dir.path(), 0)).unwrap();
    assert_eq!(
        (complete.model.observations, complete.model.persons),
        (300, 300)
    );
    match fit(&release(dir.path(), 3)) {
        Err(ModelError::Refused(reason)) => assert!(
            reason.contains("fewer than 10 persons have rows without a value"),
            "{reason}"
        ),
        other => panic!("3 persons left out: {other:?}"),
    }
    let twelve = fit(&release(dir.path(), 12)).unwrap();
    assert_eq!(twelve.model.observations, 288);
}
