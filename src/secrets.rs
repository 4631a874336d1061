//! Where secrets come from: an environment variable, or a prompt on the
//! terminal. Never a flag (it would show in `ps` and shell history) and never
//! the configuration file.

use anyhow::{Context, bail};
use niji_core::SecretString;
use std::io::IsTerminal;

/// The keystore passphrase.
pub const PASSPHRASE: &str = "NIJI_PASSPHRASE";
/// The new passphrase of `niji keys passphrase`.
pub const NEW_PASSPHRASE: &str = "NIJI_NEW_PASSPHRASE";
/// The admin password of `niji init`, and an admin's password where a
/// command acts as one.
pub const ADMIN_PASSWORD: &str = "NIJI_ADMIN_PASSWORD";
/// The new account's password of `niji accounts add`.
pub const ACCOUNT_PASSWORD: &str = "NIJI_ACCOUNT_PASSWORD";
/// The secret `niji keys import` keeps (a provider's client secret).
pub const CLIENT_SECRET: &str = "NIJI_CLIENT_SECRET";

/// Whether a prompt asks once, or twice and compares (for a new secret).
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Ask {
    Once,
    Twice,
    /// Twice, but an empty first entry means "none": the caller generates one.
    TwiceOrEmpty,
}

/// Reads `var`, or asks on the terminal. `None` when neither is possible, so
/// the caller decides whether that is an error or a cue to generate one.
pub fn read(var: &str, what: &str, ask: Ask) -> anyhow::Result<Option<SecretString>> {
    if let Ok(value) = std::env::var(var) {
        return Ok(Some(SecretString::new(value)));
    }
    if !std::io::stdin().is_terminal() {
        return Ok(None);
    }
    let hint = if ask == Ask::TwiceOrEmpty {
        " (leave empty to generate one)"
    } else {
        ""
    };
    let first = prompt(&format!("{what}{hint}: "))?;
    if ask == Ask::TwiceOrEmpty && first.expose().is_empty() {
        return Ok(None);
    }
    if ask != Ask::Once {
        let again = prompt(&format!("{what} again: "))?;
        if again.expose() != first.expose() {
            bail!("the two {what} entries differ; nothing was changed");
        }
    }
    Ok(Some(first))
}

/// Like [`read`], but a missing secret is an error that says how to give it.
pub fn require(var: &str, what: &str, ask: Ask) -> anyhow::Result<SecretString> {
    read(var, what, ask)?.with_context(|| {
        format!("{var} is not set and there is no terminal to ask for the {what} on")
    })
}

fn prompt(text: &str) -> anyhow::Result<SecretString> {
    rpassword::prompt_password(text)
        .map(SecretString::new)
        .context("reading from the terminal")
}
