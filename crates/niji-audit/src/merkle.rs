//! RFC 9162 §2.1 Merkle tree hashing, proofs and their verification.

use ring::digest::{Context, SHA256, digest};

/// A SHA-256 hash.
pub type Hash = [u8; 32];

/// Why a proof did not verify, or could not be made.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProofError {
    /// The sizes or index asked for make no proof.
    #[error("{0}")]
    Invalid(String),
    /// A hash in the proof or a root is not 32 bytes.
    #[error("a hash of {0} bytes (32 expected)")]
    Length(usize),
    /// The proof does not lead to the root.
    #[error("the proof does not lead to the root")]
    Mismatch,
    /// The stored subtrees lack one the proof needs.
    #[error("the log has no subtree at level {level}, index {index}")]
    Missing {
        /// Its level (0 for a leaf).
        level: u32,
        /// Its index at that level.
        index: u64,
    },
}

fn sha256(parts: &[&[u8]]) -> Hash {
    let mut ctx = Context::new(&SHA256);
    for p in parts {
        ctx.update(p);
    }
    let mut out = [0u8; 32];
    out.copy_from_slice(ctx.finish().as_ref());
    out
}

/// The hash of a log entry: `SHA-256(0x00 ‖ entry)`.
pub fn leaf_hash(entry: &[u8]) -> Hash {
    sha256(&[&[0x00], entry])
}

/// The hash of an inner node: `SHA-256(0x01 ‖ left ‖ right)`.
pub fn node_hash(left: &Hash, right: &Hash) -> Hash {
    sha256(&[&[0x01], left, right])
}

/// The root of the empty tree: `SHA-256()` of nothing.
pub fn empty_root() -> Hash {
    let mut out = [0u8; 32];
    out.copy_from_slice(digest(&SHA256, b"").as_ref());
    out
}

/// The hashes of the complete subtrees of a log: level 0 holds the leaf
/// hashes, and the node at `(level, index)` covers leaves
/// `index·2^level .. (index+1)·2^level`.
pub trait Subtrees {
    /// The hash at `(level, index)`, if that subtree is complete.
    fn subtree(&self, level: u32, index: u64) -> Result<Hash, ProofError>;
}

/// The largest power of two strictly below `n` (n ≥ 2).
fn split(n: u64) -> u64 {
    debug_assert!(n >= 2);
    1 << (63 - (n - 1).leading_zeros())
}

/// MTH of leaves `start .. start+len`, a range the RFC's recursion makes
/// (its start a multiple of the largest power of two not above `len`).
fn range_hash(tree: &impl Subtrees, start: u64, len: u64) -> Result<Hash, ProofError> {
    if len.is_power_of_two() {
        let level = len.trailing_zeros();
        return tree.subtree(level, start >> level);
    }
    let k = split(len);
    Ok(node_hash(
        &range_hash(tree, start, k)?,
        &range_hash(tree, start + k, len - k)?,
    ))
}

/// The root of the tree of the first `size` leaves.
pub fn root(tree: &impl Subtrees, size: u64) -> Result<Hash, ProofError> {
    if size == 0 {
        Ok(empty_root())
    } else {
        range_hash(tree, 0, size)
    }
}

/// The inclusion proof of leaf `index` in the tree of `size` leaves
/// (RFC 9162 §2.1.3.1), from the leaf up.
pub fn inclusion_proof(
    tree: &impl Subtrees,
    index: u64,
    size: u64,
) -> Result<Vec<Hash>, ProofError> {
    if index >= size {
        return Err(ProofError::Invalid(format!(
            "leaf {index} is not in a tree of {size}"
        )));
    }
    let mut proof = Vec::new();
    path(tree, index, 0, size, &mut proof)?;
    Ok(proof)
}

/// PATH(m, D[start .. start+n]), appended bottom-up.
fn path(
    tree: &impl Subtrees,
    m: u64,
    start: u64,
    n: u64,
    out: &mut Vec<Hash>,
) -> Result<(), ProofError> {
    if n == 1 {
        return Ok(());
    }
    let k = split(n);
    if m < k {
        path(tree, m, start, k, out)?;
        out.push(range_hash(tree, start + k, n - k)?);
    } else {
        path(tree, m - k, start + k, n - k, out)?;
        out.push(range_hash(tree, start, k)?);
    }
    Ok(())
}

/// The consistency proof between the trees of `first` and `second`
/// leaves (RFC 9162 §2.1.4.1); empty when they are equal.
pub fn consistency_proof(
    tree: &impl Subtrees,
    first: u64,
    second: u64,
) -> Result<Vec<Hash>, ProofError> {
    if first == 0 || first > second {
        return Err(ProofError::Invalid(format!(
            "a consistency proof needs 0 < from ≤ to, not {first} to {second}"
        )));
    }
    let mut proof = Vec::new();
    if first < second {
        subproof(tree, first, 0, second, true, &mut proof)?;
    }
    Ok(proof)
}

/// SUBPROOF(m, D[start .. start+n], b), appended bottom-up.
fn subproof(
    tree: &impl Subtrees,
    m: u64,
    start: u64,
    n: u64,
    whole: bool,
    out: &mut Vec<Hash>,
) -> Result<(), ProofError> {
    if m == n {
        if !whole {
            out.push(range_hash(tree, start, n)?);
        }
        return Ok(());
    }
    let k = split(n);
    if m <= k {
        subproof(tree, m, start, k, whole, out)?;
        out.push(range_hash(tree, start + k, n - k)?);
    } else {
        subproof(tree, m - k, start + k, n - k, false, out)?;
        out.push(range_hash(tree, start, k)?);
    }
    Ok(())
}

fn hash_of(bytes: &[u8]) -> Result<Hash, ProofError> {
    bytes
        .try_into()
        .map_err(|_| ProofError::Length(bytes.len()))
}

/// Checks that the leaf hashed `leaf` is at `index` of the tree of `size`
/// leaves whose root is `root` (RFC 9162 §2.1.3.2).
pub fn verify_inclusion(
    index: u64,
    size: u64,
    leaf: &[u8],
    proof: &[impl AsRef<[u8]>],
    root: &[u8],
) -> Result<(), ProofError> {
    let (leaf, root) = (hash_of(leaf)?, hash_of(root)?);
    if index >= size {
        return Err(ProofError::Invalid(format!(
            "leaf {index} is not in a tree of {size}"
        )));
    }
    let (mut f, mut s) = (index, size - 1);
    let mut r = leaf;
    for p in proof {
        let p = hash_of(p.as_ref())?;
        if s == 0 {
            return Err(ProofError::Mismatch);
        }
        if f & 1 == 1 || f == s {
            r = node_hash(&p, &r);
            while f & 1 == 0 && f != 0 {
                f >>= 1;
                s >>= 1;
            }
        } else {
            r = node_hash(&r, &p);
        }
        f >>= 1;
        s >>= 1;
    }
    if s == 0 && r == root {
        Ok(())
    } else {
        Err(ProofError::Mismatch)
    }
}

/// Checks that the tree of `second` leaves with root `root2` extends the
/// tree of `first` leaves with root `root1` (RFC 9162 §2.1.4.2). A proof
/// from the empty tree proves nothing and is refused; between equal sizes
/// the proof is empty and the roots are the same bytes.
pub fn verify_consistency(
    first: u64,
    second: u64,
    root1: &[u8],
    root2: &[u8],
    proof: &[impl AsRef<[u8]>],
) -> Result<(), ProofError> {
    if first > second {
        return Err(ProofError::Invalid(format!(
            "a tree of {first} leaves cannot precede one of {second}"
        )));
    }
    if first == 0 {
        return Err(ProofError::Invalid(
            "a consistency proof from the empty tree proves nothing".into(),
        ));
    }
    if first == second {
        // The same tree: nothing to prove but that the roots are one.
        return if proof.is_empty() && root1 == root2 {
            Ok(())
        } else {
            Err(ProofError::Mismatch)
        };
    }
    let (root1, root2) = (hash_of(root1)?, hash_of(root2)?);
    let mut path: Vec<Hash> = proof
        .iter()
        .map(|p| hash_of(p.as_ref()))
        .collect::<Result<_, _>>()?;
    if first.is_power_of_two() {
        path.insert(0, root1);
    }
    let Some((&head, rest)) = path.split_first() else {
        return Err(ProofError::Mismatch);
    };
    let (mut f, mut s) = (first - 1, second - 1);
    while f & 1 == 1 {
        f >>= 1;
        s >>= 1;
    }
    let (mut fr, mut sr) = (head, head);
    for c in rest {
        if s == 0 {
            return Err(ProofError::Mismatch);
        }
        if f & 1 == 1 || f == s {
            fr = node_hash(c, &fr);
            sr = node_hash(c, &sr);
            while f & 1 == 0 && f != 0 {
                f >>= 1;
                s >>= 1;
            }
        } else {
            sr = node_hash(&sr, c);
        }
        f >>= 1;
        s >>= 1;
    }
    if fr == root1 && sr == root2 && s == 0 {
        Ok(())
    } else {
        Err(ProofError::Mismatch)
    }
}

/// A log's complete subtrees in memory, kept as it grows: each append adds
/// its leaf and the nodes it completes (two writes on average).
#[derive(Debug, Clone, Default)]
pub struct MemoryTree {
    levels: Vec<Vec<Hash>>,
}

impl MemoryTree {
    /// Appends an entry; returns its index.
    pub fn push(&mut self, entry: &[u8]) -> u64 {
        self.push_hash(leaf_hash(entry))
    }

    /// Appends a leaf by its hash; returns its index.
    pub fn push_hash(&mut self, leaf: Hash) -> u64 {
        let made = completed(self.len(), leaf, |level, index| self.subtree(level, index))
            .expect("a memory tree holds every subtree it completed");
        for (level, hash) in made {
            if self.levels.len() <= level as usize {
                self.levels.push(Vec::new());
            }
            self.levels[level as usize].push(hash);
        }
        self.len() - 1
    }

    /// The number of leaves.
    pub fn len(&self) -> u64 {
        self.levels.first().map_or(0, |l| l.len() as u64)
    }

    /// Whether it has no leaf.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// The subtrees that appending leaf `index` (hashed `leaf`) completes, from
/// the leaf up: `(level, hash)`. `stored(level, i)` reads an existing one.
pub fn completed<E>(
    index: u64,
    leaf: Hash,
    mut stored: impl FnMut(u32, u64) -> Result<Hash, E>,
) -> Result<Vec<(u32, Hash)>, E> {
    let mut out = vec![(0, leaf)];
    let (mut hash, mut i, mut level) = (leaf, index, 0u32);
    // A right child completes its parent.
    while i & 1 == 1 {
        hash = node_hash(&stored(level, i - 1)?, &hash);
        i >>= 1;
        level += 1;
        out.push((level, hash));
    }
    Ok(out)
}

impl Subtrees for MemoryTree {
    fn subtree(&self, level: u32, index: u64) -> Result<Hash, ProofError> {
        self.levels
            .get(level as usize)
            .and_then(|l| l.get(index as usize))
            .copied()
            .ok_or(ProofError::Missing { level, index })
    }
}
