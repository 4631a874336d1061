//! The pages' strings: one catalogue per language (`i18n/ja.toml`,
//! `i18n/en.toml`), chosen per request. Japanese is the default; `?lang=en`
//! or an Accept-Language that prefers English switches, and a `?lang=`
//! choice is remembered in a cookie.

use axum::extract::FromRequestParts;
use axum::http::header::ACCEPT_LANGUAGE;
use axum::http::request::Parts;
use axum::http::{HeaderMap, Uri};
use std::collections::HashMap;
use std::convert::Infallible;
use std::sync::LazyLock;

/// The cookie that remembers a `?lang=` choice.
pub const LANG_COOKIE: &str = "niji_lang";

/// The strings of one language, by dotted key (`login.title`).
#[derive(Debug)]
pub struct Catalogue {
    strings: HashMap<String, String>,
}

impl Catalogue {
    /// Parses a catalogue: TOML tables of strings, flattened to dotted keys.
    pub fn parse(text: &str) -> Result<Catalogue, String> {
        let table: toml::Table = toml::from_str(text).map_err(|e| e.to_string())?;
        let mut strings = HashMap::new();
        flatten("", &table, &mut strings)?;
        Ok(Catalogue { strings })
    }

    /// The string of `key`. A missing key shows as itself, so a gap is
    /// visible rather than blank; a test keeps the catalogues complete.
    pub fn s<'a>(&'a self, key: &'a str) -> &'a str {
        self.strings.get(key).map_or(key, String::as_str)
    }

    /// Every key, for the completeness tests.
    pub fn keys(&self) -> impl Iterator<Item = &str> {
        self.strings.keys().map(String::as_str)
    }
}

fn flatten(
    prefix: &str,
    table: &toml::Table,
    out: &mut HashMap<String, String>,
) -> Result<(), String> {
    for (name, value) in table {
        let key = if prefix.is_empty() {
            name.clone()
        } else {
            format!("{prefix}.{name}")
        };
        match value {
            toml::Value::String(s) => {
                out.insert(key, s.clone());
            }
            toml::Value::Table(t) => flatten(&key, t, out)?,
            _ => return Err(format!("`{key}` is not a string")),
        }
    }
    Ok(())
}

/// The catalogues this build carries.
pub const JA_TOML: &str = include_str!("../../i18n/ja.toml");
/// The English catalogue.
pub const EN_TOML: &str = include_str!("../../i18n/en.toml");

// Parsed once. Both files are compiled in and parsed by a unit test, so a
// broken catalogue cannot ship.
static JA: LazyLock<Catalogue> =
    LazyLock::new(|| Catalogue::parse(JA_TOML).unwrap_or_else(|e| panic!("i18n/ja.toml: {e}")));
static EN: LazyLock<Catalogue> =
    LazyLock::new(|| Catalogue::parse(EN_TOML).unwrap_or_else(|e| panic!("i18n/en.toml: {e}")));

/// A page language.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lang {
    /// 日本語, the default.
    Ja,
    /// English.
    En,
}

impl Lang {
    /// The language's code, as in `?lang=` and `<html lang>`.
    pub fn code(self) -> &'static str {
        match self {
            Lang::Ja => "ja",
            Lang::En => "en",
        }
    }

    /// Its catalogue.
    pub fn catalogue(self) -> &'static Catalogue {
        match self {
            Lang::Ja => &JA,
            Lang::En => &EN,
        }
    }

    fn from_code(code: &str) -> Option<Lang> {
        let primary = code.split(['-', '_']).next()?.trim();
        if primary.eq_ignore_ascii_case("ja") {
            Some(Lang::Ja)
        } else if primary.eq_ignore_ascii_case("en") {
            Some(Lang::En)
        } else {
            None
        }
    }

    /// The language a request asks for, and whether it asked by `?lang=`
    /// (which is then remembered).
    pub fn negotiate(uri: &Uri, headers: &HeaderMap) -> (Lang, bool) {
        if let Some(lang) = query_lang(uri) {
            return (lang, true);
        }
        if let Some(lang) = cookie_lang(headers) {
            return (lang, false);
        }
        (accept_language(headers).unwrap_or(Lang::Ja), false)
    }
}

fn query_lang(uri: &Uri) -> Option<Lang> {
    uri.query()?.split('&').find_map(|pair| {
        let (name, value) = pair.split_once('=')?;
        (name == "lang").then(|| Lang::from_code(value)).flatten()
    })
}

fn cookie_lang(headers: &HeaderMap) -> Option<Lang> {
    Lang::from_code(&crate::caller::cookie(headers, LANG_COOKIE)?)
}

/// The supported language with the highest q-value, earliest first on ties.
fn accept_language(headers: &HeaderMap) -> Option<Lang> {
    let value = headers.get(ACCEPT_LANGUAGE)?.to_str().ok()?;
    let mut best: Option<(Lang, f32)> = None;
    for entry in value.split(',') {
        let mut fields = entry.split(';');
        let Some(lang) = fields.next().and_then(Lang::from_code) else {
            continue;
        };
        let q = fields
            .find_map(|f| f.trim().strip_prefix("q="))
            .and_then(|q| q.trim().parse::<f32>().ok())
            .unwrap_or(1.0);
        if q > 0.0 && best.is_none_or(|(_, b)| q > b) {
            best = Some((lang, q));
        }
    }
    best.map(|(lang, _)| lang)
}

impl<S: Send + Sync> FromRequestParts<S> for Lang {
    type Rejection = Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Infallible> {
        Ok(Lang::negotiate(&parts.uri, &parts.headers).0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn negotiated(uri: &str, pairs: &[(&str, &str)]) -> Lang {
        let mut headers = HeaderMap::new();
        for (name, value) in pairs {
            headers.append(
                axum::http::HeaderName::from_bytes(name.as_bytes()).unwrap(),
                value.parse().unwrap(),
            );
        }
        Lang::negotiate(&uri.parse().unwrap(), &headers).0
    }

    #[test]
    fn japanese_unless_english_is_asked_for() {
        assert_eq!(negotiated("/", &[]), Lang::Ja);
        assert_eq!(negotiated("/?lang=en", &[]), Lang::En);
        assert_eq!(
            negotiated("/?x=1&lang=ja", &[("accept-language", "en")]),
            Lang::Ja
        );
        assert_eq!(
            negotiated("/", &[("accept-language", "en-GB,en;q=0.9")]),
            Lang::En
        );
        assert_eq!(
            negotiated("/", &[("accept-language", "fr, en;q=0.5, ja;q=0.8")]),
            Lang::Ja
        );
        assert_eq!(negotiated("/", &[("accept-language", "de")]), Lang::Ja);
        assert_eq!(
            negotiated("/", &[("cookie", "a=b; niji_lang=en")]),
            Lang::En
        );
        assert_eq!(
            negotiated("/?lang=ja", &[("cookie", "niji_lang=en")]),
            Lang::Ja
        );
    }

    #[test]
    fn both_catalogues_parse_and_have_the_same_keys() {
        let ja = Catalogue::parse(JA_TOML).unwrap();
        let en = Catalogue::parse(EN_TOML).unwrap();
        let mut ja_keys: Vec<&str> = ja.keys().collect();
        let mut en_keys: Vec<&str> = en.keys().collect();
        ja_keys.sort_unstable();
        en_keys.sort_unstable();
        assert_eq!(ja_keys, en_keys);
    }

    /// Every `t.s("…")` in a template names a key of the catalogues.
    #[test]
    fn every_key_the_templates_use_exists() {
        let ja = Catalogue::parse(JA_TOML).unwrap();
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("templates");
        let mut used = 0;
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            let text = std::fs::read_to_string(&path).unwrap();
            for piece in text.split("t.s(\"").skip(1) {
                let key = &piece[..piece.find('"').unwrap()];
                assert!(
                    ja.strings.contains_key(key),
                    "{}: no string `{key}`",
                    path.display()
                );
                used += 1;
            }
        }
        assert!(used > 50, "only {used} strings found in the templates");
    }
}
