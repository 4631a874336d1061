//! The real JP-CLINS examples (../shared/fixtures/fhir/jp-clins, CC BY-ND,
//! read unmodified where they lie): Bundles ingest, every other example
//! passes the checks, and each `*ErrorExample*` is rejected for the reason
//! its own note gives.

use niji_ingest::{Options, Staging, Status, check_file, ingest_file};
use niji_linkage::Tokenizer;
use std::path::PathBuf;

fn fixtures() -> Vec<(PathBuf, String)> {
    let dir =
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared/fixtures/fhir/jp-clins");
    let mut files: Vec<(PathBuf, String)> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "json"))
        .map(|p| {
            let name = p.file_name().unwrap().to_string_lossy().into_owned();
            (p, name)
        })
        .collect();
    files.sort();
    assert!(files.len() >= 60, "{}", files.len());
    files
}

fn tokenizer() -> Tokenizer {
    Tokenizer::new(ring::hmac::Key::new(ring::hmac::HMAC_SHA256, &[9; 32]))
}

#[test]
fn the_bundle_examples_ingest() {
    let dir = tempfile::tempdir().unwrap();
    let mut staging = Staging::open(dir.path()).unwrap();
    let bundles: Vec<_> = fixtures()
        .into_iter()
        .filter(|(_, n)| n.starts_with("Bundle-"))
        .collect();
    assert_eq!(bundles.len(), 4);
    for (path, name) in bundles {
        let out = ingest_file(
            &mut staging,
            &tokenizer(),
            &path,
            &name,
            &Options::default(),
        )
        .unwrap();
        assert!(
            matches!(out.status, Status::Ingested { .. }),
            "{name}: {:?}",
            out.status
        );
        assert_eq!(out.records, 1, "{name}");
        assert!(out.rejects.is_empty(), "{name}: {:?}", out.rejects);
    }
    let diagnoses: i64 = staging
        .connection()
        .query_row(
            "SELECT count(*) FROM diagnoses WHERE source = 'fhir'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert!(diagnoses >= 7, "{diagnoses}");
    // The Patient's address keeps only its prefecture (高知県 → 39).
    let prefectures: Vec<Option<String>> = {
        let mut stmt = staging
            .connection()
            .prepare("SELECT prefecture FROM subjects WHERE source = 'fhir' ORDER BY batch_id")
            .unwrap();
        stmt.query_map([], |r| r.get(0))
            .unwrap()
            .map(Result::unwrap)
            .collect()
    };
    assert!(
        prefectures.contains(&Some("39".to_owned())),
        "{prefectures:?}"
    );
    assert!(
        prefectures.iter().flatten().all(|p| p == "39"),
        "{prefectures:?}"
    );
}

#[test]
fn every_other_example_passes_its_checks() {
    for (path, name) in fixtures()
        .into_iter()
        .filter(|(_, n)| !n.contains("ErrorExample"))
    {
        let out = check_file(&tokenizer(), &path, &name).unwrap();
        assert_eq!(out.status, Status::Checked, "{name}");
        assert!(out.rejects.is_empty(), "{name}: {:?}", out.rejects);
    }
}

#[test]
fn each_error_example_is_rejected_for_its_noted_reason() {
    let expected = [
        (
            "MedicationRequest-ErrorExample-JP-MedReq-ExtEye-Total1.json",
            "no YJ code, general-name code",
        ),
        (
            "MedicationRequest-ErrorExample-JP-MedReq-PO-SID-28days.json",
            "lists that display under 1124030F2ZZZ",
        ),
        (
            "Observation-ErrorExample-ObsLabo-eGFR.json",
            "needs its local code",
        ),
    ];
    for (file, reason) in expected {
        let (path, name) = fixtures().into_iter().find(|(_, n)| n == file).unwrap();
        let out = check_file(&tokenizer(), &path, &name).unwrap();
        let texts: Vec<String> = out.rejects.iter().map(ToString::to_string).collect();
        assert_eq!(texts.len(), 1, "{name}: {texts:?}");
        assert!(texts[0].contains(reason), "{name}: {texts:?}");
    }
}
