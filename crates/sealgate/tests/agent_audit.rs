//! The desktop agent's audit chain carries checkpoints signed by the
//! keystore's audit key: `sealgate audit verify --pin` (the pin from
//! `sealgate agent audit-pin`) with `--checkpoints FILE.checkpoint` catches
//! a chain whose tail was cut off — the records after the last periodic
//! checkpoint, the final (exit) checkpoint with them, or a checkpoint line
//! itself — and the agent refuses to start on such a chain. An intact chain
//! verifies.

mod common;

use std::os::unix::fs::PermissionsExt as _;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::{BIN, TempDir, ok, p, refused, run_command};
use serde_json::json;

const PASS: &str = "audit-pass-phrase-42";
const SECRET: &str = "agent-audit-secret-xyz";

fn agent_cmd(dir: &TempDir, args: &[&str]) -> Command {
    let mut c = Command::new(BIN);
    c.args(args).env("SEALGATE_AGENT_PASSPHRASE_FILE", dir.path("pass")).env_remove("SEALGATE_ASKPASS");
    c
}

fn verify(file: &Path, checkpoints: Option<&Path>, pin: &str) -> std::process::Output {
    let mut c = Command::new(BIN);
    c.args(["audit", "verify", "--file", p(file), "--pin", pin]);
    if let Some(cp) = checkpoints {
        c.args(["--checkpoints", p(cp)]);
    }
    run_command(c, b"")
}

/// The chain's lines up to the line holding the checkpoint of `seq` (kept
/// when `keep`), and nothing after.
fn cut_at_checkpoint(lines: &[&str], seq: u64, keep: bool) -> String {
    let mark = format!("{{\"type\":\"checkpoint\",\"seq\":{seq},");
    let i = lines.iter().position(|l| l.starts_with(&mark)).expect("checkpoint line");
    let n = if keep { i + 1 } else { i };
    lines[..n].iter().map(|l| format!("{l}\n")).collect()
}

fn is_record(line: &str, seq: u64) -> bool {
    line.starts_with(&format!("{{\"type\":\"record\",\"seq\":{seq},"))
}

#[test]
fn truncating_the_agents_chain_is_caught() {
    let dir = TempDir::new("agent-audit");
    std::fs::write(dir.path("pass"), PASS).expect("pass");
    std::fs::set_permissions(dir.path("pass"), std::fs::Permissions::from_mode(0o600)).expect("chmod");
    let ks = dir.path("agent.keystore");
    let creds = json!({"api_key": "audit-key-abcd", "api_secret": SECRET}).to_string();
    ok(run_command(
        agent_cmd(&dir, &["agent", "add", "--exchange", "binance", "--label", "bin", "--keystore", p(&ks)]),
        creds.as_bytes(),
    ));
    let pin_out = ok(run_command(agent_cmd(&dir, &["agent", "audit-pin", "--keystore", p(&ks)]), b""));
    let pin = pin_out.lines().next().expect("pin").to_owned();
    assert_eq!(pin.len(), 43, "{pin_out}");

    let sock = dir.path("run/agent.sock");
    let audit = dir.path("agent-audit.jsonl");
    let side = dir.path("agent-audit.jsonl.checkpoint");
    let start_args =
        ["agent", "start", "--keystore", p(&ks), "--socket", p(&sock), "--audit", p(&audit), "--checkpoint-every", "4"];
    let child = agent_cmd(&dir, &start_args).stderr(Stdio::piped()).spawn().expect("agent start");
    let t0 = Instant::now();
    while !sock.exists() {
        assert!(t0.elapsed() < Duration::from_secs(20), "the agent did not start");
        std::thread::sleep(Duration::from_millis(50));
    }
    // Ten refused `sign`s (Binance's signature does not bind the whole
    // request): ten records, checkpoints at 4 and 8.
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("rt");
    rt.block_on(async {
        let mut s = tokio::net::UnixStream::connect(&sock).await.expect("connect");
        for _ in 0..10 {
            let req = json!({"v":1,"op":"sign","credential":"bin",
                "request":{"method":"GET","path":"/api/v3/account","query":"","body":""}});
            sealgate_agent::write_frame(&mut s, &req).await.expect("write");
            let reply = sealgate_agent::read_frame(&mut s).await.expect("read").expect("reply");
            let reply: serde_json::Value = serde_json::from_slice(&reply).expect("json");
            assert_eq!(reply["error"], "denied", "{reply}");
        }
    });
    // A clean stop: an `agent_stopped` record (seq 11) and a final checkpoint.
    assert!(Command::new("kill").args(["-TERM", &child.id().to_string()]).status().expect("kill").success());
    let out = child.wait_with_output().expect("wait");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(stderr.contains(&format!("pin {pin}")) && stderr.contains("--checkpoints"), "{stderr}");

    let text = std::fs::read_to_string(&audit).expect("audit");
    assert!(!text.contains(SECRET) && !text.contains(PASS));
    let lines: Vec<&str> = text.lines().collect();
    assert!(lines[0].starts_with("{\"type\":\"root\""), "{text}");
    let cps: Vec<&str> = lines.iter().copied().filter(|l| l.starts_with("{\"type\":\"checkpoint\"")).collect();
    assert_eq!(cps.len(), 3, "checkpoints at 4, 8 and the exit's 11: {text}");
    assert!(std::fs::read_to_string(&side).expect("checkpoint file").starts_with(cps[2]));

    // Intact: verifies, every checkpoint checked (3 in the chain, 1 beside it).
    let good = ok(verify(&audit, Some(&side), &pin));
    assert!(good.contains("11 records") && good.contains("4 checkpoints verified"), "{good}");
    // The wrong pin is refused.
    refused(&verify(&audit, Some(&side), &"A".repeat(43)), "does not match the pin", &[]);

    // 1. The records after the last periodic checkpoint (9..11) cut off, the
    //    exit checkpoint with them: the checkpoint file proves seq 11.
    let cut = dir.path("cut-tail.jsonl");
    std::fs::write(&cut, cut_at_checkpoint(&lines, 8, true)).expect("write");
    refused(
        &verify(&cut, Some(&side), &pin),
        "truncated: the chain ends at seq 8 but a signed checkpoint covers seq 11",
        &[],
    );
    // 2. Cutting a checkpoint too: records 8..11 and the checkpoint of 8 gone.
    let cut2 = dir.path("cut-checkpoint.jsonl");
    let upto7: String = lines
        .iter()
        .take_while(|l| !is_record(l, 8))
        .filter(|l| !l.starts_with("{\"type\":\"checkpoint\",\"seq\":8,"))
        .map(|l| format!("{l}\n"))
        .collect();
    std::fs::write(&cut2, upto7).expect("write");
    refused(
        &verify(&cut2, Some(&side), &pin),
        "truncated: the chain ends at seq 7 but a signed checkpoint covers seq 11",
        &[],
    );
    // 3. Records removed but the chain's own exit checkpoint line left: caught
    //    by the chain alone.
    let cut3 = dir.path("cut-records.jsonl");
    let kept: String =
        lines.iter().filter(|l| ![9, 10, 11].iter().any(|n| is_record(l, *n))).map(|l| format!("{l}\n")).collect();
    std::fs::write(&cut3, kept).expect("write");
    refused(
        &verify(&cut3, None, &pin),
        "truncated: the chain ends at seq 8 but a signed checkpoint covers seq 11",
        &[],
    );

    // The agent refuses to extend a truncated chain.
    std::fs::copy(&cut, &audit).expect("copy");
    let out = agent_cmd(&dir, &start_args).stderr(Stdio::piped()).output().expect("agent start");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{stderr}");
    assert!(
        stderr.contains("does not verify") && stderr.contains("truncated") && stderr.contains(p(&audit)),
        "{stderr}"
    );
    assert!(!stderr.contains(PASS) && !stderr.contains(SECRET));
}
