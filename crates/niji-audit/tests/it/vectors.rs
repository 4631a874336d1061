//! The RFC 6962 test vectors of transparency-dev/merkle
//! (../shared/fixtures/merkle/): every inclusion and consistency case
//! verifies or fails as its `wantErr` says, and the reference tree's roots
//! for sizes 0–8 come out of our tree and our proofs.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use niji_audit::merkle::{self, MemoryTree};
use serde_json::Value;
use std::path::{Path, PathBuf};

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/fixtures/merkle")
}

fn cases(kind: &str) -> Vec<(PathBuf, Value)> {
    let mut out = Vec::new();
    let mut dirs = vec![fixtures().join(kind)];
    while let Some(dir) = dirs.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                dirs.push(path);
            } else if path.extension().is_some_and(|e| e == "json") {
                let value = serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
                out.push((path, value));
            }
        }
    }
    out.sort_by(|a, b| a.0.cmp(&b.0));
    out
}

fn bytes(v: &Value) -> Vec<u8> {
    STANDARD.decode(v.as_str().unwrap_or("")).unwrap()
}

fn proof(v: &Value) -> Vec<Vec<u8>> {
    v.as_array()
        .map(|a| a.iter().map(bytes).collect())
        .unwrap_or_default()
}

#[test]
fn inclusion_vectors_verify_as_they_say() {
    let cases = cases("inclusion");
    assert!(cases.len() > 50, "{} inclusion cases", cases.len());
    for (path, c) in &cases {
        let got = merkle::verify_inclusion(
            c["leafIdx"].as_u64().unwrap(),
            c["treeSize"].as_u64().unwrap(),
            &bytes(&c["leafHash"]),
            &proof(&c["proof"]),
            &bytes(&c["root"]),
        );
        assert_eq!(
            got.is_err(),
            c["wantErr"].as_bool().unwrap(),
            "{}: {got:?}",
            path.display()
        );
    }
}

#[test]
fn consistency_vectors_verify_as_they_say() {
    let cases = cases("consistency");
    assert!(cases.len() > 50, "{} consistency cases", cases.len());
    for (path, c) in &cases {
        let got = merkle::verify_consistency(
            c["size1"].as_u64().unwrap(),
            c["size2"].as_u64().unwrap(),
            &bytes(&c["root1"]),
            &bytes(&c["root2"]),
            &proof(&c["proof"]),
        );
        assert_eq!(
            got.is_err(),
            c["wantErr"].as_bool().unwrap(),
            "{}: {got:?}",
            path.display()
        );
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn reference() -> (Vec<Vec<u8>>, Vec<String>) {
    let text = std::fs::read_to_string(fixtures().join("reference-tree.json")).unwrap();
    let v: Value = serde_json::from_str(&text).unwrap();
    let leaves = v["leaf_inputs_hex"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| {
            let h = h.as_str().unwrap();
            (0..h.len())
                .step_by(2)
                .map(|i| u8::from_str_radix(&h[i..i + 2], 16).unwrap())
                .collect()
        })
        .collect();
    let roots = v["root_hex_by_size"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r.as_str().unwrap().to_owned())
        .collect();
    (leaves, roots)
}

#[test]
fn the_reference_tree_has_the_published_roots_and_its_proofs_verify() {
    let (leaves, roots) = reference();
    let mut tree = MemoryTree::default();
    assert_eq!(hex(&merkle::root(&tree, 0).unwrap()), roots[0]);
    for leaf in &leaves {
        tree.push(leaf);
    }
    for size in 0..=leaves.len() as u64 {
        let root = merkle::root(&tree, size).unwrap();
        assert_eq!(hex(&root), roots[size as usize], "size {size}");
        for index in 0..size {
            let proof = merkle::inclusion_proof(&tree, index, size).unwrap();
            let leaf = merkle::leaf_hash(&leaves[index as usize]);
            merkle::verify_inclusion(index, size, &leaf, &proof, &root).unwrap();
            // The same proof for another leaf fails.
            let other = merkle::leaf_hash(b"not in the tree");
            assert!(merkle::verify_inclusion(index, size, &other, &proof, &root).is_err());
        }
        for first in 1..=size {
            let proof = merkle::consistency_proof(&tree, first, size).unwrap();
            let old = merkle::root(&tree, first).unwrap();
            merkle::verify_consistency(first, size, &old, &root, &proof).unwrap();
            if first < size {
                let wrong = merkle::root(&tree, first - 1).unwrap();
                assert!(merkle::verify_consistency(first, size, &wrong, &root, &proof).is_err());
            }
        }
    }
}
