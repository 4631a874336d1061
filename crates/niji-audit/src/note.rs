//! Signed checkpoints: the C2SP `tlog-checkpoint` text (origin, tree
//! size, base64 root hash) inside a C2SP `signed-note`, signed with
//! Ed25519.
//!
//! A note is its text (non-empty lines, each ending in a newline), a blank
//! line, then signature lines `— <key name> <base64(key id ‖ signature)>`.
//! The key id is the first four bytes of SHA-256(name ‖ "\n" ‖ 0x01 ‖
//! public key), 0x01 naming Ed25519; the signature covers the text. A
//! verifier key is written `<name>+<key id, hex>+<base64(0x01 ‖ public
//! key)>`.

use crate::merkle::Hash;
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use ring::digest::{Context, SHA256};
use ring::signature::{ED25519, Ed25519KeyPair, KeyPair, UnparsedPublicKey};

/// The signature type byte of Ed25519 in key ids and verifier keys.
const ED25519_TYPE: u8 = 0x01;

/// Why a note or checkpoint was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NoteError {
    /// The text is not a well-formed note or checkpoint.
    #[error("malformed: {0}")]
    Malformed(String),
    /// No signature by the verifier's key verifies.
    #[error("no valid signature by `{0}`")]
    Unverified(String),
    /// The key is not usable.
    #[error("key: {0}")]
    Key(String),
}

/// A checkpoint: the log's state at one size.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Checkpoint {
    /// The log's origin line (its unique name).
    pub origin: String,
    /// Leaves in the tree.
    pub size: u64,
    /// The root hash of the tree of `size` leaves.
    pub root: Hash,
}

impl Checkpoint {
    /// The checkpoint's text: `origin\nsize\nbase64(root)\n`.
    pub fn text(&self) -> String {
        format!(
            "{}\n{}\n{}\n",
            self.origin,
            self.size,
            STANDARD.encode(self.root)
        )
    }

    /// Reads a checkpoint's text (extension lines after the root are
    /// allowed and ignored).
    pub fn parse(text: &str) -> Result<Checkpoint, NoteError> {
        let bad = |why: &str| NoteError::Malformed(format!("checkpoint: {why}"));
        let mut lines = text.split_terminator('\n');
        let origin = lines
            .next()
            .filter(|o| !o.is_empty())
            .ok_or_else(|| bad("no origin"))?;
        let size = lines
            .next()
            .filter(|s| {
                !s.is_empty()
                    && s.bytes().all(|b| b.is_ascii_digit())
                    && (s.len() == 1 || !s.starts_with('0'))
            })
            .and_then(|s| s.parse().ok())
            .ok_or_else(|| bad("the size is not a decimal number"))?;
        let root = lines
            .next()
            .and_then(|r| STANDARD.decode(r).ok())
            .and_then(|r| <Hash>::try_from(r.as_slice()).ok())
            .ok_or_else(|| bad("the root is not a base64 SHA-256 hash"))?;
        Ok(Checkpoint {
            origin: origin.to_owned(),
            size,
            root,
        })
    }
}

fn key_id(name: &str, public: &[u8]) -> [u8; 4] {
    let mut ctx = Context::new(&SHA256);
    ctx.update(name.as_bytes());
    ctx.update(b"\n");
    ctx.update(&[ED25519_TYPE]);
    ctx.update(public);
    let digest = ctx.finish();
    let mut id = [0u8; 4];
    id.copy_from_slice(&digest.as_ref()[..4]);
    id
}

fn valid_name(name: &str) -> bool {
    !name.is_empty()
        && !name.contains('+')
        && !name.chars().any(|c| c.is_whitespace() || c.is_control())
}

/// The log's signing key: a name and an Ed25519 key pair.
pub struct LogKey {
    name: String,
    pair: Ed25519KeyPair,
}

impl LogKey {
    /// The key of `name` from a 32-byte Ed25519 seed.
    pub fn from_seed(name: &str, seed: &[u8]) -> Result<LogKey, NoteError> {
        if !valid_name(name) {
            return Err(NoteError::Key(format!(
                "`{name}` is not a key name (no spaces or +)"
            )));
        }
        let pair = Ed25519KeyPair::from_seed_unchecked(seed)
            .map_err(|_| NoteError::Key("an Ed25519 seed is 32 bytes".into()))?;
        Ok(LogKey {
            name: name.to_owned(),
            pair,
        })
    }

    /// The key of `name` from a key pair held elsewhere (the keystore).
    pub fn from_pair(name: &str, pair: Ed25519KeyPair) -> Result<LogKey, NoteError> {
        if !valid_name(name) {
            return Err(NoteError::Key(format!(
                "`{name}` is not a key name (no spaces or +)"
            )));
        }
        Ok(LogKey {
            name: name.to_owned(),
            pair,
        })
    }

    /// The log's conventional origin and key name for a key pair:
    /// `niji-log-` and the first eight hex digits of SHA-256(public key),
    /// so that two platforms' logs never share an origin.
    pub fn origin_for(pair: &Ed25519KeyPair) -> String {
        let digest = ring::digest::digest(&SHA256, pair.public_key().as_ref());
        format!("niji-log-{}", hex(&digest.as_ref()[..4]))
    }

    /// The key's name (the log's origin).
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The verifier key anyone checks its notes with.
    pub fn verifier(&self) -> String {
        let public = self.pair.public_key().as_ref();
        let mut typed = vec![ED25519_TYPE];
        typed.extend_from_slice(public);
        format!(
            "{}+{}+{}",
            self.name,
            hex(&key_id(&self.name, public)),
            STANDARD.encode(typed)
        )
    }

    /// The public key, raw (32 bytes).
    pub fn public_key(&self) -> &[u8] {
        self.pair.public_key().as_ref()
    }

    /// `text` as a signed note. The text must be non-empty lines, each
    /// ending in a newline.
    pub fn sign(&self, text: &str) -> Result<String, NoteError> {
        check_text(text)?;
        let signature = self.pair.sign(text.as_bytes());
        let mut blob = key_id(&self.name, self.public_key()).to_vec();
        blob.extend_from_slice(signature.as_ref());
        Ok(format!(
            "{text}\n— {} {}\n",
            self.name,
            STANDARD.encode(blob)
        ))
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn check_text(text: &str) -> Result<(), NoteError> {
    if text.is_empty() || !text.ends_with('\n') {
        return Err(NoteError::Malformed(
            "the text must end in a newline".into(),
        ));
    }
    if text.split_terminator('\n').any(str::is_empty) {
        return Err(NoteError::Malformed("the text has a blank line".into()));
    }
    if text.chars().any(|c| c.is_control() && c != '\n') {
        return Err(NoteError::Malformed(
            "the text holds a control character".into(),
        ));
    }
    Ok(())
}

/// A verifier key (`name+id+base64`) read.
struct Verifier {
    name: String,
    id: [u8; 4],
    public: Vec<u8>,
}

fn parse_verifier(vkey: &str) -> Result<Verifier, NoteError> {
    let bad = |why: &str| NoteError::Key(format!("verifier key: {why}"));
    let mut parts = vkey.splitn(3, '+');
    let (Some(name), Some(id), Some(key)) = (parts.next(), parts.next(), parts.next()) else {
        return Err(bad("expected name+id+key"));
    };
    if !valid_name(name) {
        return Err(bad("bad name"));
    }
    let typed = STANDARD
        .decode(key)
        .map_err(|_| bad("the key is not base64"))?;
    let Some((&ED25519_TYPE, public)) = typed.split_first() else {
        return Err(bad("not an Ed25519 key"));
    };
    if public.len() != 32 {
        return Err(bad("an Ed25519 key is 32 bytes"));
    }
    let want = key_id(name, public);
    if id.len() != 8 || hex(&want) != id {
        return Err(bad("the key id does not match the key"));
    }
    Ok(Verifier {
        name: name.to_owned(),
        id: want,
        public: public.to_vec(),
    })
}

/// Checks a signed note against a verifier key and returns its text.
pub fn open(note: &str, vkey: &str) -> Result<String, NoteError> {
    let verifier = parse_verifier(vkey)?;
    let split = note
        .rfind("\n\n")
        .ok_or_else(|| NoteError::Malformed("no blank line before the signatures".into()))?;
    let (text, signatures) = (&note[..=split], &note[split + 2..]);
    check_text(text)?;
    if signatures.is_empty() || !signatures.ends_with('\n') {
        return Err(NoteError::Malformed("no signature lines".into()));
    }
    let key = UnparsedPublicKey::new(&ED25519, &verifier.public);
    for line in signatures.split_terminator('\n') {
        let rest = line
            .strip_prefix("— ")
            .ok_or_else(|| NoteError::Malformed(format!("not a signature line: {line:?}")))?;
        let (name, blob) = rest
            .split_once(' ')
            .ok_or_else(|| NoteError::Malformed(format!("not a signature line: {line:?}")))?;
        let blob = STANDARD
            .decode(blob)
            .map_err(|_| NoteError::Malformed("a signature is not base64".into()))?;
        if name != verifier.name || blob.len() < 4 || blob[..4] != verifier.id {
            continue; // another key's signature
        }
        if key.verify(text.as_bytes(), &blob[4..]).is_ok() {
            return Ok(text.to_owned());
        }
    }
    Err(NoteError::Unverified(verifier.name))
}

/// Checks a signed checkpoint against the log's verifier key.
pub fn open_checkpoint(note: &str, vkey: &str) -> Result<Checkpoint, NoteError> {
    Checkpoint::parse(&open(note, vkey)?)
}
