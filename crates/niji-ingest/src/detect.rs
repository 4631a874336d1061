//! Recognizing a file's format from its first bytes (and, for JSON, its
//! name).

use std::path::Path;

/// The source formats the adapters read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum SourceKind {
    /// レセ電 medical claims (`RECEIPTC.UKE`), Shift_JIS CSV.
    Uke,
    /// DPC EF file, tab-separated Shift_JIS.
    DpcEf,
    /// DPC 様式1 (FF1) key/value rows, tab-separated Shift_JIS.
    DpcFf1,
    /// Long-term care claims (介護給付費明細書), Shift_JIS CSV.
    CareClaims,
    /// Care-need certifications (要介護認定), UTF-8 CSV with a header.
    CareCertifications,
    /// The eligibility history (insured number → oldest), UTF-8 CSV.
    Eligibility,
    /// One specific health checkup, HL7 CDA R2 XML.
    Checkup,
    /// A ZIP archive of checkup documents.
    CheckupArchive,
    /// One FHIR resource or Bundle, JSON.
    FhirJson,
    /// FHIR Bundles, one per line (NDJSON).
    FhirNdjson,
}

impl SourceKind {
    /// The name stored as each row's `source`.
    pub fn source(self) -> &'static str {
        match self {
            SourceKind::Uke => "uke",
            SourceKind::DpcEf => "dpc-ef",
            SourceKind::DpcFf1 => "dpc-ff1",
            SourceKind::CareClaims => "care-claims",
            SourceKind::CareCertifications => "care-certifications",
            SourceKind::Eligibility => "eligibility",
            SourceKind::Checkup | SourceKind::CheckupArchive => "checkup",
            SourceKind::FhirJson | SourceKind::FhirNdjson => "fhir",
        }
    }
}

/// The header of the care-need certification file.
pub(crate) const CERTIFICATION_HEADER: &str =
    "insurer_number,insured_number,birth_date,sex,kana_name,level,valid_from,valid_to";
/// The header of the eligibility history.
pub(crate) const ELIGIBILITY_HEADER: &str = "insurer_number,symbol,number,branch,birth_date,oldest_insurer_number,oldest_symbol,oldest_number,oldest_branch";

/// The format of a file, or `None` when it is none the adapters read.
pub fn detect(path: &Path, bytes: &[u8]) -> Option<SourceKind> {
    let bytes = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
    if bytes.starts_with(b"PK\x03\x04") {
        return Some(SourceKind::CheckupArchive);
    }
    let head = &bytes[..bytes.len().min(4096)];
    let line = head.split(|b| *b == b'\n').next().unwrap_or_default();
    let first_line = line.strip_suffix(b"\r").unwrap_or(line);
    let trimmed = head.trim_ascii_start();
    if trimmed.starts_with(b"<") {
        return contains(head, b"ClinicalDocument").then_some(SourceKind::Checkup);
    }
    if trimmed.starts_with(b"{") {
        let ndjson = path.extension().is_some_and(|e| e == "ndjson");
        return Some(if ndjson {
            SourceKind::FhirNdjson
        } else {
            SourceKind::FhirJson
        });
    }
    if first_line.starts_with(b"IR,") {
        return Some(SourceKind::Uke);
    }
    if first_line == CERTIFICATION_HEADER.as_bytes() {
        return Some(SourceKind::CareCertifications);
    }
    if first_line == ELIGIBILITY_HEADER.as_bytes() {
        return Some(SourceKind::Eligibility);
    }
    if first_line.starts_with(b"1,") && first_line.split(|b| *b == b',').count() == 4 {
        return Some(SourceKind::CareClaims);
    }
    if contains(first_line, b"\t") {
        let fields: Vec<&[u8]> = first_line.split(|b| *b == b'\t').collect();
        if fields.get(6).is_some_and(|f| f.starts_with(b"A0")) {
            return Some(SourceKind::DpcFf1);
        }
        if fields.len() >= 25 {
            return Some(SourceKind::DpcEf);
        }
    }
    None
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_are_told_apart() {
        let p = Path::new("x");
        assert_eq!(detect(p, b"IR,1,13,1\r\nRE,1"), Some(SourceKind::Uke));
        assert_eq!(
            detect(p, b"1,2570100000,201901,000000004\r\n2,1"),
            Some(SourceKind::CareClaims)
        );
        assert_eq!(
            detect(p, b"PK\x03\x04...."),
            Some(SourceKind::CheckupArchive)
        );
        assert_eq!(
            detect(
                p,
                b"<?xml version=\"1.0\"?>\n<ClinicalDocument xmlns=\"urn:hl7-org:v3\">"
            ),
            Some(SourceKind::Checkup)
        );
        assert_eq!(
            detect(Path::new("a.ndjson"), b"{\"resourceType\""),
            Some(SourceKind::FhirNdjson)
        );
        assert_eq!(
            detect(Path::new("a.json"), b" {\"resourceType\""),
            Some(SourceKind::FhirJson)
        );
        let ff1 = b"4300059\t9171481219\t20190123\t20190117\t0\t0\tA000010\t0\t0\t19840526\r\n";
        assert_eq!(detect(p, ff1), Some(SourceKind::DpcFf1));
        let ef = "1\t".repeat(31) + "1\r\n";
        assert_eq!(detect(p, ef.as_bytes()), Some(SourceKind::DpcEf));
        assert_eq!(
            detect(p, ELIGIBILITY_HEADER.as_bytes()),
            Some(SourceKind::Eligibility)
        );
        assert_eq!(
            detect(p, b"person_id,sex,birth_date\n1,2,1970-01-01\n"),
            None
        );
        assert_eq!(detect(p, b""), None);
    }
}
