//! Interoperability of the `sealgate` CLI's JWE with two independent peers:
//! panva `jose` (Node, `interop/jose_peer.mjs`) and `jwcrypto` (Python,
//! `interop/jwcrypto_peer.py`). Keys and JWEs on the peer side are made by the
//! peer library alone, so agreement here means we read and write RFC 7516/7518
//! the way other implementations do.
//!
//! The peers are installed by `bash scripts/setup-interop.sh` (pinned versions:
//! see interop/README.md). A missing peer FAILS these tests; set
//! `SEALGATE_SKIP_INTEROP=1` to skip them instead (a loud notice is printed).
//!
//! Only std is used: JSON is read with the small parser at the bottom.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

const ROOT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../..");
const SEALGATE: &str = env!("CARGO_BIN_EXE_sealgate");

/// Every key the peers' `gen-keys` writes (`NAME.private.jwk.json`, `NAME.public.jwk.json`).
const PEER_KEYS: [&str; 5] = ["p256", "p384", "p521", "x25519", "rsa"];
const ALL_ENCS: [&str; 6] = ["A128GCM", "A192GCM", "A256GCM", "A128CBC-HS256", "A192CBC-HS384", "A256CBC-HS512"];

fn plaintexts() -> Vec<(&'static str, Vec<u8>)> {
    // Binary, multi-block, not a multiple of the AES block size.
    let binary: Vec<u8> = (0..4099u32).map(|i| (i.wrapping_mul(31) ^ (i >> 3)) as u8).collect();
    vec![
        ("ascii", b"interop: plain ASCII text".to_vec()),
        ("non-ascii", "Grüße, 世界 — ключ 🔐 «secret»\n".as_bytes().to_vec()),
        ("binary", binary),
    ]
}

// ---------------------------------------------------------------------------
// Processes
// ---------------------------------------------------------------------------

struct Out {
    code: Option<i32>,
    stdout: Vec<u8>,
    stderr: String,
    what: String,
}

impl Out {
    fn stdout_str(&self) -> String {
        String::from_utf8_lossy(&self.stdout).into_owned()
    }

    /// Panics with the full context unless the process exited 0.
    fn ok(self) -> Self {
        assert_eq!(
            self.code,
            Some(0),
            "`{}` failed (exit {:?})\nstderr: {}\nstdout: {}",
            self.what,
            self.code,
            self.stderr,
            self.stdout_str()
        );
        self
    }
}

fn run(cmd: Command, stdin: &[u8]) -> Out {
    let what = format!("{cmd:?}");
    let output = common::run_command(cmd, stdin);
    Out {
        code: output.status.code(),
        stdout: output.stdout,
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
        what,
    }
}

fn sealgate(args: &[&str], stdin: &[u8]) -> Out {
    let mut cmd = Command::new(SEALGATE);
    cmd.args(args);
    run(cmd, stdin)
}

/// `sealgate jwe decrypt --key KEY` must give back exactly `expected`.
fn assert_sealgate_decrypts(key: &Path, jwe: &[u8], expected: &[u8], context: &str) {
    let out = sealgate(&["jwe", "decrypt", "--key", path_str(key)], jwe);
    assert_eq!(
        out.code,
        Some(0),
        "[{context}] sealgate jwe decrypt --key {} refused a peer JWE (exit {:?})\nstderr: {}\nJWE: {}",
        key.display(),
        out.code,
        out.stderr,
        String::from_utf8_lossy(jwe)
    );
    assert!(
        out.stdout == expected,
        "[{context}] sealgate jwe decrypt --key {} gave the wrong plaintext\nexpected {} bytes: {:?}\ngot {} bytes: {:?}",
        key.display(),
        expected.len(),
        String::from_utf8_lossy(expected),
        out.stdout.len(),
        out.stdout_str()
    );
}

/// A refusal per the CLI contract: exit 2, one line `error: ...` on stderr, empty stdout.
fn assert_sealgate_refuses(key: &Path, jwe: &[u8], context: &str) {
    let out = sealgate(&["jwe", "decrypt", "--key", path_str(key)], jwe);
    assert_eq!(
        out.code,
        Some(2),
        "[{context}] expected exit 2 from sealgate jwe decrypt, got {:?}\nstderr: {}\nstdout: {:?}",
        out.code,
        out.stderr,
        out.stdout_str()
    );
    assert!(out.stdout.is_empty(), "[{context}] refusal must print nothing on stdout, got {:?}", out.stdout_str());
    assert!(
        out.stderr.starts_with("error: ") && out.stderr.trim_end().lines().count() == 1,
        "[{context}] refusal must be one `error: <reason>` line on stderr, got {:?}",
        out.stderr
    );
}

fn path_str(p: &Path) -> &str {
    p.to_str().expect("temp paths are UTF-8")
}

// ---------------------------------------------------------------------------
// Temporary directories
// ---------------------------------------------------------------------------

struct TempDir(PathBuf);

impl TempDir {
    fn new(label: &str) -> Self {
        static COUNTER: AtomicU32 = AtomicU32::new(0);
        let nanos = SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_nanos()).unwrap_or(0);
        let dir = std::env::temp_dir().join(format!(
            "sealgate-interop-{label}-{}-{}-{nanos}",
            std::process::id(),
            COUNTER.fetch_add(1, Ordering::Relaxed)
        ));
        std::fs::create_dir_all(&dir).unwrap_or_else(|e| panic!("mkdir {}: {e}", dir.display()));
        TempDir(dir)
    }

    fn path(&self, name: &str) -> PathBuf {
        self.0.join(name)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

// ---------------------------------------------------------------------------
// Peers
// ---------------------------------------------------------------------------

#[derive(Clone, Copy, Debug, PartialEq)]
enum Peer {
    Jose,
    Jwcrypto,
}

impl Peer {
    fn name(self) -> &'static str {
        match self {
            Peer::Jose => "jose",
            Peer::Jwcrypto => "jwcrypto",
        }
    }

    fn root() -> PathBuf {
        PathBuf::from(ROOT)
    }

    fn command(self) -> Command {
        let root = Self::root();
        match self {
            Peer::Jose => {
                let mut c = Command::new("node");
                c.arg(root.join("interop/jose_peer.mjs"));
                c
            }
            Peer::Jwcrypto => {
                let mut c = Command::new(root.join(".venv-interop/bin/python"));
                c.arg(root.join("interop/jwcrypto_peer.py"));
                c
            }
        }
    }

    /// Why this peer cannot run, if it cannot.
    fn problem(self) -> Option<String> {
        let root = Self::root();
        match self {
            Peer::Jose => {
                let want = std::fs::read_to_string(root.join("interop/package-lock.json"))
                    .ok()
                    .and_then(|s| Json::parse(&s).ok())
                    .and_then(|j| {
                        j.get("packages")?.get("node_modules/jose")?.get("version")?.as_str().map(str::to_owned)
                    });
                let Some(want) = want else {
                    return Some("interop/package-lock.json has no jose version".into());
                };
                let have = std::fs::read_to_string(root.join("interop/node_modules/jose/package.json"))
                    .ok()
                    .and_then(|s| Json::parse(&s).ok())
                    .and_then(|j| j.get("version")?.as_str().map(str::to_owned));
                match have {
                    None => return Some("interop/node_modules/jose is not installed".into()),
                    Some(have) if have != want => {
                        return Some(format!("jose {have} is installed but {want} is pinned"));
                    }
                    Some(_) => {}
                }
                match Command::new("node").arg("--version").output() {
                    Ok(o) if o.status.success() => None,
                    _ => Some("`node` is not on PATH".into()),
                }
            }
            Peer::Jwcrypto => {
                let python = root.join(".venv-interop/bin/python");
                if !python.exists() {
                    return Some("the venv .venv-interop does not exist".into());
                }
                let want = std::fs::read_to_string(root.join("interop/requirements.txt")).ok().and_then(|s| {
                    s.lines().find_map(|l| l.trim().strip_prefix("jwcrypto==").map(|v| v.trim().to_owned()))
                });
                let Some(want) = want else {
                    return Some("interop/requirements.txt does not pin jwcrypto".into());
                };
                let out = Command::new(&python)
                    .args([
                        "-c",
                        "import jwcrypto.jwe; from importlib.metadata import version; print(version('jwcrypto'))",
                    ])
                    .output();
                match out {
                    Ok(o) if o.status.success() => {
                        let have = String::from_utf8_lossy(&o.stdout).trim().to_owned();
                        if have == want {
                            None
                        } else {
                            Some(format!("jwcrypto {have} is installed but {want} is pinned"))
                        }
                    }
                    Ok(o) => Some(format!(
                        "jwcrypto does not import in .venv-interop: {}",
                        String::from_utf8_lossy(&o.stderr).trim()
                    )),
                    Err(e) => Some(format!("cannot run .venv-interop/bin/python: {e}")),
                }
            }
        }
    }

    fn run(self, args: &[&str], stdin: &[u8]) -> Out {
        let mut cmd = self.command();
        cmd.args(args);
        run(cmd, stdin)
    }

    fn gen_keys(self, dir: &Path) {
        self.gen_keys_with(dir, &[]);
    }

    fn gen_keys_with(self, dir: &Path, extra: &[&str]) {
        let mut args = vec!["gen-keys", path_str(dir)];
        args.extend_from_slice(extra);
        self.run(&args, b"").ok();
        for name in PEER_KEYS {
            for kind in ["private", "public"] {
                let f = dir.join(format!("{name}.{kind}.jwk.json"));
                assert!(f.exists(), "{} gen-keys did not write {}", self.name(), f.display());
            }
        }
    }

    fn encrypt(self, command: &str, target: &Path, enc: &str, extra: &[&str], plaintext: &[u8]) -> Vec<u8> {
        let mut args = vec![command, path_str(target), "--enc", enc];
        args.extend_from_slice(extra);
        let mut out = self.run(&args, plaintext).ok().stdout;
        while out.last().is_some_and(|b| b.is_ascii_whitespace()) {
            out.pop();
        }
        out
    }

    /// Peer decrypts `jwe` with `key`; returns (plaintext, protected header).
    fn decrypt(self, key: &Path, jwe: &[u8], tmp: &TempDir) -> (Vec<u8>, Json) {
        let header_file = tmp.path(&format!("header-{}.json", self.name()));
        let out = self.run(&["decrypt", path_str(key), "--header-out", path_str(&header_file)], jwe);
        assert_eq!(
            out.code,
            Some(0),
            "{} could not decrypt a sealgate JWE with {}\nstderr: {}\nJWE: {}",
            self.name(),
            key.display(),
            out.stderr,
            String::from_utf8_lossy(jwe)
        );
        let header = std::fs::read_to_string(&header_file).expect("peer wrote --header-out");
        let header = Json::parse(&header).unwrap_or_else(|e| panic!("peer header JSON: {e}: {header}"));
        (out.stdout, header)
    }
}

/// `Some(peer)` when the peer can run. Otherwise FAILS, unless
/// SEALGATE_SKIP_INTEROP=1, in which case a loud notice is printed and `None`
/// returned so the caller skips.
fn require(peer: Peer) -> Option<Peer> {
    let Some(problem) = peer.problem() else {
        return Some(peer);
    };
    sealgate_testkit::skip_or_fail(
        "SEALGATE_SKIP_INTEROP",
        &format!("JWE interop with {}", peer.name()),
        &problem,
        "run `bash scripts/setup-interop.sh`",
    );
    None
}

fn default_alg(key_name: &str) -> &'static str {
    if key_name == "rsa" { "RSA-OAEP-256" } else { "ECDH-ES+A256KW" }
}

/// Flip the first character of a base64url string (changes the first decoded byte).
fn flip_first(b64: &str) -> String {
    let mut chars: Vec<char> = b64.chars().collect();
    assert!(!chars.is_empty(), "cannot tamper with an empty member");
    chars[0] = if chars[0] == 'A' { 'B' } else { 'A' };
    chars.into_iter().collect()
}

/// Compact JWE with one character of its ciphertext (4th part) flipped.
fn tamper_compact_ciphertext(jwe: &str) -> String {
    tamper_compact_part(jwe, 3)
}

/// Compact JWE with one character of part `index` (1 encrypted key, 2 iv,
/// 3 ciphertext, 4 tag) flipped.
fn tamper_compact_part(jwe: &str, index: usize) -> String {
    let mut parts: Vec<String> = jwe.trim().split('.').map(str::to_owned).collect();
    assert_eq!(parts.len(), 5, "not a compact JWE: {jwe}");
    parts[index] = flip_first(&parts[index]);
    parts.join(".")
}

/// JSON JWE text with one character of the string member `member` flipped.
fn tamper_json_member(jwe: &str, member: &str) -> String {
    let key = format!("\"{member}\"");
    let at = jwe.find(&key).unwrap_or_else(|| panic!("no {member} in {jwe}"));
    let colon = at + key.len() + jwe[at + key.len()..].find(':').expect("colon");
    let open = colon + jwe[colon..].find('"').expect("string value");
    let start = open + 1;
    let end = start + jwe[start..].find('"').expect("closing quote");
    format!("{}{}{}", &jwe[..start], flip_first(&jwe[start..end]), &jwe[end..])
}

// ---------------------------------------------------------------------------
// The harness checks itself: the two peers agree with each other.
// ---------------------------------------------------------------------------

#[test]
fn peers_agree_with_each_other() {
    let (Some(jose), Some(jwcrypto)) = (require(Peer::Jose), require(Peer::Jwcrypto)) else {
        return;
    };
    for (from, to) in [(jose, jwcrypto), (jwcrypto, jose)] {
        let tmp = TempDir::new(&format!("peers-{}", from.name()));
        from.gen_keys(&tmp.0);
        for enc in ["A256GCM", "A128CBC-HS256"] {
            for (label, pt) in plaintexts() {
                let general = from.encrypt("encrypt-general", &tmp.0, enc, &[], &pt);
                for name in PEER_KEYS {
                    let key = tmp.path(&format!("{name}.private.jwk.json"));
                    let (got, header) = to.decrypt(&key, &general, &tmp);
                    assert!(
                        got == pt,
                        "{} -> {} general {enc} {label} with {name}: wrong plaintext",
                        from.name(),
                        to.name()
                    );
                    assert_eq!(header.get("enc").and_then(Json::as_str), Some(enc));
                }
            }
        }
        for name in PEER_KEYS {
            let public = tmp.path(&format!("{name}.public.jwk.json"));
            let private = tmp.path(&format!("{name}.private.jwk.json"));
            for cmd in ["encrypt-compact", "encrypt-flattened"] {
                let pt = "peer ↔ peer".as_bytes();
                let jwe = from.encrypt(cmd, &public, "A192CBC-HS384", &[], pt);
                let (got, _) = to.decrypt(&private, &jwe, &tmp);
                assert_eq!(got, pt, "{} -> {} {cmd} with {name}", from.name(), to.name());
            }
        }
    }
}

// ---------------------------------------------------------------------------
// Peer -> sealgate
// ---------------------------------------------------------------------------

/// Peer general JSON JWE (every peer key a recipient) opens with `sealgate jwe
/// decrypt` under EACH recipient's private key, for GCM and CBC-HS encs.
fn peer_general_json_opens_with_sealgate(peer: Peer) {
    let tmp = TempDir::new(&format!("general-{}", peer.name()));
    peer.gen_keys(&tmp.0);
    for enc in ["A256GCM", "A128CBC-HS256", "A256CBC-HS512"] {
        for (label, pt) in plaintexts() {
            let jwe = peer.encrypt("encrypt-general", &tmp.0, enc, &[], &pt);
            let parsed = Json::parse(&String::from_utf8_lossy(&jwe)).expect("peer general JSON");
            let recipients = parsed.get("recipients").and_then(Json::as_array).map_or(0, <[Json]>::len);
            assert_eq!(recipients, PEER_KEYS.len(), "peer made a general JWE with every key");
            for name in PEER_KEYS {
                let key = tmp.path(&format!("{name}.private.jwk.json"));
                let context = format!("{} general JSON, enc {enc}, {label}, recipient {name}", peer.name());
                assert_sealgate_decrypts(&key, &jwe, &pt, &context);
            }
        }
    }
}

/// Peer flattened and compact JWEs (one recipient) open with sealgate, across
/// every enc and every key-management alg the contract lists.
fn peer_flattened_and_compact_open_with_sealgate(peer: Peer) {
    let tmp = TempDir::new(&format!("single-{}", peer.name()));
    peer.gen_keys(&tmp.0);
    let pt = "flattened/compact: Grüße 🔐".as_bytes();
    for name in PEER_KEYS {
        let public = tmp.path(&format!("{name}.public.jwk.json"));
        let private = tmp.path(&format!("{name}.private.jwk.json"));
        for enc in ALL_ENCS {
            for cmd in ["encrypt-compact", "encrypt-flattened"] {
                let jwe = peer.encrypt(cmd, &public, enc, &[], pt);
                let context = format!("{} {cmd}, {name}, alg {}, enc {enc}", peer.name(), default_alg(name));
                assert_sealgate_decrypts(&private, &jwe, pt, &context);
            }
        }
    }
    // An empty plaintext is a valid JWE too (empty ciphertext segment).
    for name in ["p256", "x25519", "rsa"] {
        let public = tmp.path(&format!("{name}.public.jwk.json"));
        let private = tmp.path(&format!("{name}.private.jwk.json"));
        let jwe = peer.encrypt("encrypt-compact", &public, "A128CBC-HS256", &[], b"");
        let context = format!("{} encrypt-compact, {name}, empty plaintext", peer.name());
        assert_sealgate_decrypts(&private, &jwe, b"", &context);
    }
    // The other key-management algs the contract lists. A JWK's "alg" names
    // the one alg it is for (RFC 7517 4.4), so these need keys made for them.
    for (ec_alg, rsa_alg) in [("ECDH-ES+A128KW", "RSA-OAEP"), ("ECDH-ES+A192KW", "RSA-OAEP")] {
        let dir = TempDir::new(&format!("single-{}-{ec_alg}", peer.name()));
        peer.gen_keys_with(&dir.0, &["--ec-alg", ec_alg, "--rsa-alg", rsa_alg]);
        for name in PEER_KEYS {
            let public = dir.path(&format!("{name}.public.jwk.json"));
            let private = dir.path(&format!("{name}.private.jwk.json"));
            let alg = if name == "rsa" { rsa_alg } else { ec_alg };
            for (cmd, enc) in [("encrypt-compact", "A128GCM"), ("encrypt-flattened", "A256CBC-HS512")] {
                let jwe = peer.encrypt(cmd, &public, enc, &[], pt);
                let context = format!("{} {cmd}, {name}, alg {alg}, enc {enc}", peer.name());
                assert_sealgate_decrypts(&private, &jwe, pt, &context);
            }
        }
        // General JSON whose recipients use different algs (ECDH-ES+AxxxKW and RSA-OAEP).
        let jwe = peer.encrypt("encrypt-general", &dir.0, "A192GCM", &[], pt);
        for name in PEER_KEYS {
            let private = dir.path(&format!("{name}.private.jwk.json"));
            let context = format!("{} general JSON, {name}, algs {ec_alg}/{rsa_alg}, enc A192GCM", peer.name());
            assert_sealgate_decrypts(&private, &jwe, pt, &context);
        }
    }
}

/// A peer JWE with one ciphertext character flipped is refused: exit 2,
/// `error: ` on stderr, nothing on stdout. So is a JWE for another key.
fn tampered_peer_jwe_is_refused(peer: Peer) {
    let tmp = TempDir::new(&format!("tamper-{}", peer.name()));
    peer.gen_keys(&tmp.0);
    let pt = b"do not release on tamper";
    for (name, enc) in [("p256", "A256GCM"), ("x25519", "A128CBC-HS256"), ("rsa", "A256GCM")] {
        let public = tmp.path(&format!("{name}.public.jwk.json"));
        let private = tmp.path(&format!("{name}.private.jwk.json"));
        let compact = String::from_utf8(peer.encrypt("encrypt-compact", &public, enc, &[], pt)).expect("ASCII");
        // The untampered JWE opens, so the refusal below is due to the flip.
        assert_sealgate_decrypts(&private, compact.as_bytes(), pt, &format!("{} untampered {name}", peer.name()));
        let tampered = tamper_compact_ciphertext(&compact);
        assert_ne!(tampered, compact);
        assert_sealgate_refuses(
            &private,
            tampered.as_bytes(),
            &format!("{} compact {name} {enc} with a flipped ciphertext char", peer.name()),
        );
        for (index, part) in [(1, "encrypted_key"), (2, "iv"), (4, "tag")] {
            assert_sealgate_refuses(
                &private,
                tamper_compact_part(&compact, index).as_bytes(),
                &format!("{} compact {name} {enc} with a flipped {part} char", peer.name()),
            );
        }
    }
    for enc in ["A256GCM", "A256CBC-HS512"] {
        let general = String::from_utf8(peer.encrypt("encrypt-general", &tmp.0, enc, &[], pt)).expect("ASCII");
        let private = tmp.path("p384.private.jwk.json");
        assert_sealgate_decrypts(&private, general.as_bytes(), pt, &format!("{} untampered general", peer.name()));
        for member in ["ciphertext", "tag", "iv"] {
            let tampered = tamper_json_member(&general, member);
            assert_sealgate_refuses(
                &private,
                tampered.as_bytes(),
                &format!("{} general {enc} with a flipped {member} char", peer.name()),
            );
        }
    }
    // A JWE to a different key of the same type is not ours to open.
    let other = TempDir::new(&format!("tamper-other-{}", peer.name()));
    peer.gen_keys(&other.0);
    let jwe = peer.encrypt("encrypt-compact", &other.path("p256.public.jwk.json"), "A256GCM", &[], pt);
    assert_sealgate_refuses(
        &tmp.path("p256.private.jwk.json"),
        &jwe,
        &format!("{} compact JWE for another P-256 key", peer.name()),
    );
}

// ---------------------------------------------------------------------------
// sealgate -> peer
// ---------------------------------------------------------------------------

struct OurKey {
    label: &'static str,
    kid: String,
    private: PathBuf,
    public: PathBuf,
    alg: &'static str,
}

/// `sealgate keygen` for P-256, P-384, X25519 and RSA-OAEP-256, checking the files.
fn sealgate_keygen(tmp: &TempDir, peer: Peer) -> Vec<OurKey> {
    let specs: [(&str, &[&str], &str); 4] = [
        ("p256", &["--alg", "ECDH-ES+A256KW", "--crv", "P-256"], "ECDH-ES+A256KW"),
        ("p384", &["--alg", "ECDH-ES+A256KW", "--crv", "P-384"], "ECDH-ES+A256KW"),
        ("x25519", &["--alg", "ECDH-ES+A256KW", "--crv", "X25519"], "ECDH-ES+A256KW"),
        ("rsa", &["--alg", "RSA-OAEP-256"], "RSA-OAEP-256"),
    ];
    let mut keys = Vec::new();
    for (label, alg_args, alg) in specs {
        let kid = format!("sealgate-{label}-for-{}", peer.name());
        let private = tmp.path(&format!("ours-{label}.private.jwk.json"));
        let public = tmp.path(&format!("ours-{label}.public.jwk.json"));
        let mut args = vec!["keygen"];
        args.extend_from_slice(alg_args);
        args.extend_from_slice(&[
            "--kid",
            &kid,
            "--out-private",
            path_str(&private),
            "--out-public",
            path_str(&public),
        ]);
        sealgate(&args, b"").ok();
        check_our_jwks(label, &kid, &private, &public);
        keys.push(OurKey { label, kid, private, public, alg });
    }
    keys
}

fn check_our_jwks(label: &str, kid: &str, private: &Path, public: &Path) {
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(private).expect("private JWK written").permissions().mode() & 0o777;
    assert_eq!(mode, 0o600, "private JWK {} must be mode 0600", private.display());
    let read = |p: &Path| {
        let s = std::fs::read_to_string(p).unwrap_or_else(|e| panic!("{}: {e}", p.display()));
        Json::parse(&s).unwrap_or_else(|e| panic!("{} is not JSON: {e}", p.display()))
    };
    let (priv_jwk, pub_jwk) = (read(private), read(public));
    for jwk in [&priv_jwk, &pub_jwk] {
        assert_eq!(jwk.get("kid").and_then(Json::as_str), Some(kid), "{label} JWK kid");
    }
    assert!(priv_jwk.get("d").is_some(), "{label} private JWK has d");
    for member in ["d", "p", "q", "dp", "dq", "qi", "oth", "k"] {
        assert!(pub_jwk.get(member).is_none(), "{label} public JWK must not carry {member}");
    }
}

/// `sealgate keygen` + `sealgate jwe encrypt --to` -> the peer decrypts with our private JWK.
fn sealgate_jwe_encrypt_opens_with_peer(peer: Peer) {
    let tmp = TempDir::new(&format!("ours-{}", peer.name()));
    for key in sealgate_keygen(&tmp, peer) {
        let mut cases = plaintexts();
        // jwcrypto 1.6.1 cannot decrypt an empty payload (it treats b"" as
        // "no recipient matched"), so only jose checks that one.
        if peer == Peer::Jose {
            cases.push(("empty", Vec::new()));
        }
        for (label, pt) in cases {
            let jwe = sealgate(&["jwe", "encrypt", "--to", path_str(&key.public)], &pt).ok().stdout;
            let jwe_text = String::from_utf8_lossy(&jwe).trim().to_owned();
            assert_eq!(jwe_text.split('.').count(), 5, "sealgate jwe encrypt prints compact JWE: {jwe_text}");
            let (got, header) = peer.decrypt(&key.private, jwe_text.as_bytes(), &tmp);
            assert!(
                got == pt,
                "{} decrypted sealgate's {} JWE ({label}) to the wrong plaintext: {:?}",
                peer.name(),
                key.label,
                String::from_utf8_lossy(&got)
            );
            assert_eq!(header.get("alg").and_then(Json::as_str), Some(key.alg), "{} alg", key.label);
            assert_eq!(header.get("enc").and_then(Json::as_str), Some("A256GCM"), "{} enc", key.label);
        }
        // --protected-header members reach the peer in the integrity-protected header.
        let pt = b"with extra protected header";
        let jwe = sealgate(
            &[
                "jwe",
                "encrypt",
                "--to",
                path_str(&key.public),
                "--protected-header",
                r#"{"cty":"text/plain","x-sealgate-test":"héllo"}"#,
            ],
            pt,
        )
        .ok()
        .stdout;
        let (got, header) = peer.decrypt(&key.private, &jwe, &tmp);
        assert_eq!(got, pt);
        assert_eq!(header.get("cty").and_then(Json::as_str), Some("text/plain"), "{}: {header:?}", key.label);
        assert_eq!(header.get("x-sealgate-test").and_then(Json::as_str), Some("héllo"), "{}: {header:?}", key.label);
        // The kid, when present, is ours.
        if let Some(kid) = header.get("kid") {
            assert_eq!(kid.as_str(), Some(key.kid.as_str()), "{} kid", key.label);
        }
    }
}

/// `sealgate seal` a credential -> the peer decrypts it to the exact credential
/// JSON and sees the credential-envelope protected header; `sealgate open`
/// then reports facts without the secret.
fn sealgate_seal_opens_with_peer(peer: Peer) {
    let tmp = TempDir::new(&format!("seal-{}", peer.name()));
    let keys = sealgate_keygen(&tmp, peer);
    let secret = "s3cr3t/+=ü-NEVER-PRINTED";
    let credential = format!(r#"{{"api_key":"AK-interop-ß-1234","api_secret":"{secret}"}}"#);
    // The owner's authority (PROFILE C8): RFC 8037 A.2's Ed25519 public key, whose RFC 7638
    // thumbprint is RFC 8037 A.3's. It travels in the protected header through the peer.
    let owner_key = tmp.path("owner.jwk");
    std::fs::write(&owner_key, br#"{"kty":"OKP","crv":"Ed25519","x":"11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"}"#)
        .expect("write owner key");
    let own_thumbprint = "kPrK_qmxVWaYVA9wwBF6Iuo3vVzz7TxHCTwXBygrS4k";
    for key in &keys {
        let (role, user, exchange) = ("trader", "user-42", "binance");
        let cid = format!("cred-{}-{}", peer.name(), key.label);
        let envelope = sealgate(
            &[
                "seal",
                "--to",
                path_str(&key.public),
                "--role",
                role,
                "--user",
                user,
                "--exchange",
                exchange,
                "--scope",
                "read,trade",
                "--credential-id",
                &cid,
                "--owner-key",
                path_str(&owner_key),
            ],
            credential.as_bytes(),
        )
        .ok()
        .stdout;
        let envelope_text = String::from_utf8_lossy(&envelope).trim().to_owned();
        assert_eq!(envelope_text.split('.').count(), 5, "seal prints a compact JWE: {envelope_text}");
        assert!(!envelope_text.contains(secret), "the envelope must not carry the secret in clear");

        let (got, header) = peer.decrypt(&key.private, envelope_text.as_bytes(), &tmp);
        assert!(
            got == credential.as_bytes(),
            "{} opened the {} envelope to {:?}, expected the exact credential JSON {credential:?}",
            peer.name(),
            key.label,
            String::from_utf8_lossy(&got)
        );
        let ctx = format!("{} reading the {} envelope header {header:?}", peer.name(), key.label);
        for member in ["typ", "kid", "sub", "cid", "exch", "aud", "scope", "iat", "hint", "own"] {
            assert!(header.get(member).is_some(), "{ctx}: protected header lacks {member}");
        }
        let s = |m: &str| header.get(m).and_then(Json::as_str).map(str::to_owned);
        assert_eq!(s("typ").as_deref(), Some("sealgate-credential+jwe"), "{ctx}");
        assert_eq!(s("kid").as_deref(), Some(key.kid.as_str()), "{ctx}");
        assert_eq!(s("sub").as_deref(), Some(user), "{ctx}");
        assert_eq!(s("cid").as_deref(), Some(cid.as_str()), "{ctx}");
        assert_eq!(s("exch").as_deref(), Some(exchange), "{ctx}");
        assert_eq!(s("aud").as_deref(), Some(role), "{ctx}: aud is the role");
        assert!(s("hint").is_some(), "{ctx}: hint is a string");
        assert_eq!(s("alg").as_deref(), Some(key.alg), "{ctx}");
        assert_eq!(s("enc").as_deref(), Some("A256GCM"), "{ctx}");
        assert!(matches!(header.get("iat"), Some(Json::Num(_))), "{ctx}: iat is a number");
        let scope = header.get("scope").map(Json::to_text).unwrap_or_default();
        assert!(scope.contains("read") && scope.contains("trade"), "{ctx}: scope");
        assert!(!scope.contains("withdraw"), "{ctx}: scope must not grant withdraw");
        let whole = format!("{header:?}");
        assert!(!whole.contains(secret), "{ctx}: the header leaks the secret");

        let open = |role: &str, envelope: &[u8]| {
            sealgate(
                &[
                    "open",
                    "--key",
                    path_str(&key.private),
                    "--role",
                    role,
                    "--user",
                    user,
                    "--exchange",
                    exchange,
                    "--credential-id",
                    &cid,
                ],
                envelope,
            )
        };
        let opened = open(role, &envelope).ok();
        let facts = opened.stdout_str();
        assert!(Json::parse(&facts).is_ok(), "sealgate open prints JSON, got {facts:?}");
        assert_eq!(
            header.get("own").map(Json::to_text),
            Json::parse(&format!(r#"["{own_thumbprint}"]"#)).ok().map(|j| j.to_text()),
            "{ctx}: own as the peer reads it"
        );
        assert!(facts.contains(own_thumbprint), "{ctx}: sealgate open shows own: {facts}");
        assert!(!facts.contains(secret), "sealgate open printed the secret: {facts}");
        assert!(!opened.stderr.contains(secret), "sealgate open leaked the secret on stderr");
        // The envelope is bound to its role: another role cannot open it.
        let wrong = open("some-other-role", &envelope);
        assert_eq!(wrong.code, Some(2), "{ctx}: open with another role must be refused: {}", wrong.stderr);
        assert!(wrong.stdout.is_empty() && wrong.stderr.starts_with("error: "), "{ctx}: refusal shape");

        // The other direction: the PEER builds a credential envelope with the
        // same protected members (its own alg/enc/epk) and `sealgate open` accepts it.
        let members: Vec<(String, Json)> = match &header {
            Json::Obj(m) => {
                m.iter().filter(|(k, _)| !matches!(k.as_str(), "alg" | "enc" | "epk" | "kid")).cloned().collect()
            }
            _ => unreachable!("headers are objects"),
        };
        let protected = Json::Obj(members).to_json();
        let peer_envelope = peer.encrypt(
            "encrypt-compact",
            &key.public,
            "A256GCM",
            &["--protected", &protected],
            credential.as_bytes(),
        );
        let opened = open(role, &peer_envelope);
        assert_eq!(
            opened.code,
            Some(0),
            "{ctx}: sealgate open refused a {} -made envelope with header {protected}: {}",
            peer.name(),
            opened.stderr
        );
        let peer_facts = Json::parse(&opened.stdout_str()).expect("open prints JSON");
        assert_eq!(
            peer_facts,
            Json::parse(&facts).expect("JSON"),
            "{ctx}: the same facts from our envelope and the peer's"
        );
        assert!(!opened.stdout_str().contains(secret));
    }
}

macro_rules! per_peer {
    ($($test:ident => $body:ident($peer:expr);)*) => {$(
        #[test]
        fn $test() {
            if let Some(peer) = require($peer) {
                $body(peer);
            }
        }
    )*};
}

per_peer! {
    jose_general_json_opens_with_sealgate => peer_general_json_opens_with_sealgate(Peer::Jose);
    jwcrypto_general_json_opens_with_sealgate => peer_general_json_opens_with_sealgate(Peer::Jwcrypto);
    jose_flattened_and_compact_open_with_sealgate => peer_flattened_and_compact_open_with_sealgate(Peer::Jose);
    jwcrypto_flattened_and_compact_open_with_sealgate => peer_flattened_and_compact_open_with_sealgate(Peer::Jwcrypto);
    jose_tampered_jwe_is_refused_by_sealgate => tampered_peer_jwe_is_refused(Peer::Jose);
    jwcrypto_tampered_jwe_is_refused_by_sealgate => tampered_peer_jwe_is_refused(Peer::Jwcrypto);
    sealgate_jwe_encrypt_opens_with_jose => sealgate_jwe_encrypt_opens_with_peer(Peer::Jose);
    sealgate_jwe_encrypt_opens_with_jwcrypto => sealgate_jwe_encrypt_opens_with_peer(Peer::Jwcrypto);
    sealgate_seal_opens_with_jose => sealgate_seal_opens_with_peer(Peer::Jose);
    sealgate_seal_opens_with_jwcrypto => sealgate_seal_opens_with_peer(Peer::Jwcrypto);
}

// ---------------------------------------------------------------------------
// A small JSON reader (std only), enough for JWKs, JWE headers and JWE JSON.
// ---------------------------------------------------------------------------

#[derive(Debug, Clone, PartialEq)]
enum Json {
    Null,
    Bool(bool),
    Num(String),
    Str(String),
    Arr(Vec<Json>),
    Obj(Vec<(String, Json)>),
}

impl Json {
    fn parse(text: &str) -> Result<Json, String> {
        let mut p = Parser { b: text.as_bytes(), i: 0 };
        let v = p.value()?;
        p.ws();
        if p.i != p.b.len() {
            return Err(format!("trailing data at byte {}", p.i));
        }
        Ok(v)
    }

    fn get(&self, key: &str) -> Option<&Json> {
        match self {
            Json::Obj(members) => members.iter().find(|(k, _)| k == key).map(|(_, v)| v),
            _ => None,
        }
    }

    fn as_str(&self) -> Option<&str> {
        match self {
            Json::Str(s) => Some(s),
            _ => None,
        }
    }

    fn as_array(&self) -> Option<&[Json]> {
        match self {
            Json::Arr(a) => Some(a),
            _ => None,
        }
    }

    /// Compact JSON text.
    fn to_json(&self) -> String {
        fn string(s: &str) -> String {
            let mut o = String::from("\"");
            for c in s.chars() {
                match c {
                    '"' => o.push_str("\\\""),
                    '\\' => o.push_str("\\\\"),
                    c if (c as u32) < 0x20 => o.push_str(&format!("\\u{:04x}", c as u32)),
                    c => o.push(c),
                }
            }
            o.push('"');
            o
        }
        match self {
            Json::Null => "null".into(),
            Json::Bool(b) => b.to_string(),
            Json::Num(n) => n.clone(),
            Json::Str(s) => string(s),
            Json::Arr(a) => format!("[{}]", a.iter().map(Json::to_json).collect::<Vec<_>>().join(",")),
            Json::Obj(o) => format!(
                "{{{}}}",
                o.iter().map(|(k, v)| format!("{}:{}", string(k), v.to_json())).collect::<Vec<_>>().join(",")
            ),
        }
    }

    /// Strings of the value, flattened (for "does the scope mention X").
    fn to_text(&self) -> String {
        match self {
            Json::Null => "null".into(),
            Json::Bool(b) => b.to_string(),
            Json::Num(n) => n.clone(),
            Json::Str(s) => s.clone(),
            Json::Arr(a) => a.iter().map(Json::to_text).collect::<Vec<_>>().join(","),
            Json::Obj(o) => o.iter().map(|(k, v)| format!("{k}:{}", v.to_text())).collect::<Vec<_>>().join(","),
        }
    }
}

struct Parser<'a> {
    b: &'a [u8],
    i: usize,
}

impl Parser<'_> {
    fn ws(&mut self) {
        while self.i < self.b.len() && matches!(self.b[self.i], b' ' | b'\t' | b'\n' | b'\r') {
            self.i += 1;
        }
    }

    fn peek(&self) -> Option<u8> {
        self.b.get(self.i).copied()
    }

    fn expect(&mut self, c: u8) -> Result<(), String> {
        if self.peek() == Some(c) {
            self.i += 1;
            Ok(())
        } else {
            Err(format!("expected '{}' at byte {}", c as char, self.i))
        }
    }

    fn literal(&mut self, word: &str, v: Json) -> Result<Json, String> {
        if self.b[self.i..].starts_with(word.as_bytes()) {
            self.i += word.len();
            Ok(v)
        } else {
            Err(format!("bad literal at byte {}", self.i))
        }
    }

    fn value(&mut self) -> Result<Json, String> {
        self.ws();
        match self.peek() {
            Some(b'{') => {
                self.i += 1;
                let mut members = Vec::new();
                self.ws();
                if self.peek() == Some(b'}') {
                    self.i += 1;
                    return Ok(Json::Obj(members));
                }
                loop {
                    self.ws();
                    let k = self.string()?;
                    self.ws();
                    self.expect(b':')?;
                    let v = self.value()?;
                    members.push((k, v));
                    self.ws();
                    match self.peek() {
                        Some(b',') => self.i += 1,
                        Some(b'}') => {
                            self.i += 1;
                            return Ok(Json::Obj(members));
                        }
                        _ => return Err(format!("expected ',' or '}}' at byte {}", self.i)),
                    }
                }
            }
            Some(b'[') => {
                self.i += 1;
                let mut items = Vec::new();
                self.ws();
                if self.peek() == Some(b']') {
                    self.i += 1;
                    return Ok(Json::Arr(items));
                }
                loop {
                    items.push(self.value()?);
                    self.ws();
                    match self.peek() {
                        Some(b',') => self.i += 1,
                        Some(b']') => {
                            self.i += 1;
                            return Ok(Json::Arr(items));
                        }
                        _ => return Err(format!("expected ',' or ']' at byte {}", self.i)),
                    }
                }
            }
            Some(b'"') => self.string().map(Json::Str),
            Some(b't') => self.literal("true", Json::Bool(true)),
            Some(b'f') => self.literal("false", Json::Bool(false)),
            Some(b'n') => self.literal("null", Json::Null),
            Some(c) if c == b'-' || c.is_ascii_digit() => {
                let start = self.i;
                while self.i < self.b.len() && matches!(self.b[self.i], b'-' | b'+' | b'.' | b'e' | b'E' | b'0'..=b'9')
                {
                    self.i += 1;
                }
                Ok(Json::Num(String::from_utf8_lossy(&self.b[start..self.i]).into_owned()))
            }
            _ => Err(format!("unexpected input at byte {}", self.i)),
        }
    }

    fn hex4(&mut self) -> Result<u32, String> {
        let s = self.b.get(self.i..self.i + 4).ok_or("short \\u escape")?;
        let s = std::str::from_utf8(s).map_err(|e| e.to_string())?;
        let v = u32::from_str_radix(s, 16).map_err(|e| e.to_string())?;
        self.i += 4;
        Ok(v)
    }

    fn string(&mut self) -> Result<String, String> {
        self.expect(b'"')?;
        let mut out: Vec<u8> = Vec::new();
        loop {
            let c = self.peek().ok_or("unterminated string")?;
            self.i += 1;
            match c {
                b'"' => return String::from_utf8(out).map_err(|e| e.to_string()),
                b'\\' => {
                    let e = self.peek().ok_or("unterminated escape")?;
                    self.i += 1;
                    let ch = match e {
                        b'"' => '"',
                        b'\\' => '\\',
                        b'/' => '/',
                        b'b' => '\u{8}',
                        b'f' => '\u{c}',
                        b'n' => '\n',
                        b'r' => '\r',
                        b't' => '\t',
                        b'u' => {
                            let hi = self.hex4()?;
                            let cp = if (0xD800..0xDC00).contains(&hi) {
                                if !self.b[self.i..].starts_with(b"\\u") {
                                    return Err("lone high surrogate".into());
                                }
                                self.i += 2;
                                let lo = self.hex4()?;
                                if !(0xDC00..0xE000).contains(&lo) {
                                    return Err("bad low surrogate".into());
                                }
                                0x10000 + ((hi - 0xD800) << 10) + (lo - 0xDC00)
                            } else {
                                hi
                            };
                            char::from_u32(cp).ok_or("bad \\u escape")?
                        }
                        _ => return Err(format!("bad escape at byte {}", self.i)),
                    };
                    let mut buf = [0u8; 4];
                    out.extend_from_slice(ch.encode_utf8(&mut buf).as_bytes());
                }
                _ => out.push(c),
            }
        }
    }
}

#[test]
fn json_reader_self_check() {
    let j = Json::parse(r#" {"a":"x\u00fc\ud83d\udd10\n","b":[1,-2.5e3,true,null],"c":{"d":false}} "#).expect("parses");
    assert_eq!(j.get("a").and_then(Json::as_str), Some("xü🔐\n"));
    assert_eq!(j.get("b").and_then(Json::as_array).map(<[Json]>::len), Some(4));
    assert_eq!(j.get("c").and_then(|c| c.get("d")), Some(&Json::Bool(false)));
    assert!(Json::parse("{\"a\":1,}").is_err());
    assert_eq!(Json::parse(&j.to_json()).expect("round trip"), j);
    assert_eq!(Json::Str("q\"\\\n".into()).to_json(), r#""q\"\\\u000a""#);
    assert_eq!(tamper_compact_ciphertext("h.k.i.Abc.t"), "h.k.i.Bbc.t");
    assert_eq!(tamper_json_member(r#"{"iv": "AAA", "tag":"xyz"}"#, "tag"), r#"{"iv": "AAA", "tag":"Ayz"}"#);
}
