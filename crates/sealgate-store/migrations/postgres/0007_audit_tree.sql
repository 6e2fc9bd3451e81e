-- The Merkle tree over the audit chain (sealgate-audit FORMAT.md §6): checkpoints from
-- format v2 on also sign the tree head (size, root), and a user's export proves each of
-- their records by an inclusion proof. Keep in step with ../sqlite/0006_audit_tree.sql.

-- A v2 checkpoint's tree head; both NULL for a v1 checkpoint.
ALTER TABLE audit_checkpoints ADD COLUMN tree_size BIGINT;
ALTER TABLE audit_checkpoints ADD COLUMN tree_root TEXT;

-- Perfect subtrees: (level, idx) is the hash of leaves idx*2^level .. (idx+1)*2^level - 1,
-- level 0 holding the leaf hashes (leaf i = record i + 1). Derived from the chain and
-- written before a checkpoint is signed, so an inclusion proof costs O(log n) lookups
-- instead of a pass over the chain. Not evidence: a wrong node only makes proofs fail.
CREATE TABLE audit_tree (
    level  INTEGER NOT NULL,
    idx    BIGINT  NOT NULL,
    hash   BYTEA   NOT NULL CHECK (length(hash) = 32),
    PRIMARY KEY (level, idx)
);
