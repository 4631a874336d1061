//! The source files of a 10,000-person run, read back with independent
//! readers — encoding_rs and csv for the UKE claims, zip and quick-xml for the CDA
//! checkups — checked for structure, tied to the truth, and measured for
//! the documented notation noise and the clinical story.

use chrono::NaiveDate;
use niji_synth::Noise;
use std::collections::HashMap;
use std::path::Path;
use std::sync::OnceLock;

use crate::common::{
    Run, files_under, generate_shared_run, insurers_by_person, line_of, persons_by_id,
    records_under,
};

fn run() -> &'static Run {
    static RUN: OnceLock<Run> = OnceLock::new();
    RUN.get_or_init(|| generate_shared_run("synth-sources", 10_000, 11))
}

/// A decoded claim file: its records as fields.
fn read_uke(path: &Path) -> Vec<Vec<String>> {
    let bytes = std::fs::read(path).unwrap();
    assert!(
        bytes.ends_with(b"\r\n"),
        "{}: no final CRLF",
        path.display()
    );
    let (text, had_errors) = encoding_rs::SHIFT_JIS.decode_without_bom_handling(&bytes);
    assert!(!had_errors, "{}: not Shift_JIS", path.display());
    assert_eq!(
        text.matches("\r\n").count(),
        text.matches('\n').count(),
        "{}: a line without CR",
        path.display()
    );
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .terminator(csv::Terminator::CRLF)
        .from_reader(text.as_bytes());
    reader
        .records()
        .map(|r| r.unwrap().iter().map(str::to_owned).collect())
        .collect()
}

/// All files, decoded once and shared.
fn decoded() -> &'static Vec<(String, Vec<Vec<String>>)> {
    static FILES: OnceLock<Vec<(String, Vec<Vec<String>>)>> = OnceLock::new();
    FILES.get_or_init(|| {
        let out = &run().out;
        files_under(&out.join("uke"))
            .into_iter()
            .map(|path| {
                let relative = path.strip_prefix(out).unwrap().display().to_string();
                (relative, read_uke(&path))
            })
            .collect()
    })
}

/// GYYMMDD or YYYYMMDD → date.
fn parse_claim_date(s: &str) -> NaiveDate {
    if s.len() == 8 {
        return NaiveDate::parse_from_str(s, "%Y%m%d").unwrap();
    }
    let start = match &s[..1] {
        "1" => 1868,
        "2" => 1912,
        "3" => 1926,
        "4" => 1989,
        "5" => 2019,
        era => panic!("era {era}"),
    };
    let year = start + s[1..3].parse::<i32>().unwrap() - 1;
    NaiveDate::from_ymd_opt(year, s[3..5].parse().unwrap(), s[5..7].parse().unwrap()).unwrap()
}

#[test]
fn every_file_is_ir_claims_go_with_matching_totals() {
    let files = decoded();
    assert!(files.len() > 100, "only {} claim files", files.len());
    for (path, records) in files {
        assert_eq!(records[0][0], "IR", "{path}");
        let last = records.last().unwrap();
        assert_eq!(last[0], "GO", "{path}");
        let claims = records.iter().filter(|r| r[0] == "RE").count();
        let points: u64 = records
            .iter()
            .filter(|r| r[0] == "HO")
            .map(|r| r[5].parse::<u64>().unwrap())
            .sum();
        assert_eq!(last[1], claims.to_string(), "{path}: GO claim count");
        assert_eq!(last[2], points.to_string(), "{path}: GO points");
        for (i, r) in records.iter().enumerate() {
            assert!(
                ["IR", "RE", "HO", "SN", "SY", "SI", "IY", "GO"].contains(&r[0].as_str()),
                "{path}: record {i}: {r:?}"
            );
            if r[0] == "RE" {
                assert_eq!(
                    records[i + 1][0],
                    "HO",
                    "{path}: RE without HO at record {i}"
                );
                assert_eq!(r.len(), 38, "{path}: RE has 38 fields");
                assert!(["1", "2"].contains(&r[5].as_str()), "{path}: sex {r:?}");
                assert_eq!(r[2].len(), 4, "{path}: claim type {r:?}");
            }
            if r[0] == "SI" || r[0] == "IY" {
                assert_eq!(r[3].len(), 9, "{path}: code {r:?}");
                assert_eq!(r.len(), 44, "{path}: SI/IY with 31 day fields");
            }
            if r[0] == "SY" {
                assert_eq!(r[1].len(), 7, "{path}: {r:?}");
                assert_eq!(
                    r[1] == "0000999",
                    !r[5].is_empty(),
                    "{path}: uncoded names its disease: {r:?}"
                );
            }
        }
    }
}

#[test]
fn every_claim_is_in_the_truth_map_and_matches_its_person() {
    let out = &run().out;
    let persons = persons_by_id(out);
    let spells = insurers_by_person(out);
    let records = records_under(out, "uke/");
    let files: HashMap<&str, &Vec<Vec<String>>> =
        decoded().iter().map(|(p, r)| (p.as_str(), r)).collect();
    let total_re: usize = decoded()
        .iter()
        .map(|(_, r)| r.iter().filter(|x| x[0] == "RE").count())
        .sum();
    assert_eq!(
        records.len(),
        total_re,
        "records.csv and the RE count disagree"
    );
    for record in &records {
        let line = line_of(record);
        // One record per line, so line N is record N - 1.
        let re = &files[record["file"].as_str()][line - 1];
        assert_eq!(re[0], "RE", "{record:?}");
        let person = &persons[&record["person_id"]];
        assert_eq!(re[5], person["sex"], "{record:?}");
        let birth = NaiveDate::parse_from_str(&person["birth_date"], "%Y-%m-%d").unwrap();
        assert_eq!(parse_claim_date(&re[6]), birth, "{record:?}");
        let ho = &files[record["file"].as_str()][line];
        let insurer = if ho[1].len() == 6 {
            format!("00{}", ho[1])
        } else {
            ho[1].clone()
        };
        assert!(
            spells[&record["person_id"]].contains(&insurer),
            "{record:?}: {ho:?}"
        );
    }
}

fn res() -> Vec<&'static Vec<String>> {
    decoded()
        .iter()
        .flat_map(|(_, r)| r.iter().filter(|x| x[0] == "RE"))
        .collect()
}

fn share(part: usize, whole: usize) -> f64 {
    part as f64 / whole as f64
}

fn near(measured: f64, expected: f64, what: &str) {
    let tolerance = (expected * 0.25).max(0.01);
    assert!(
        (measured - expected).abs() <= tolerance,
        "{what}: measured {measured:.4}, documented {expected}"
    );
}

#[test]
fn notation_noise_falls_near_the_documented_rates() {
    let noise = Noise::default();
    let res = res();
    let half_width = |s: &str| s.chars().any(|c| ('\u{FF66}'..='\u{FF9F}').contains(&c));
    let with_kana: Vec<&&Vec<String>> = res.iter().filter(|r| !r[36].is_empty()).collect();
    near(
        share(res.len() - with_kana.len(), res.len()),
        noise.missing_kana,
        "missing kana",
    );
    near(
        share(
            with_kana.iter().filter(|r| half_width(&r[36])).count(),
            with_kana.len(),
        ),
        noise.half_width_kana,
        "half-width kana",
    );
    let no_space = res.iter().filter(|r| !r[4].contains([' ', '　'])).count();
    near(
        share(no_space, res.len()),
        noise.no_name_space,
        "no name space",
    );

    let hos: Vec<&Vec<String>> = decoded()
        .iter()
        .flat_map(|(_, r)| r.iter().filter(|x| x[0] == "HO"))
        .collect();
    let full_width = hos
        .iter()
        .filter(|h| h[3].chars().any(|c| ('０'..='９').contains(&c)))
        .count();
    near(
        share(full_width, hos.len()),
        noise.full_width_digits,
        "full-width digits",
    );
}

#[test]
fn branch_numbers_and_era_dates_belong_to_older_claims() {
    let noise = Noise::default();
    let mut before = (0, 0);
    let mut after = (0, 0);
    for (path, records) in decoded() {
        let month: u32 = path[4..10].parse().unwrap();
        for (i, r) in records.iter().enumerate() {
            if r[0] != "RE" {
                continue;
            }
            let has_sn = records[i + 2][0] == "SN";
            let counter = if month < 202104 {
                &mut before
            } else {
                &mut after
            };
            counter.0 += usize::from(!has_sn);
            counter.1 += 1;
            if month >= 202004 {
                assert_eq!(r[6].len(), 8, "{path}: era date after 2020-04: {r:?}");
            }
        }
    }
    near(
        share(before.0, before.1),
        noise.missing_branch,
        "missing branch before 2021-04",
    );
    near(
        share(after.0, after.1),
        noise.missing_branch / 25.0,
        "missing branch after",
    );
    let era = res().iter().filter(|r| r[6].len() == 7).count();
    assert!(era > 0, "no era-coded dates at all");
}

#[test]
fn diabetics_get_hba1c_tests_and_drugs() {
    let mut diabetic_claims = 0;
    let mut with_hba1c = 0;
    for (_, records) in decoded() {
        let mut i = 0;
        while i < records.len() {
            if records[i][0] == "RE" {
                let end = (i + 1..records.len())
                    .find(|&j| records[j][0] == "RE" || records[j][0] == "GO")
                    .unwrap();
                let claim = &records[i..end];
                if claim.iter().any(|r| r[0] == "SY" && r[1] == "8840107") {
                    diabetic_claims += 1;
                    assert!(
                        claim.iter().any(|r| r[0] == "IY" && r[3] == "620008101"),
                        "a diabetic claim without its drug"
                    );
                    with_hba1c +=
                        usize::from(claim.iter().any(|r| r[0] == "SI" && r[3] == "160010010"));
                }
                i = end;
            } else {
                i += 1;
            }
        }
    }
    assert!(diabetic_claims > 100, "{diabetic_claims}");
    // Tested every third month.
    near(
        share(with_hba1c, diabetic_claims),
        1.0 / 3.0,
        "HbA1c tests per diabetic claim",
    );
}

/// A checkup document's header and results.
struct Checkup {
    /// `ARCHIVE#ENTRY`, as [`document_key`] makes it from a truth row.
    path: String,
    effective: String,
    sex: String,
    birth: String,
    insurer: String,
    values: HashMap<String, String>,
}

/// The key of a checkup document: its archive and entry.
fn document_key(record: &HashMap<String, String>) -> String {
    let entry = record["locator"].strip_prefix("entry:").unwrap();
    format!("{}#{entry}", record["file"])
}

fn read_checkup(text: &str, relative: String) -> Checkup {
    use quick_xml::events::Event;
    let mut reader = quick_xml::Reader::from_str(text);
    let mut doc = Checkup {
        path: relative,
        effective: String::new(),
        sex: String::new(),
        birth: String::new(),
        insurer: String::new(),
        values: HashMap::new(),
    };
    let mut current_code = String::new();
    loop {
        match reader
            .read_event()
            .unwrap_or_else(|e| panic!("{}: {e}", doc.path))
        {
            Event::Eof => break,
            Event::Start(e) | Event::Empty(e) => {
                let attr = |name: &str| {
                    e.attributes()
                        .flatten()
                        .find(|a| a.key.as_ref() == name)
                        .map(|a| {
                            a.normalized_value(quick_xml::XmlVersion::Explicit1_0)
                                .unwrap()
                                .into_owned()
                        })
                };
                match e.name().as_ref() {
                    "effectiveTime" if doc.effective.is_empty() => {
                        doc.effective = attr("value").unwrap()
                    }
                    "administrativeGenderCode" => doc.sex = attr("code").unwrap(),
                    "birthTime" => doc.birth = attr("value").unwrap(),
                    "id" if attr("root").as_deref() == Some("1.2.392.200119.6.101") => {
                        doc.insurer = attr("extension").unwrap()
                    }
                    "code" if attr("codeSystem").as_deref() == Some("1.2.392.200119.6.1005") => {
                        current_code = attr("code").unwrap()
                    }
                    "value" => {
                        let value = attr("value").or_else(|| attr("code")).unwrap();
                        doc.values.insert(current_code.clone(), value);
                    }
                    _ => {}
                }
            }
            _ => {}
        }
    }
    doc
}

fn checkups() -> &'static Vec<Checkup> {
    static DOCS: OnceLock<Vec<Checkup>> = OnceLock::new();
    DOCS.get_or_init(|| {
        let out = &run().out;
        let mut docs = Vec::new();
        for path in files_under(&out.join("checkups")) {
            let relative = path.strip_prefix(out).unwrap().display().to_string();
            assert!(relative.ends_with(".zip"), "{relative}: not an archive");
            let file = std::fs::File::open(&path).unwrap();
            let mut archive = zip::ZipArchive::new(file).unwrap();
            assert!(
                archive.len() as u64 <= 20_000,
                "{relative}: too many documents"
            );
            for i in 0..archive.len() {
                let mut entry = archive.by_index(i).unwrap();
                let mut text = String::new();
                std::io::Read::read_to_string(&mut entry, &mut text).unwrap();
                let key = format!("{relative}#{}", entry.name().unwrap());
                let doc = read_checkup(&text, key);
                // The entry carries the day of the checkup as its time.
                let time = entry.last_modified().unwrap();
                let day = format!("{:04}{:02}{:02}", time.year(), time.month(), time.day());
                assert_eq!(day, doc.effective, "{}", doc.path);
                docs.push(doc);
            }
        }
        docs
    })
}

const HBA1C: &str = "3D046000001906202";
const GLUCOSE: &str = "3D010000001926101";

#[test]
fn every_checkup_parses_and_belongs_to_a_person_of_checkup_age() {
    let out = &run().out;
    let docs = checkups();
    assert!(docs.len() > 1000, "only {} checkups", docs.len());
    let persons = persons_by_id(out);
    let records: HashMap<String, String> = records_under(out, "checkups/")
        .into_iter()
        .map(|r| (document_key(&r), r["person_id"].clone()))
        .collect();
    assert_eq!(
        records.len(),
        docs.len(),
        "checkups and their truth rows disagree"
    );
    for doc in docs {
        let person = &persons[&records[&doc.path]];
        assert_eq!(doc.sex, person["sex"], "{}", doc.path);
        assert_eq!(
            doc.birth,
            person["birth_date"].replace('-', ""),
            "{}",
            doc.path
        );
        let birth = NaiveDate::parse_from_str(&doc.birth, "%Y%m%d").unwrap();
        let on = NaiveDate::parse_from_str(&doc.effective, "%Y%m%d").unwrap();
        let age = niji_synth::population::age_on(birth, on);
        assert!((40..=74).contains(&age), "{}: aged {age}", doc.path);
        assert_eq!(
            doc.values.len(),
            niji_synth::checkup::ITEMS.len(),
            "{}",
            doc.path
        );
        let insurer = if doc.insurer.len() == 6 {
            format!("00{}", doc.insurer)
        } else {
            doc.insurer.clone()
        };
        assert!(
            doc.path.contains(&insurer),
            "{}: insurer {insurer}",
            doc.path
        );
    }
}

#[test]
fn diabetics_have_higher_hba1c_and_glucose_tracks_it() {
    let out = &run().out;
    // Diabetics: persons with a claim carrying the diabetes diagnosis.
    let mut diabetics = std::collections::HashSet::new();
    let files: HashMap<&str, &Vec<Vec<String>>> =
        decoded().iter().map(|(p, r)| (p.as_str(), r)).collect();
    for record in &records_under(out, "uke/") {
        let records = files[record["file"].as_str()];
        let line = line_of(record);
        let claim = records[line..]
            .iter()
            .take_while(|r| r[0] != "RE" && r[0] != "GO");
        if claim.into_iter().any(|r| r[0] == "SY" && r[1] == "8840107") {
            diabetics.insert(record["person_id"].clone());
        }
    }
    let owner: HashMap<String, String> = records_under(out, "checkups/")
        .into_iter()
        .map(|r| (document_key(&r), r["person_id"].clone()))
        .collect();
    let (mut with, mut without) = (Vec::new(), Vec::new());
    let mut pairs = Vec::new();
    for doc in checkups() {
        let hba1c: f64 = doc.values[HBA1C].parse().unwrap();
        let glucose: f64 = doc.values[GLUCOSE].parse().unwrap();
        pairs.push((hba1c, glucose));
        if diabetics.contains(&owner[&doc.path]) {
            with.push(hba1c)
        } else {
            without.push(hba1c)
        }
    }
    let mean = |v: &[f64]| v.iter().sum::<f64>() / v.len() as f64;
    assert!(with.len() > 30, "{} diabetic checkups", with.len());
    assert!(
        mean(&with) > mean(&without) + 0.8,
        "HbA1c: diabetics {:.2}, others {:.2}",
        mean(&with),
        mean(&without)
    );
    let (mx, my) = (
        mean(&pairs.iter().map(|p| p.0).collect::<Vec<_>>()),
        mean(&pairs.iter().map(|p| p.1).collect::<Vec<_>>()),
    );
    let cov: f64 = pairs.iter().map(|(x, y)| (x - mx) * (y - my)).sum();
    let sx: f64 = pairs
        .iter()
        .map(|(x, _)| (x - mx).powi(2))
        .sum::<f64>()
        .sqrt();
    let sy: f64 = pairs
        .iter()
        .map(|(_, y)| (y - my).powi(2))
        .sum::<f64>()
        .sqrt();
    let r = cov / (sx * sy);
    assert!(
        r > 0.5,
        "HbA1c and fasting glucose correlate at only {r:.2}"
    );
}

/// A tab-separated Shift_JIS DPC file, decoded.
fn read_dpc(path: &Path) -> Vec<Vec<String>> {
    let bytes = std::fs::read(path).unwrap();
    let (text, had_errors) = encoding_rs::SHIFT_JIS.decode_without_bom_handling(&bytes);
    assert!(!had_errors, "{}: not Shift_JIS", path.display());
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(false)
        .delimiter(b'\t')
        .flexible(true)
        .terminator(csv::Terminator::CRLF)
        .from_reader(text.as_bytes());
    reader
        .records()
        .map(|r| r.unwrap().iter().map(str::to_owned).collect())
        .collect()
}

#[test]
fn dpc_stays_carry_the_person_and_a_stable_hospital_patient_number() {
    let out = &run().out;
    let persons = persons_by_id(out);
    let insurers = insurers_by_person(out);
    let records = records_under(out, "dpc/");
    let mut cache: HashMap<String, Vec<Vec<String>>> = HashMap::new();
    // (hospital, data id) → person, and (hospital, person) → data id.
    let mut owner: HashMap<(String, String), String> = HashMap::new();
    let mut stays = 0;
    for record in &records {
        let rows = cache
            .entry(record["file"].clone())
            .or_insert_with(|| read_dpc(&out.join(&record["file"])));
        let line = line_of(record);
        let first = &rows[line - 1];
        let person = &record["person_id"];
        let key = (first[0].clone(), first[1].clone());
        let previous = owner.insert(key.clone(), person.clone());
        assert!(
            previous.is_none_or(|p| &p == person),
            "{key:?} names two persons"
        );
        if record["file"].contains("/FF1_") {
            stays += 1;
            let codes: Vec<&str> = rows[line - 1..line + 3]
                .iter()
                .map(|r| r[6].as_str())
                .collect();
            assert_eq!(
                codes,
                ["A000010", "A000020", "A000030", "A006010"],
                "{record:?}"
            );
            assert_eq!(
                first[9],
                persons[person]["birth_date"].replace('-', ""),
                "{record:?}"
            );
            assert_eq!(first[10], persons[person]["sex"], "{record:?}");
            assert_eq!(first[11].len(), 7, "postcode {record:?}");
            assert_eq!(
                niji_core::geography::postcode_prefecture(&first[11]),
                Some(format!("{:0>2}", persons[person]["prefecture"])),
                "the postcode lies in the person's prefecture: {record:?}"
            );
            let diagnosis = &rows[line + 2][9];
            assert!(
                diagnosis.starts_with(|c: char| c.is_ascii_uppercase()),
                "ICD-10 {diagnosis}"
            );
        } else {
            assert_eq!(first.len(), 32, "EF row width {record:?}");
            let insurer = if first[22].len() == 6 {
                format!("00{}", first[22])
            } else {
                first[22].clone()
            };
            assert!(
                insurers[person].contains(&insurer),
                "{record:?}: insurer {insurer}"
            );
        }
    }
    assert!(stays > 300, "only {stays} DPC stays");
    let mut ids: HashMap<(String, String), String> = HashMap::new();
    for ((hospital, id), person) in &owner {
        let previous = ids.insert((hospital.clone(), person.clone()), id.clone());
        assert!(
            previous.is_none_or(|p| &p == id),
            "{person} has two numbers at {hospital}"
        );
    }
}

#[test]
fn care_claims_have_counted_files_and_belong_to_certified_persons() {
    let out = &run().out;
    let persons = persons_by_id(out);
    let records = records_under(out, "care/");
    let mut files: HashMap<String, Vec<Vec<String>>> = HashMap::new();
    let mut claims = 0;
    let mut certified = std::collections::HashSet::new();
    for record in &records {
        let person = &persons[&record["person_id"]];
        let line = line_of(record);
        if record["file"] == "care/certifications.csv" {
            certified.insert(record["person_id"].clone());
            continue;
        }
        claims += 1;
        let rows = files.entry(record["file"].clone()).or_insert_with(|| {
            let bytes = std::fs::read(out.join(&record["file"])).unwrap();
            let (text, had_errors) = encoding_rs::SHIFT_JIS.decode_without_bom_handling(&bytes);
            assert!(!had_errors);
            let rows: Vec<Vec<String>> = text
                .split_terminator("\r\n")
                .map(|l| l.split(',').map(str::to_owned).collect())
                .collect();
            assert_eq!(rows[0][0], "1", "control record first");
            let data = rows.iter().filter(|r| r[0] == "2").count();
            assert_eq!(rows[0][3].parse::<usize>().unwrap(), data, "control count");
            let end = rows.last().unwrap();
            assert_eq!(end[0], "3");
            assert_eq!(end[1], (data + 1).to_string());
            rows
        });
        let basic = &rows[line - 1];
        assert_eq!(basic[2], "01", "{record:?}");
        assert_eq!(
            basic[7],
            person["birth_date"].replace('-', ""),
            "{record:?}"
        );
        assert_eq!(basic[8], person["sex"], "{record:?}");
        assert!(
            ["11", "21", "22", "23", "24", "25"].contains(&basic[9].as_str()),
            "{record:?}"
        );
        assert!(
            certified.contains(&record["person_id"])
                || records
                    .iter()
                    .any(|r| r["file"] == "care/certifications.csv"
                        && r["person_id"] == record["person_id"])
        );
    }
    assert!(claims > 1000, "only {claims} care claims");
    assert!(
        files.len() * 3 < claims,
        "{} files for {claims} claims",
        files.len()
    );
    // Certification rises with age: compare shares among the 85+ and the 65-74.
    let start = NaiveDate::from_ymd_opt(2019, 4, 1).unwrap();
    let share = |low: u32, high: u32| {
        let group: Vec<&String> = persons
            .keys()
            .filter(|id| {
                let birth =
                    NaiveDate::parse_from_str(&persons[*id]["birth_date"], "%Y-%m-%d").unwrap();
                (low..=high).contains(&niji_synth::population::age_on(birth, start))
            })
            .collect();
        group.iter().filter(|id| certified.contains(**id)).count() as f64 / group.len() as f64
    };
    let (young_old, oldest) = (share(65, 74), share(85, 120));
    assert!(
        oldest > 0.3 && young_old < 0.15,
        "certified: 65-74 {young_old:.2}, 85+ {oldest:.2}"
    );
}

#[test]
fn fhir_bundles_parse_and_point_at_their_person() {
    let out = &run().out;
    let persons = persons_by_id(out);
    let insurers = insurers_by_person(out);
    let records = records_under(out, "fhir/");
    let mut files: HashMap<String, Vec<String>> = HashMap::new();
    for path in files_under(&out.join("fhir")) {
        let relative = path.strip_prefix(out).unwrap().display().to_string();
        assert!(relative.ends_with(".ndjson"), "{relative}");
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(text.ends_with('\n') && !text.contains('\r'), "{relative}");
        files.insert(relative, text.lines().map(str::to_owned).collect());
    }
    assert_eq!(
        records.len(),
        files.values().map(Vec::len).sum::<usize>(),
        "bundles and truth rows disagree"
    );
    assert!(records.len() > 300, "only {} bundles", records.len());
    for record in &records {
        let line = line_of(record);
        let text = &files[&record["file"]][line - 1];
        let bundle: serde_json::Value = serde_json::from_str(text).unwrap();
        assert_eq!(bundle["resourceType"], "Bundle");
        assert_eq!(bundle["type"], "collection");
        let entries = bundle["entry"].as_array().unwrap();
        let patient = &entries[0]["resource"];
        assert_eq!(patient["resourceType"], "Patient", "{record:?}");
        let person = &persons[&record["person_id"]];
        assert_eq!(patient["birthDate"], person["birth_date"].as_str());
        let gender = if person["sex"] == "2" {
            "female"
        } else {
            "male"
        };
        assert_eq!(patient["gender"], gender);
        let member = patient["identifier"][0]["value"].as_str().unwrap();
        assert_eq!(
            patient["identifier"][0]["system"],
            niji_synth::fhir::MEMBER_ID_SYSTEM
        );
        assert!(niji_synth::fhir::valid_member_id(member), "{member}");
        assert!(
            insurers[&record["person_id"]]
                .iter()
                .any(|i| member.starts_with(i.as_str())),
            "{member}"
        );
        // The home prefecture, as the truth has it.
        let code: usize = person["prefecture"].parse().unwrap();
        assert_eq!(
            patient["address"][0]["state"],
            niji_core::geography::PREFECTURES[code - 1]
        );
        let mut conditions = 0;
        let mut encounters = 0;
        for entry in entries {
            let resource = &entry["resource"];
            assert!(entry["fullUrl"].as_str().unwrap().starts_with("urn:uuid:"));
            match resource["resourceType"].as_str().unwrap() {
                "Patient" => {}
                "Condition" => {
                    conditions += 1;
                    let code = resource["code"]["coding"][0]["code"].as_str().unwrap();
                    assert!(niji_synth::fhir::known_icd10(code), "{code}");
                    assert_eq!(resource["subject"]["identifier"]["value"], member);
                }
                "AllergyIntolerance" => {
                    assert_eq!(resource["patient"]["identifier"]["value"], member)
                }
                "Observation" | "MedicationRequest" => {
                    assert_eq!(resource["subject"]["identifier"]["value"], member)
                }
                "Encounter" => {
                    encounters += 1;
                    assert_eq!(resource["subject"]["identifier"]["value"], member);
                    assert_eq!(resource["class"]["code"], "IMP");
                    let period = &resource["period"];
                    assert!(
                        period["start"].as_str().unwrap() <= period["end"].as_str().unwrap(),
                        "{period}"
                    );
                }
                other => panic!("unexpected resource {other}"),
            }
        }
        assert!(conditions >= 1, "{record:?}: no Condition");
        assert_eq!(encounters, 1, "{record:?}: one stay, one Encounter");
    }
}
