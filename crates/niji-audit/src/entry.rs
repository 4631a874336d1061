//! A log entry's canonical bytes, which its leaf hash covers, and the
//! commitments that tie an entry to a person without naming them.
//!
//! The bytes are one line of UTF-8 JSON: an object whose keys are in
//! byte order, with no insignificant whitespace, strings escaped as JSON
//! requires (`"`, `\`, control characters; nothing else), integers in
//! decimal. The fields, all present:
//!
//! | key | value |
//! |---|---|
//! | `actor` | the account (or `system`) that acted |
//! | `at` | when, UTC, `YYYY-MM-DD HH:MM:SS[.ffffff]` |
//! | `detail` | what the event records (text; never personal data) |
//! | `index` | the entry's position in the log, from 0 |
//! | `kind` | what happened (`analysis.query`, `release.build`, …) |
//! | `persons` | hex commitments of the persons it concerns directly (may be empty) |
//! | `subject` | what it concerns (`project 3`, a release name, …) |
//! | `v` | the format version, 1 |
//!
//! A person's commitment in entry `i` is HMAC-SHA-256 keyed by that
//! person's secret salt over `niji-log-person/v1` and `i` (8 bytes, big
//! endian): only a lookup that holds the salt can recompute it, and the
//! same person's commitments in two entries do not match each other.

use ring::hmac;

/// The format version written in `v`.
pub const VERSION: u64 = 1;

/// One event of the log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// Its position in the log, from 0.
    pub index: u64,
    /// When (UTC).
    pub at: String,
    /// Who acted.
    pub actor: String,
    /// What happened.
    pub kind: String,
    /// What it concerns.
    pub subject: String,
    /// The event's details.
    pub detail: String,
    /// Commitments of the persons it concerns directly.
    pub persons: Vec<[u8; 32]>,
}

/// A JSON string literal of `text`.
fn quoted(text: &str, out: &mut String) {
    out.push('"');
    for c in text.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

impl Entry {
    /// The canonical bytes its leaf hash covers.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = String::with_capacity(128 + self.detail.len());
        out.push_str("{\"actor\":");
        quoted(&self.actor, &mut out);
        out.push_str(",\"at\":");
        quoted(&self.at, &mut out);
        out.push_str(",\"detail\":");
        quoted(&self.detail, &mut out);
        out.push_str(&format!(",\"index\":{}", self.index));
        out.push_str(",\"kind\":");
        quoted(&self.kind, &mut out);
        out.push_str(",\"persons\":[");
        for (i, p) in self.persons.iter().enumerate() {
            if i > 0 {
                out.push(',');
            }
            out.push('"');
            out.push_str(&hex(p));
            out.push('"');
        }
        out.push_str("],\"subject\":");
        quoted(&self.subject, &mut out);
        out.push_str(&format!(",\"v\":{VERSION}}}"));
        out.into_bytes()
    }

    /// Its leaf hash.
    pub fn leaf_hash(&self) -> crate::merkle::Hash {
        crate::merkle::leaf_hash(&self.to_bytes())
    }
}

/// A person's commitment in entry `index`, under their secret `salt`.
pub fn commitment(salt: &[u8], index: u64) -> [u8; 32] {
    let key = hmac::Key::new(hmac::HMAC_SHA256, salt);
    let mut ctx = hmac::Context::with_key(&key);
    ctx.update(b"niji-log-person/v1");
    ctx.update(&index.to_be_bytes());
    let mut out = [0u8; 32];
    out.copy_from_slice(ctx.sign().as_ref());
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry() -> Entry {
        Entry {
            index: 7,
            at: "2026-11-21 10:00:00".into(),
            actor: "alice".into(),
            kind: "analysis.query".into(),
            subject: "project 3".into(),
            detail: "{\"sql\":\"SELECT \\\"a\\\"\\n\"}\u{1}日本".into(),
            persons: vec![commitment(b"salt", 7)],
        }
    }

    #[test]
    fn the_bytes_are_canonical_json_with_sorted_keys() {
        let bytes = entry().to_bytes();
        let text = String::from_utf8(bytes.clone()).unwrap();
        assert!(!text.contains('\n'), "one line");
        // serde_json, reading and writing it with sorted keys, gives it back.
        let value: serde_json::Value = serde_json::from_slice(&bytes).unwrap();
        assert_eq!(serde_json::to_string(&value).unwrap(), text);
        assert_eq!(value["detail"], entry().detail);
        assert_eq!(value["index"], 7);
        assert_eq!(value["v"], 1);
    }

    #[test]
    fn commitments_are_per_person_and_per_entry() {
        assert_eq!(commitment(b"salt", 7), commitment(b"salt", 7));
        assert_ne!(commitment(b"salt", 7), commitment(b"salt", 8));
        assert_ne!(commitment(b"salt", 7), commitment(b"other", 7));
    }
}
