//! Strings that hold secrets.
//!
//! A passphrase or a password passes through several layers (environment,
//! prompt, key derivation, hashing). Wrapping it in [`SecretString`] keeps it
//! out of `Debug` output, so that a stray `{:?}` in a log line or an error
//! cannot leak it, and wipes its bytes from memory when it is dropped.

use std::fmt;
use zeroize::Zeroizing;

/// A secret string: a keystore passphrase or an account password.
///
/// It has no `Display`, and its `Debug` prints only `SecretString(<redacted>)`.
/// The memory holding it is zeroed on drop.
#[derive(Clone)]
pub struct SecretString(Zeroizing<String>);

impl SecretString {
    /// Wraps a secret.
    pub fn new(secret: String) -> Self {
        Self(Zeroizing::new(secret))
    }

    /// The secret itself, for the one place that must use it (key derivation,
    /// password hashing). Do not format it.
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// Its length in characters, for strength checks that must not reveal it.
    pub fn char_count(&self) -> usize {
        self.0.chars().count()
    }
}

impl fmt::Debug for SecretString {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SecretString(<redacted>)")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_never_shows_the_secret() {
        let secret = SecretString::new("correct horse battery staple".to_owned());
        let printed = format!("{secret:?} {secret:#?}");
        assert!(!printed.contains("horse"), "{printed}");
        assert!(printed.contains("redacted"));
        assert_eq!(secret.expose(), "correct horse battery staple");
        assert_eq!(secret.char_count(), 28);
    }
}
