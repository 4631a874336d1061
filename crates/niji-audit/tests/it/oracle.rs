//! Our tree against ct-merkle, an independent RFC 6962 implementation, on
//! random trees: the same roots, the same proofs byte for byte, and each
//! side's proofs verified by the other.

use ct_merkle::mem_backed_tree::MemoryBackedTree;
use ct_merkle::{ConsistencyProof, InclusionProof, RootHash};
use niji_audit::merkle::{self, MemoryTree};
use rand::{Rng, SeedableRng};
use sha2::Sha256;

#[test]
fn random_trees_agree_with_ct_merkle() {
    let mut rng = rand::rngs::StdRng::seed_from_u64(6962);
    for _ in 0..40 {
        let size: u64 = rng.random_range(1..=300);
        let entries: Vec<Vec<u8>> = (0..size)
            .map(|_| {
                let len = rng.random_range(0..64);
                (0..len).map(|_| rng.random()).collect()
            })
            .collect();
        let mut ours = MemoryTree::default();
        let mut theirs: MemoryBackedTree<Sha256, Vec<u8>> = MemoryBackedTree::new();
        for e in &entries {
            ours.push(e);
            theirs.push(e.clone());
        }
        let root = merkle::root(&ours, size).unwrap();
        let their_root = theirs.root();
        assert_eq!(
            root.as_slice(),
            their_root.as_bytes().as_slice(),
            "size {size}"
        );

        for _ in 0..10 {
            let index = rng.random_range(0..size);
            let proof = merkle::inclusion_proof(&ours, index, size).unwrap();
            let their_proof = theirs.prove_inclusion(index as usize);
            assert_eq!(
                proof.concat(),
                their_proof.as_bytes(),
                "leaf {index} of {size}"
            );
            // Ours verified by theirs, and theirs by ours.
            let ours_as_theirs = InclusionProof::<Sha256>::try_from_bytes(proof.concat()).unwrap();
            their_root
                .verify_inclusion(&entries[index as usize], index, &ours_as_theirs)
                .unwrap();
            let chunks: Vec<&[u8]> = their_proof.as_bytes().chunks(32).collect();
            let leaf = merkle::leaf_hash(&entries[index as usize]);
            merkle::verify_inclusion(index, size, &leaf, &chunks, &root).unwrap();
        }

        for _ in 0..10 {
            let first = rng.random_range(1..=size);
            let proof = merkle::consistency_proof(&ours, first, size).unwrap();
            let their_proof = theirs.prove_consistency((size - first) as usize);
            assert_eq!(proof.concat(), their_proof.as_bytes(), "{first} to {size}");
            let old = merkle::root(&ours, first).unwrap();
            let their_old = RootHash::<Sha256>::new(old.into(), first);
            let ours_as_theirs =
                ConsistencyProof::<Sha256>::try_from_bytes(proof.concat()).unwrap();
            their_root
                .verify_consistency(&their_old, &ours_as_theirs)
                .unwrap();
            let chunks: Vec<&[u8]> = their_proof.as_bytes().chunks(32).collect();
            merkle::verify_consistency(first, size, &old, &root, &chunks).unwrap();
        }
    }
}
