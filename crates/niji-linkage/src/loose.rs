//! The loose level of name normalization (`linkage/loose.toml`): small
//! kana as large, old and foreign kana as their usual sound, and long
//! vowels written out (サトウ) or marked (サトー) alike. Loose tokens are
//! extra keys; they never join records alone.

use serde::Deserialize;
use std::collections::BTreeMap;
use std::sync::OnceLock;

/// The mapping this build carries, from the workspace's `linkage/loose.toml`.
pub const EMBEDDED: &str = include_str!("../../../linkage/loose.toml");

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Table {
    replace: BTreeMap<String, String>,
    lengthen: BTreeMap<String, String>,
}

/// The loose mapping, ready to apply.
struct Loose {
    /// (from, to), longest `from` first.
    replace: Vec<(Vec<char>, String)>,
    /// (vowel kana, the kana after which it is a long vowel).
    lengthen: Vec<(char, Vec<char>)>,
}

fn table() -> &'static Loose {
    static TABLE: OnceLock<Loose> = OnceLock::new();
    TABLE.get_or_init(|| {
        // Checked by a unit test; a broken embedded table cannot ship.
        let t: Table =
            toml::from_str(EMBEDDED).unwrap_or_else(|e| panic!("linkage/loose.toml: {e}"));
        let mut replace: Vec<(Vec<char>, String)> = t
            .replace
            .into_iter()
            .map(|(k, v)| (k.chars().collect(), v))
            .collect();
        replace.sort_by_key(|(k, _)| std::cmp::Reverse(k.len()));
        let lengthen = t
            .lengthen
            .into_iter()
            .filter_map(|(k, v)| Some((k.chars().next()?, v.chars().collect())))
            .collect();
        Loose { replace, lengthen }
    })
}

/// A strict-normalized name in loose form.
pub fn loose(strict: &str) -> String {
    let t = table();
    let chars: Vec<char> = strict.chars().collect();
    let mut replaced: Vec<char> = Vec::with_capacity(chars.len());
    let mut i = 0;
    'outer: while i < chars.len() {
        for (from, to) in &t.replace {
            if chars[i..].starts_with(from) {
                replaced.extend(to.chars());
                i += from.len();
                continue 'outer;
            }
        }
        replaced.push(chars[i]);
        i += 1;
    }
    let mut out = String::with_capacity(strict.len());
    for (i, &c) in replaced.iter().enumerate() {
        let previous = i.checked_sub(1).map(|j| replaced[j]);
        let long = previous.is_some_and(|p| {
            t.lengthen
                .iter()
                .any(|(vowel, after)| *vowel == c && after.contains(&p))
        });
        out.push(if long { 'ー' } else { c });
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_loose_rule_with_its_input_and_output() {
        let cases = [
            // Small kana written large.
            ("ハットリ", "ハツトリ"),
            ("キョウコ", "キヨーコ"),
            ("キヨウコ", "キヨーコ"),
            ("ファ", "フア"),
            // Old and foreign kana as their usual sound.
            ("ヴァイオリン", "バイオリン"),
            ("ヴィ", "ビ"),
            ("ヴェ", "ベ"),
            ("ヴォ", "ボ"),
            ("ヴ", "ブ"),
            ("チヂミ", "チジミ"),
            ("ツヅキ", "ツズキ"),
            ("ヲノ", "オノ"),
            ("ヰ", "イ"),
            ("ヱミ", "エミ"),
            // Long vowels: written out or marked, alike.
            ("サトウ", "サトー"),
            ("サトー", "サトー"),
            ("ユウコ", "ユーコ"),
            ("ケイコ", "ケーコ"),
            ("オオノ", "オーノ"),
            ("トオル", "トール"),
            // What is not a long vowel stays.
            ("カイ", "カイ"),
            ("アイ", "アイ"),
            ("", ""),
        ];
        for (input, want) in cases {
            assert_eq!(loose(input), want, "{input}");
        }
    }
}
