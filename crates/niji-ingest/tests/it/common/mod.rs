//! Helpers shared by the ingest tests: walking a directory, and the
//! identifiers of a synthetic population as they could appear in a file.

#![allow(dead_code)]

use std::collections::{BTreeSet, HashMap};
use std::path::{Path, PathBuf};

/// Every file under `dir`, in name order, appended to `out`.
pub fn files_under(dir: &Path, out: &mut Vec<PathBuf>) {
    let mut entries: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    entries.sort();
    for path in entries {
        if path.is_dir() {
            files_under(&path, out);
        } else {
            out.push(path);
        }
    }
}

/// The identifiers of the truth files, as they could appear in a file.
pub fn identifiers(out: &Path) -> Vec<String> {
    let rows = |name: &str| {
        let mut reader = csv::Reader::from_path(out.join("truth").join(name)).unwrap();
        let header = reader.headers().unwrap().clone();
        reader
            .records()
            .map(|r| {
                let r = r.unwrap();
                header
                    .iter()
                    .zip(r.iter())
                    .map(|(h, v)| (h.to_owned(), v.to_owned()))
                    .collect()
            })
            .collect::<Vec<HashMap<String, String>>>()
    };
    let mut out_ids = BTreeSet::new();
    for n in rows("names.csv") {
        out_ids.insert(format!("{}{}", n["family_kanji"], n["given_kanji"]));
        out_ids.insert(format!("{} {}", n["family_kanji"], n["given_kanji"]));
        out_ids.insert(format!("{}{}", n["family_kana"], n["given_kana"]));
        out_ids.insert(format!("{}　{}", n["family_kana"], n["given_kana"]));
    }
    for s in rows("insurance.csv") {
        if s["number"].len() >= 6 {
            out_ids.insert(s["number"].clone());
        }
        out_ids.insert(format!(
            "{}{}{}",
            s["insurer_number"], s["symbol"], s["number"]
        ));
        out_ids.insert(format!(
            "{}:{}:{}",
            s["insurer_number"], s["symbol"], s["number"]
        ));
        out_ids.insert(format!(
            "{},{},{}",
            s["insurer_number"], s["symbol"], s["number"]
        ));
    }
    out_ids.into_iter().collect()
}
