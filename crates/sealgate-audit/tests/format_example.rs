//! FORMAT.md §5, reproduced from the text of FORMAT.md itself: the
//! canonical bytes, hashes, checkpoint signing input and the export all come
//! out as written there, and the export verifies under the pinned root.

use sealgate_audit::jsonl::{Line, Trust, checkpoint_line, parse_line, record_line, root_line, verify_export};
use sealgate_audit::{Action, Chain, Detail, GENESIS, Hash, checkpoint_signing_input, verify_checkpoint};
use serde_json::json;

const FORMAT: &str = include_str!("../FORMAT.md");
const PIN: &str = "lGUNNAAek85nl_YnNDzG4HVzI2_4RzboFqaz3wAVR6I";

/// The fenced blocks of §5, in order.
fn example_blocks() -> Vec<String> {
    let section = FORMAT.split("## 5. Worked example").nth(1).expect("§5");
    let section = section.split("\n## ").next().expect("§5 body");
    section
        .split("```")
        .skip(1)
        .step_by(2)
        .map(|b| b.split_once('\n').map_or("", |(_, body)| body).to_owned())
        .collect()
}

fn unhex(block: &str) -> Vec<u8> {
    block.split_whitespace().map(|b| u8::from_str_radix(b, 16).expect("hex byte")).collect()
}

fn hash_after(label: &str, nth: usize) -> Hash {
    let s = FORMAT.split(label).nth(nth).expect("label");
    Hash::from_hex(&s[..64]).expect("hash in FORMAT.md")
}

#[test]
fn worked_example_reproduces() {
    let blocks = example_blocks();
    assert_eq!(blocks.len(), 5, "record 1, record 2, checkpoint input, export, summary");
    let mut chain = Chain::new();
    let r1 = chain
        .append(
            "user:u1",
            Action::CredentialCreated,
            "cred_1",
            Detail::new(&json!({"scope": ["read", "trade"], "exchange": "binance"})).expect("detail"),
            1_767_225_600_000,
        )
        .expect("append");
    let r2 = chain
        .append(
            "service:signer",
            Action::Denied,
            "cred_1",
            Detail::new(&json!({"rule": "scope", "class": "withdraw"})).expect("detail"),
            1_767_225_600_250,
        )
        .expect("append");
    assert_eq!(r1.prev_hash, GENESIS);
    assert_eq!(r1.canonical_bytes(), unhex(&blocks[0]));
    assert_eq!(r1.canonical_bytes().len(), 166);
    assert_eq!(r1.hash, hash_after("hash = `", 1));
    assert_eq!(r2.canonical_bytes(), unhex(&blocks[1]));
    assert_eq!(r2.hash, hash_after("hash = `", 2));
    assert_eq!(r2.prev_hash, r1.hash);

    let cp = chain.checkpoint(1_767_225_601_000).expect("checkpoint");
    assert_eq!(checkpoint_signing_input(&cp), unhex(&blocks[2]));

    let export: Vec<&str> = blocks[3].lines().collect();
    assert_eq!(export.len(), 4);
    let Ok(Line::Root(root)) = parse_line(export[0].as_bytes()) else { panic!("root line") };
    assert_eq!(root.thumbprint(), PIN);
    assert_eq!(root_line(&root), export[0]);
    assert_eq!(record_line(&r1), export[1]);
    assert_eq!(record_line(&r2), export[2]);
    let Ok(Line::Checkpoint(signed)) = parse_line(export[3].as_bytes()) else { panic!("checkpoint line") };
    assert_eq!(signed.checkpoint, cp);
    assert_eq!(checkpoint_line(&signed), export[3]);
    verify_checkpoint(&cp, &signed.sig, &root.to_jwk()).expect("the example signature verifies");

    let summary = verify_export(blocks[3].as_bytes(), Trust::Pin(PIN)).expect("export verifies");
    assert_eq!(summary.to_string(), blocks[4].trim());
    assert_eq!(summary.checkpoints_verified, 1);
}

/// FORMAT.md §6's example: the tree over §5's two records, and the v2 checkpoint input.
#[test]
fn tree_example_reproduces() {
    use sealgate_audit::merkle::{inclusion_proof, leaf_hash, root, verify_inclusion};
    use sealgate_audit::{Checkpoint, TreeHead};
    let section = FORMAT.split("## 6. The Merkle tree").nth(1).expect("§6");
    let section = section.split("\n## ").next().expect("§6 body");
    let stated = |label: &str| {
        let s = section.split(label).nth(1).expect("label");
        Hash::from_hex(&s[..64]).expect("hash in §6")
    };
    let block = section.split("```").nth(1).expect("block").split_once('\n').expect("fence").1;
    let h1 = hash_after("hash = `", 1);
    let h2 = hash_after("hash = `", 2);
    let leaves = [leaf_hash(&h1.0), leaf_hash(&h2.0)];
    assert_eq!(leaves, [stated("`leaf1 = "), stated("`leaf2 = ")]);
    let r = root(&leaves);
    assert_eq!(r, stated("`root = "));
    let cp = Checkpoint { seq: 2, hash: h2, time: 1_767_225_601_000, tree: Some(TreeHead { size: 2, root: r }) };
    assert_eq!(checkpoint_signing_input(&cp), unhex(block));
    assert_eq!(checkpoint_signing_input(&cp).len(), 116);
    assert_eq!(inclusion_proof(&leaves, 0), Some(vec![leaves[1]]));
    assert_eq!(inclusion_proof(&leaves, 1), Some(vec![leaves[0]]));
    verify_inclusion(1, 2, &leaves[1], &[leaves[0]], &r).expect("proof");
}
