//! The Merkle tree over the chain (FORMAT.md §6), in the shape of RFC 9162
//! §2.1 (Certificate Transparency v2, unchanged from RFC 6962): leaf hash
//! `SHA-256(0x00 || leaf)`, interior node `SHA-256(0x01 || left || right)`,
//! and a tree of `n` leaves split at the largest power of two below `n`.
//! Leaf `i` of the audit tree is the 32-byte hash of record `i + 1`.
//!
//! Besides the reference definitions (MTH, PATH) this module works on
//! **perfect nodes**: `(level, idx)` names the complete subtree over leaves
//! `idx·2^level .. (idx+1)·2^level`. Every node of any RFC 9162 tree is a
//! perfect node or a fold of a few of them along its right edge, so a store
//! that keeps the perfect nodes answers any inclusion proof in O(log n)
//! lookups ([`proof_nodes`], [`inclusion_proof_from`]), and a [`Frontier`]
//! extends it one leaf at a time.

use aws_lc_rs::digest;

use crate::Hash;

/// A perfect node: the complete subtree of `2^level` leaves starting at leaf
/// `idx << level`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct NodeId {
    /// Height above the leaves (0: a leaf hash).
    pub level: u32,
    /// Position among the nodes of this level.
    pub idx: u64,
}

/// Why an inclusion proof was refused. Deliberately one case per cause the
/// verifier can name; a proof that is well formed but wrong is
/// [`ProofError::RootMismatch`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ProofError {
    /// The index is not below the tree size.
    #[error("index {index} is not in a tree of {size} leaves")]
    IndexOutOfRange {
        /// The leaf index.
        index: u64,
        /// The tree size.
        size: u64,
    },
    /// The path is longer or shorter than a tree of this size needs.
    #[error("the path has the wrong length for this index and tree size")]
    PathLength,
    /// The path leads to another root.
    #[error("the path does not lead to the signed tree root")]
    RootMismatch,
}

fn sha256(parts: &[&[u8]]) -> Hash {
    let mut ctx = digest::Context::new(&digest::SHA256);
    for p in parts {
        ctx.update(p);
    }
    let mut h = [0u8; 32];
    h.copy_from_slice(ctx.finish().as_ref());
    Hash(h)
}

/// RFC 9162 §2.1.1: the hash of a leaf, `SHA-256(0x00 || data)`.
pub fn leaf_hash(data: &[u8]) -> Hash {
    sha256(&[&[0x00], data])
}

/// RFC 9162 §2.1.1: an interior node, `SHA-256(0x01 || left || right)`.
pub fn node_hash(left: &Hash, right: &Hash) -> Hash {
    sha256(&[&[0x01], &left.0, &right.0])
}

/// The root of the empty tree: `SHA-256()` of nothing.
pub fn empty_root() -> Hash {
    sha256(&[])
}

/// The largest power of two strictly below `n` (`n >= 2`).
fn split(n: u64) -> u64 {
    1 << (63 - (n - 1).leading_zeros())
}

/// MTH (RFC 9162 §2.1.1) over leaf *hashes*: the reference definition,
/// recursive, O(n).
pub fn root(leaves: &[Hash]) -> Hash {
    match leaves.len() {
        0 => empty_root(),
        1 => leaves[0],
        n => {
            let k = split(n as u64) as usize;
            node_hash(&root(&leaves[..k]), &root(&leaves[k..]))
        }
    }
}

/// PATH (RFC 9162 §2.1.3.1) of leaf `index` over leaf *hashes*: the
/// reference definition, O(n); `None` when `index` is out of range.
pub fn inclusion_proof(leaves: &[Hash], index: u64) -> Option<Vec<Hash>> {
    let index = usize::try_from(index).ok().filter(|i| *i < leaves.len())?;
    fn path(m: usize, d: &[Hash], out: &mut Vec<Hash>) {
        if d.len() <= 1 {
            return;
        }
        let k = split(d.len() as u64) as usize;
        if m < k {
            path(m, &d[..k], out);
            out.push(root(&d[k..]));
        } else {
            path(m - k, &d[k..], out);
            out.push(root(&d[..k]));
        }
    }
    let mut out = Vec::new();
    path(index, leaves, &mut out);
    Some(out)
}

/// RFC 9162 §2.1.3.2: whether `path` proves that `leaf` (a leaf hash) is leaf
/// `index` of the tree of `size` leaves whose root is `root`.
pub fn verify_inclusion(index: u64, size: u64, leaf: &Hash, path: &[Hash], root: &Hash) -> Result<(), ProofError> {
    if index >= size {
        return Err(ProofError::IndexOutOfRange { index, size });
    }
    let (mut fn_, mut sn, mut r) = (index, size - 1, *leaf);
    for p in path {
        if sn == 0 {
            return Err(ProofError::PathLength);
        }
        if fn_ & 1 == 1 || fn_ == sn {
            r = node_hash(p, &r);
            while fn_ & 1 == 0 && fn_ != 0 {
                fn_ >>= 1;
                sn >>= 1;
            }
        } else {
            r = node_hash(&r, p);
        }
        fn_ >>= 1;
        sn >>= 1;
    }
    if sn != 0 {
        return Err(ProofError::PathLength);
    }
    if r != *root {
        return Err(ProofError::RootMismatch);
    }
    Ok(())
}

/// The perfect nodes whose fold is the subtree over leaves `lo..hi`, left to
/// right (largest first). `lo` must be a multiple of the largest power of two
/// not above `hi - lo`, which holds for every subtree of an RFC 9162 tree.
fn cover(mut lo: u64, hi: u64) -> Vec<NodeId> {
    let mut out = Vec::new();
    while lo < hi {
        let level = 63 - (hi - lo).leading_zeros();
        out.push(NodeId { level, idx: lo >> level });
        lo += 1 << level;
    }
    out
}

/// The hash of a subtree made of `nodes` (as [`cover`] lists them): RFC
/// 9162's split puts the largest perfect node on the left at every step.
fn fold(nodes: &[Hash]) -> Option<Hash> {
    let (last, rest) = nodes.split_last()?;
    Some(rest.iter().rev().fold(*last, |acc, n| node_hash(n, &acc)))
}

/// For the inclusion proof of leaf `index` in a tree of `size` leaves: for
/// each path element, leaf to root, the perfect nodes it folds. `None` when
/// `index >= size`.
pub fn proof_nodes(index: u64, size: u64) -> Option<Vec<Vec<NodeId>>> {
    if index >= size {
        return None;
    }
    let (mut lo, mut hi) = (0u64, size);
    let mut out = Vec::new();
    while hi - lo > 1 {
        let k = split(hi - lo);
        if index - lo < k {
            out.push(cover(lo + k, hi));
            hi = lo + k;
        } else {
            out.push(cover(lo, lo + k));
            lo += k;
        }
    }
    out.reverse();
    Some(out)
}

/// The perfect nodes whose fold is the root of a tree of `size` leaves
/// (one per bit of `size`, largest first).
pub fn root_nodes(size: u64) -> Vec<NodeId> {
    cover(0, size)
}

/// The root of a tree of `size` leaves from its [`root_nodes`], looked up by
/// `get`; `None` when a node is missing.
pub fn root_from(size: u64, mut get: impl FnMut(NodeId) -> Option<Hash>) -> Option<Hash> {
    if size == 0 {
        return Some(empty_root());
    }
    let hashes: Option<Vec<Hash>> = root_nodes(size).into_iter().map(&mut get).collect();
    fold(&hashes?)
}

/// The inclusion proof of leaf `index` in a tree of `size` leaves, from
/// perfect nodes looked up by `get` (see [`proof_nodes`]); `None` when
/// `index >= size` or a node is missing.
pub fn inclusion_proof_from(index: u64, size: u64, mut get: impl FnMut(NodeId) -> Option<Hash>) -> Option<Vec<Hash>> {
    proof_nodes(index, size)?
        .into_iter()
        .map(|element| {
            let hashes: Option<Vec<Hash>> = element.into_iter().map(&mut get).collect();
            fold(&hashes?)
        })
        .collect()
}

/// The right edge of a growing tree (a "compact range" from leaf 0): one
/// perfect node per bit of its size. Appending a leaf completes the perfect
/// nodes it closes, which [`Frontier::push`] returns for a store to keep.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Frontier {
    size: u64,
    /// (level, hash), levels strictly decreasing.
    stack: Vec<(u32, Hash)>,
}

impl Frontier {
    /// The empty tree.
    pub fn new() -> Self {
        Self::default()
    }

    /// The tree of `size` leaves from its [`root_nodes`], looked up by `get`;
    /// `None` when a node is missing.
    pub fn resume(size: u64, mut get: impl FnMut(NodeId) -> Option<Hash>) -> Option<Self> {
        let stack = root_nodes(size).into_iter().map(|id| Some((id.level, get(id)?))).collect::<Option<Vec<_>>>()?;
        Some(Self { size, stack })
    }

    /// Leaves so far.
    pub fn size(&self) -> u64 {
        self.size
    }

    /// Appends the leaf *hash* `leaf`; returns the perfect nodes completed
    /// (the leaf itself first). `None` once the tree holds `u64::MAX` leaves.
    pub fn push(&mut self, leaf: Hash) -> Option<Vec<(NodeId, Hash)>> {
        let index = self.size;
        self.size = self.size.checked_add(1)?;
        let mut done = vec![(NodeId { level: 0, idx: index }, leaf)];
        let (mut level, mut h) = (0u32, leaf);
        while let Some((top, left)) = self.stack.last().copied() {
            if top != level {
                break;
            }
            self.stack.pop();
            h = node_hash(&left, &h);
            level += 1;
            done.push((NodeId { level, idx: index >> level }, h));
        }
        self.stack.push((level, h));
        Some(done)
    }

    /// The root of the tree so far.
    pub fn root(&self) -> Hash {
        let hashes: Vec<Hash> = self.stack.iter().map(|(_, h)| *h).collect();
        fold(&hashes).unwrap_or_else(empty_root)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn leaves(n: u64) -> Vec<Hash> {
        (0..n).map(|i| leaf_hash(&i.to_be_bytes())).collect()
    }

    #[test]
    fn frontier_matches_reference_and_nodes_answer_proofs() {
        for n in 0..70u64 {
            let l = leaves(n);
            let mut f = Frontier::new();
            let mut nodes = HashMap::new();
            for h in &l {
                nodes.extend(f.push(*h).expect("room"));
            }
            assert_eq!(f.root(), root(&l), "size {n}");
            assert_eq!(root_from(n, |id| nodes.get(&id).copied()), Some(root(&l)));
            let resumed = Frontier::resume(n, |id| nodes.get(&id).copied()).expect("nodes");
            assert_eq!(resumed, f);
            for i in 0..n {
                let want = inclusion_proof(&l, i).expect("in range");
                assert_eq!(inclusion_proof_from(i, n, |id| nodes.get(&id).copied()), Some(want), "{i}/{n}");
            }
        }
    }
}
