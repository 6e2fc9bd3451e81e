//! The Merkle tree (FORMAT.md §6) against the RFC 6962 / RFC 9162 vectors of
//! the CT reference implementations (tests/vectors/rfc6962/SOURCE.md), and
//! properties: every inclusion proof of every index and size verifies, and
//! any change to leaf, index, size, path or root fails.

use proptest::prelude::*;
use sealgate_audit::Hash;
use sealgate_audit::merkle::{
    Frontier, ProofError, empty_root, inclusion_proof, inclusion_proof_from, leaf_hash, root, verify_inclusion,
};
use serde_json::Value;

fn unhex(s: &str) -> Vec<u8> {
    (0..s.len()).step_by(2).map(|i| u8::from_str_radix(&s[i..i + 2], 16).expect("hex")).collect()
}

fn h(s: &str) -> Hash {
    Hash::from_hex(s).expect("hash")
}

fn vectors() -> Value {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/vectors/rfc6962/merkle_tree.json");
    serde_json::from_str(&std::fs::read_to_string(path).expect("vectors")).expect("json")
}

fn ct_leaves(v: &Value) -> Vec<Hash> {
    v["leaf_inputs_hex"]
        .as_array()
        .expect("leaves")
        .iter()
        .map(|l| leaf_hash(&unhex(l.as_str().expect("hex"))))
        .collect()
}

#[test]
fn roots_of_every_size_match_the_ct_vectors() {
    let v = vectors();
    let leaves = ct_leaves(&v);
    let roots = v["roots_by_size"].as_array().expect("roots");
    assert_eq!(roots.len(), 9);
    assert_eq!(empty_root(), h(roots[0].as_str().expect("hex")));
    let mut f = Frontier::new();
    assert_eq!(f.root(), empty_root());
    for (n, want) in roots.iter().enumerate().skip(1) {
        let want = h(want.as_str().expect("hex"));
        assert_eq!(root(&leaves[..n]), want, "size {n}");
        f.push(leaves[n - 1]).expect("room");
        assert_eq!(f.root(), want, "frontier at size {n}");
    }
}

#[test]
fn inclusion_proofs_match_the_ct_vectors() {
    let v = vectors();
    let leaves = ct_leaves(&v);
    let roots = v["roots_by_size"].as_array().expect("roots");
    let cases = v["inclusion_proofs"].as_array().expect("proofs");
    assert_eq!(cases.len(), 5);
    for c in cases {
        let index = c["leaf_number"].as_u64().expect("n") - 1;
        let size = c["size"].as_u64().expect("size");
        let path: Vec<Hash> = c["path"].as_array().expect("path").iter().map(|p| h(p.as_str().expect("hex"))).collect();
        let n = usize::try_from(size).expect("small");
        assert_eq!(inclusion_proof(&leaves[..n], index).as_deref(), Some(&path[..]), "PATH({index}, {size})");
        let mut f = Frontier::new();
        let mut nodes = std::collections::HashMap::new();
        for l in &leaves[..n] {
            nodes.extend(f.push(*l).expect("room"));
        }
        assert_eq!(inclusion_proof_from(index, size, |id| nodes.get(&id).copied()), Some(path.clone()));
        let r = h(roots[n].as_str().expect("hex"));
        verify_inclusion(index, size, &leaves[index as usize], &path, &r).expect("vector verifies");
        // The wrong leaf, the neighbouring index, a cut or lengthened path: refused.
        assert!(verify_inclusion(index, size, &leaves[(index as usize + 1) % n], &path, &r).is_err() || n == 1);
        if size > 1 {
            assert!(verify_inclusion((index + 1) % size, size, &leaves[index as usize], &path, &r).is_err());
            assert_eq!(
                verify_inclusion(index, size, &leaves[index as usize], &path[..path.len() - 1], &r),
                Err(ProofError::PathLength)
            );
        }
        let mut longer = path.clone();
        longer.push(r);
        assert!(verify_inclusion(index, size, &leaves[index as usize], &longer, &r).is_err());
    }
}

fn tree(size: u64) -> Vec<Hash> {
    (0..size).map(|i| leaf_hash(&i.to_le_bytes())).collect()
}

fn flip(h: &Hash, bit: u8) -> Hash {
    let mut b = h.0;
    b[usize::from(bit / 8) % 32] ^= 1 << (bit % 8);
    Hash(b)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    /// Every index of every size proves, from the stored perfect nodes too.
    #[test]
    fn every_inclusion_proof_verifies(size in 1u64..300, pick in any::<u64>()) {
        let leaves = tree(size);
        let index = pick % size;
        let r = root(&leaves);
        let path = inclusion_proof(&leaves, index).expect("in range");
        prop_assert_eq!(verify_inclusion(index, size, &leaves[index as usize], &path, &r), Ok(()));
        let mut f = Frontier::new();
        let mut nodes = std::collections::HashMap::new();
        for l in &leaves {
            nodes.extend(f.push(*l).expect("room"));
        }
        prop_assert_eq!(f.root(), r);
        prop_assert_eq!(inclusion_proof_from(index, size, |id| nodes.get(&id).copied()), Some(path));
    }

    /// Any change to leaf, index, size, path or root fails.
    #[test]
    fn any_change_fails(size in 1u64..300, pick in any::<u64>(), what in 0u8..7, bit in any::<u8>(), delta in 1u64..300) {
        let leaves = tree(size);
        let index = pick % size;
        let r = root(&leaves);
        let mut path = inclusion_proof(&leaves, index).expect("in range");
        let (mut leaf, mut i, mut n, mut rt) = (leaves[index as usize], index, size, r);
        match what {
            0 => leaf = flip(&leaf, bit),
            1 => i = (index + delta) % (size + delta), // another index (perhaps out of range)
            // A size is only ever checked with the root signed beside it (RFC 9162 §2.1.3.2
            // alone does not bind the size: a proof of leaf 0 in 257 leaves also passes as
            // one in 258 leaves against the 257-leaf root), so a changed size brings its root.
            2 => { n = size + delta; rt = root(&tree(n)); }
            3 => { n = if size > 1 { size - 1 - delta % (size - 1) } else { 2 }; rt = root(&tree(n)); }
            4 if !path.is_empty() => { let k = bit as usize % path.len(); path[k] = flip(&path[k], bit); }
            4 => path.push(r),
            5 if !path.is_empty() => { path.pop(); }
            5 => path.push(leaf),
            _ => rt = flip(&rt, bit),
        }
        prop_assume!((leaf, i, n, rt, &path) != (leaves[index as usize], index, size, r, &inclusion_proof(&leaves, index).expect("in range")));
        prop_assert!(verify_inclusion(i, n, &leaf, &path, &rt).is_err(), "accepted: what {} i {} n {}", what, i, n);
    }
}
