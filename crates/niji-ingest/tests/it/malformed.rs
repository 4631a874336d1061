//! Bad input for every adapter: each gets a clear message with its
//! location, the bad record is left out (or the file refused when it cannot
//! be read as its format), and no message repeats an identifying value.

use niji_ingest::{FileOutcome, Location, Options, Staging, Status, check_file, ingest_file};
use niji_linkage::Tokenizer;

struct Bench {
    dir: tempfile::TempDir,
    staging: Staging,
    tokenizer: Tokenizer,
}

impl Bench {
    fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let staging = Staging::open(dir.path()).unwrap();
        let tokenizer = Tokenizer::new(ring::hmac::Key::new(ring::hmac::HMAC_SHA256, &[3; 32]));
        Bench {
            dir,
            staging,
            tokenizer,
        }
    }

    fn ingest_with(&mut self, name: &str, bytes: &[u8], options: &Options) -> FileOutcome {
        let path = self.dir.path().join(name.replace('/', "_"));
        std::fs::write(&path, bytes).unwrap();
        ingest_file(&mut self.staging, &self.tokenizer, &path, name, options).unwrap()
    }

    fn ingest(&mut self, name: &str, bytes: &[u8]) -> FileOutcome {
        self.ingest_with(name, bytes, &Options::default())
    }

    fn batches(&self) -> usize {
        self.staging.batches().unwrap().len()
    }
}

fn sjis(text: &str) -> Vec<u8> {
    encoding_rs::SHIFT_JIS.encode(text).0.into_owned()
}

/// A record of `total` fields with the given ones set (1-based).
fn record(kind: &str, total: usize, set: &[(usize, &str)]) -> String {
    let mut fields = vec![String::new(); total];
    fields[0] = kind.to_owned();
    for (n, v) in set {
        fields[n - 1] = (*v).to_owned();
    }
    fields.join(",")
}

const NAME: &str = "山田 太郎";
const BIRTH: &str = "19550401";

fn re(claim: &str, birth: &str) -> String {
    record(
        "RE",
        38,
        &[
            (2, claim),
            (3, "1112"),
            (4, "201904"),
            (5, NAME),
            (6, "1"),
            (7, birth),
            (14, "12345678"),
            (37, "ﾔﾏﾀﾞ ﾀﾛｳ"),
        ],
    )
}

fn claim(n: &str, birth: &str) -> Vec<String> {
    vec![
        re(n, birth),
        "HO,06139999,12,3456789,1,300,,,".to_owned(),
        "SN,1,01,06139999,12,3456789,00,,".to_owned(),
        "SY,8833421,20190301,1,,,01,".to_owned(),
        record(
            "SI",
            44,
            &[
                (2, "11"),
                (3, "1"),
                (4, "111000110"),
                (6, "288"),
                (7, "1"),
                (14, "1"),
            ],
        ),
        record(
            "IY",
            44,
            &[
                (2, "21"),
                (3, "1"),
                (4, "620009202"),
                (5, "1"),
                (6, "5"),
                (7, "14"),
                (20, "14"),
            ],
        ),
    ]
}

fn uke(claims: Vec<Vec<String>>, go: bool) -> Vec<u8> {
    let n = claims.len();
    let mut lines = vec!["IR,1,13,1,1300001,,テスト医院,201905,00,03-0000-0000".to_owned()];
    lines.extend(claims.into_iter().flatten());
    if go {
        lines.push(format!("GO,{n},600,99"));
    }
    sjis(&(lines.join("\r\n") + "\r\n"))
}

fn refused(outcome: &FileOutcome) -> String {
    match &outcome.status {
        Status::Refused { problem } => problem.to_string(),
        other => panic!("{}: expected refused, got {other:?}", outcome.file),
    }
}

fn reject_texts(outcome: &FileOutcome) -> Vec<String> {
    outcome.rejects.iter().map(ToString::to_string).collect()
}

#[test]
fn a_valid_claim_file_ingests_and_again_is_a_no_op() {
    let mut b = Bench::new();
    let bytes = uke(vec![claim("1", BIRTH), claim("2", "3300401")], true);
    let first = b.ingest("a.UKE", &bytes);
    assert!(
        matches!(first.status, Status::Ingested { .. }),
        "{:?}",
        first.status
    );
    assert_eq!(first.records, 2, "{:?}", first.rejects);
    assert!(first.rows.contains(&("drugs", 2)));
    let again = b.ingest("b.UKE", &bytes);
    assert!(matches!(again.status, Status::Duplicate { .. }));
    assert_eq!(b.batches(), 1);
}

#[test]
fn a_claim_file_without_go_is_truncated() {
    let mut b = Bench::new();
    let out = b.ingest("t.UKE", &uke(vec![claim("1", BIRTH)], false));
    let reason = refused(&out);
    assert!(
        reason.contains("truncated") && reason.contains("line 7"),
        "{reason}"
    );
    assert_eq!(b.batches(), 0);
}

#[test]
fn a_go_count_that_disagrees_refuses_the_file() {
    let mut b = Bench::new();
    let mut bytes = uke(vec![claim("1", BIRTH)], true);
    let go = bytes.len() - b"GO,1,600,99\r\n".len();
    bytes[go + 3] = b'2';
    assert!(refused(&b.ingest("g.UKE", &bytes)).contains("GO record counts 2 claims"));
}

#[test]
fn bad_claims_are_left_out_with_their_location_and_the_rest_goes_in() {
    let mut b = Bench::new();
    let mut short = claim("2", BIRTH);
    short[0] = "RE,2,1112,201904".to_owned();
    let mut unknown = claim("4", BIRTH);
    unknown.insert(2, "ZZ,1,2,3".to_owned());
    let bytes = uke(
        vec![claim("1", BIRTH), short, claim("3", "3301301"), unknown],
        true,
    );
    let out = b.ingest("m.UKE", &bytes);
    assert!(matches!(out.status, Status::Ingested { .. }));
    assert_eq!(out.records, 1);
    let texts = reject_texts(&out);
    assert_eq!(texts.len(), 3, "{texts:?}");
    assert_eq!(
        texts[0],
        "m.UKE: line 8: wrong field count: RE record has 4 fields, at least 37 expected"
    );
    assert_eq!(
        texts[1],
        "m.UKE: line 14: RE field 7 (birth date): bad date: not a valid date in YYYYMMDD or era-coded GYYMMDD form"
    );
    assert_eq!(texts[2], "m.UKE: line 22: unknown record type `ZZ`");
    assert_eq!(out.rejects[2].record, Location::Line(20));
    for t in &texts {
        assert!(!t.contains("3301301") && !t.contains("山田"), "{t}");
    }
}

#[test]
fn strict_refuses_the_whole_file_on_one_bad_claim() {
    let mut b = Bench::new();
    let bytes = uke(vec![claim("1", BIRTH), claim("2", "19551301")], true);
    let strict = Options {
        strict: true,
        ..Options::default()
    };
    let out = b.ingest_with("s.UKE", &bytes, &strict);
    assert!(refused(&out).contains("--strict"));
    assert_eq!(out.rejects.len(), 1);
    assert_eq!(b.batches(), 0);
    let staging = &b.staging;
    let n: i64 = staging
        .connection()
        .query_row("SELECT count(*) FROM subjects", [], |r| r.get(0))
        .unwrap();
    assert_eq!(n, 0);
}

#[test]
fn wrong_encodings_are_named() {
    let mut b = Bench::new();
    let utf8 = String::from_utf8(uke(vec![], true)).unwrap_or_default();
    let as_utf8 = "IR,1,13,1,1300001,,テスト医院,201905,00,03\r\nGO,0,0,99\r\n";
    assert!(utf8.is_empty() || utf8.is_ascii());
    assert!(refused(&b.ingest("u.UKE", as_utf8.as_bytes())).contains("the file is UTF-8"));
    let mut bad = uke(vec![claim("1", BIRTH)], true);
    let at = bad.len() - 12;
    bad[at] = 0x82;
    bad[at + 1] = 0xFF;
    let reason = refused(&b.ingest("x.UKE", &bad));
    assert!(reason.starts_with("line 8: wrong encoding"), "{reason}");
    // UTF-8 sources refuse Shift_JIS bytes.
    let reason = refused(&b.ingest("e.csv", &sjis("insurer_number,symbol,number,branch,birth_date,oldest_insurer_number,oldest_symbol,oldest_number,oldest_branch\n06139999,記号,1,00,1955-04-01,06139999,記号,1,00\n")));
    assert!(reason.contains("not UTF-8"), "{reason}");
}

#[test]
fn unknown_formats_are_refused() {
    let mut b = Bench::new();
    assert!(
        refused(&b.ingest("persons.csv", b"person_id,sex\n1,2\n"))
            .contains("not a recognized source format")
    );
}

fn ef_row(data_id: &str, date: &str, fields: usize) -> String {
    let mut f = vec![String::new(); fields];
    let set = [
        (1, "4300059"),
        (2, data_id),
        (3, "00000000"),
        (4, "20190117"),
        (5, "21"),
        (6, "1"),
        (9, "620009303"),
        (12, "1"),
        (14, "2"),
        (24, "1115"),
        (25, date),
    ];
    for (n, v) in set {
        if n <= fields {
            f[n - 1] = v.to_owned();
        }
    }
    f.join("\t")
}

#[test]
fn dpc_ef_rows_with_bad_counts_or_dates_leave_their_stay_out() {
    let mut b = Bench::new();
    let text = [
        ef_row("0000000001", "20190117", 32),
        ef_row("0000000001", "20190118", 32),
        ef_row("0000000002", "20190132", 32),
        ef_row("0000000003", "20190117", 20),
    ]
    .join("\r\n")
        + "\r\n";
    let out = b.ingest("EFn_4300059_1901.txt", &sjis(&text));
    assert_eq!(out.records, 1);
    let texts = reject_texts(&out);
    assert_eq!(texts.len(), 2, "{texts:?}");
    assert!(
        texts[0].starts_with("EFn_4300059_1901.txt: line 3: EF field 25 (実施年月日): bad date"),
        "{}",
        texts[0]
    );
    assert!(
        texts[1].contains("line 4: wrong field count"),
        "{}",
        texts[1]
    );
}

fn ff1(data_id: &str, rows: &[(&str, &[&str])]) -> Vec<String> {
    rows.iter()
        .map(|(code, payload)| {
            let mut f: Vec<String> = [
                "4300059", data_id, "20190123", "20190117", "0", "0", code, "0", "0",
            ]
            .iter()
            .map(|s| s.to_string())
            .collect();
            f.extend(payload.iter().map(|s| s.to_string()));
            f.resize(18, String::new());
            f.join("\t")
        })
        .collect()
}

#[test]
fn dpc_form_1_needs_its_core_rows_and_known_codes() {
    let mut b = Bench::new();
    let mut lines = ff1(
        "0000000001",
        &[
            ("A000010", &["19840526", "2", "7070227"]),
            ("A000020", &["20190117", "1"]),
            ("A006010", &["K80.2"]),
        ],
    );
    lines.extend(ff1("0000000002", &[("A000020", &["20190117", "1"])]));
    lines.extend(ff1(
        "0000000003",
        &[
            ("A000010", &["19840526", "2", ""]),
            ("A000020", &["20190117", "1"]),
            ("a??", &[]),
        ],
    ));
    let out = b.ingest(
        "FF1_4300059_1901.txt",
        &sjis(&(lines.join("\r\n") + "\r\n")),
    );
    assert_eq!(out.records, 1);
    let texts = reject_texts(&out);
    assert!(texts[0].contains("line 4: incomplete stay"), "{texts:?}");
    assert!(
        texts[1].contains("line 7: unknown 様式1 code (not a record type)"),
        "{texts:?}"
    );
}

fn care(lines: &[&str], control: Option<usize>, end: bool) -> Vec<u8> {
    let data: Vec<String> = lines
        .iter()
        .enumerate()
        .map(|(i, l)| format!("2,{},{l}", i + 1))
        .collect();
    let mut all = vec![format!(
        "1,1370100000,201901,{:09}",
        control.unwrap_or(data.len())
    )];
    all.extend(data.iter().cloned());
    if end {
        all.push(format!("3,{}", data.len() + 1));
    }
    sjis(&(all.join("\r\n") + "\r\n"))
}

const BASIC: &str = "01,201901,1370100000,00132092,9873690708,19361125,2,21,ヒラモリ　サチヨ";
const DETAIL: &str = "02,201901,1370100000,9873690708,15,1511,3900";
const TOTAL: &str = "10,201901,1370100000,9873690708,3900";

#[test]
fn care_claims_check_their_records_and_counts() {
    let mut b = Bench::new();
    let bad_birth = BASIC.replace("19361125", "19361325");
    let out = b.ingest(
        "care/a.csv",
        &care(
            &[
                BASIC,
                DETAIL,
                TOTAL,
                &bad_birth,
                DETAIL,
                TOTAL,
                BASIC,
                "07,201901,x",
                TOTAL,
            ],
            None,
            true,
        ),
    );
    assert_eq!(out.records, 1);
    let texts = reject_texts(&out);
    assert!(
        texts[0].contains("line 5: 01 field 8 (birth date): bad date"),
        "{texts:?}"
    );
    assert!(
        texts[1].contains("line 9: unknown record type `07`"),
        "{texts:?}"
    );
    assert!(
        refused(&b.ingest("care/b.csv", &care(&[BASIC, DETAIL, TOTAL], None, false)))
            .contains("truncated")
    );
    assert!(
        refused(&b.ingest("care/c.csv", &care(&[BASIC, DETAIL, TOTAL], Some(5), true)))
            .contains("damaged or truncated")
    );
}

#[test]
fn certification_and_eligibility_lines_are_checked() {
    let mut b = Bench::new();
    let header = "insurer_number,insured_number,birth_date,sex,kana_name,level,valid_from,valid_to";
    let text = format!(
        "{header}\n00132092,9873690708,19361125,2,ヒラモリ　サチヨ,21,2019-04-20,2020-04-19\n00132092,9873690708,19361125,2,ヒラモリ　サチヨ,99,2019-04-20,2020-04-19\n00132092,9873690708\n"
    );
    let out = b.ingest("care/certifications.csv", text.as_bytes());
    assert_eq!(out.records, 1);
    let texts = reject_texts(&out);
    assert!(
        texts[0].contains("line 3: certification field 6 (care level): not one of"),
        "{texts:?}"
    );
    assert!(
        texts[1].contains("line 4: wrong field count: 2 fields where the header has 8"),
        "{texts:?}"
    );
    let header = "insurer_number,symbol,number,branch,birth_date,oldest_insurer_number,oldest_symbol,oldest_number,oldest_branch";
    let text = format!(
        "{header}\n01430016,38390251,5815238,00,1974-10-15,01430016,38390251,5815238,00\n01430016,38390251,5815238,0,1974-10-15,01430016,38390251,5815238,00\n"
    );
    let out = b.ingest("eligibility/history.csv", text.as_bytes());
    assert_eq!(out.records, 1);
    assert!(
        reject_texts(&out)[0]
            .contains("line 3: eligibility field 4 (branch number): not a number of 2 digits")
    );
}

const CDA: &str = r#"<?xml version="1.0" encoding="UTF-8"?>
<ClinicalDocument xmlns="urn:hl7-org:v3" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance">
  <effectiveTime value="20211110"/>
  <recordTarget><patientRole>
    <id root="1.2.392.200119.6.101" extension="06045611"/>
    <id root="1.2.392.200119.6.204" extension="1321"/>
    <id root="1.2.392.200119.6.205" extension="974878"/>
    <patient><name use="SYL">ﾏｴﾀﾞ ﾋﾃﾞｷ</name>
      <administrativeGenderCode code="1" codeSystem="1.2.392.200119.6.1104"/>
      <birthTime value="19730125"/></patient>
  </patientRole></recordTarget>
  <component><structuredBody><component><section><entry><observation classCode="OBS" moodCode="EVN">
    <code code="9N011000000000001" codeSystem="1.2.392.200119.6.1005" displayName="BMI"/>
    <value xsi:type="PQ" value="28.6" unit="kg/m2"/>
  </observation></entry></section></component></structuredBody></component>
</ClinicalDocument>
"#;

fn zip_of(entries: &[(&str, &str)]) -> Vec<u8> {
    let mut out = std::io::Cursor::new(Vec::new());
    {
        let mut w = zip::ZipWriter::new(&mut out);
        for (name, text) in entries {
            w.start_file(*name, zip::write::SimpleFileOptions::default())
                .unwrap();
            std::io::Write::write_all(&mut w, text.as_bytes()).unwrap();
        }
        w.finish().unwrap();
    }
    out.into_inner()
}

#[test]
fn checkup_documents_are_checked_one_by_one() {
    let mut b = Bench::new();
    let one = b.ingest("one.xml", CDA.as_bytes());
    assert_eq!(one.records, 1, "{:?}", one.rejects);
    assert!(one.rows.contains(&("observations", 1)));
    let no_birth = CDA.replace(r#"<birthTime value="19730125"/>"#, "");
    let broken = CDA.replace("</patientRole>", "");
    let bad_value = CDA.replace(r#"value="28.6""#, r#"value="abc""#);
    let archive = zip_of(&[
        ("0604/000001.xml", CDA),
        ("0604/000002.xml", &no_birth),
        ("0604/000003.xml", &broken),
        ("0604/000004.xml", &bad_value),
    ]);
    let out = b.ingest("batch-0001.zip", &archive);
    assert_eq!(out.records, 1);
    let texts = reject_texts(&out);
    assert_eq!(
        texts[0],
        "batch-0001.zip: entry 0604/000002.xml: line 1: ClinicalDocument birthTime: missing"
    );
    assert!(
        texts[1].starts_with("batch-0001.zip: entry 0604/000003.xml: line 1"),
        "{}",
        texts[1]
    );
    assert!(texts[1].contains("malformed XML"), "{}", texts[1]);
    assert!(
        texts[2].contains("line 14: observation 9N011000000000001 value: not a number"),
        "{}",
        texts[2]
    );
    let truncated = &archive[..archive.len() - 30];
    assert!(refused(&b.ingest("batch-0002.zip", truncated)).contains("not a readable ZIP archive"));
}

const MEMBER: &str = "00012345:あいう:１８７:05";

fn bundle(entries: &[serde_json::Value]) -> serde_json::Value {
    serde_json::json!({
        "resourceType": "Bundle",
        "type": "collection",
        "entry": entries.iter().map(|r| serde_json::json!({"resource": r})).collect::<Vec<_>>(),
    })
}

fn patient() -> serde_json::Value {
    serde_json::json!({
        "resourceType": "Patient",
        "identifier": [{"system": "http://jpfhir.jp/fhir/clins/Idsystem/JP_Insurance_memberID", "value": MEMBER}],
        "name": [{"text": "山田　花子"}],
        "gender": "female",
        "birthDate": "1970-01-02"
    })
}

fn observation(code: Option<serde_json::Value>) -> serde_json::Value {
    let mut o = serde_json::json!({
        "resourceType": "Observation",
        "status": "final",
        "subject": {"identifier": {"system": "http://jpfhir.jp/fhir/clins/Idsystem/JP_Insurance_memberID", "value": MEMBER}},
        "effectiveDateTime": "2021-07-05T11:19:41+09:00",
        "valueQuantity": {"value": 4.4, "unit": "g/dL"}
    });
    if let Some(code) = code {
        o["code"] = code;
    }
    o
}

#[test]
fn fhir_bundles_leave_out_bad_resources_with_their_path() {
    let mut b = Bench::new();
    let good_code = serde_json::json!({"coding": [{"system": "http://jpfhir.jp/fhir/clins/CodeSystem/JLAC10/JP_CLINS_ObsLabResult_CoreLabo_CS", "code": "3A015000001827101"}]});
    let lines = [
        bundle(&[
            patient(),
            observation(Some(good_code.clone())),
            observation(None),
            observation(Some(serde_json::json!("3A015"))),
        ]),
        bundle(&[observation(Some(good_code))]),
    ];
    let text: String = lines.iter().map(|l| format!("{l}\n")).collect::<String>()
        + "{\"resourceType\": \"Bundle\", ";
    let out = b.ingest("f.ndjson", text.as_bytes());
    assert!(
        refused(&out).contains("line 3: truncated"),
        "{:?}",
        out.status
    );
    let text: String = lines.iter().map(|l| format!("{l}\n")).collect::<String>() + "{not json}\n";
    let out = b.ingest("f.ndjson", text.as_bytes());
    assert_eq!(out.records, 1);
    let texts = reject_texts(&out);
    assert_eq!(
        texts[0],
        "f.ndjson: line 1: Bundle.entry[2].resource.code: required element missing"
    );
    assert_eq!(
        texts[1],
        "f.ndjson: line 1: Bundle.entry[3].resource.code: wrong JSON type or shape for this element"
    );
    assert_eq!(
        texts[2],
        "f.ndjson: line 2: Bundle: the Bundle has no Patient"
    );
    assert_eq!(texts[3], "f.ndjson: line 3: invalid JSON at column 2");
    assert!(out.rows.contains(&("observations", 1)));
    for t in &texts {
        assert!(!t.contains("花子") && !t.contains("3A015"), "{t}");
    }
}

#[test]
fn a_lone_resource_is_checked_not_ingested() {
    let b = Bench::new();
    let path = b.dir.path().join("obs.json");
    std::fs::write(&path, observation(None).to_string()).unwrap();
    let out = check_file(&b.tokenizer, &path, "obs.json").unwrap();
    assert_eq!(
        reject_texts(&out),
        ["obs.json: Observation.code: required element missing"]
    );
    std::fs::write(&path, b"{\"resourceType\": \"Observation\",").unwrap();
    let out = check_file(&b.tokenizer, &path, "obs.json").unwrap();
    assert!(refused(&out).contains("truncated"), "{:?}", out.status);
}
