//! The `local` backend: a keyring file encrypted at rest (the embedded
//! default).
//!
//! # File format (keyring v1)
//!
//! ```text
//! offset len  field
//!      0  16  magic "sealgate-keyring"
//!     16   1  format version = 1
//!     17   1  KDF: 1 = key file, 2 = argon2id (v0x13)
//!     18   4  argon2 m (KiB), big-endian   (0 for a key file)
//!     22   4  argon2 t (passes)            (0 for a key file)
//!     26   4  argon2 p (lanes)             (0 for a key file)
//!     30  16  salt (random per keyring)
//!     46  16  key check = HKDF-SHA256(master, salt, "…key check")
//!     62  12  AES-GCM nonce (random per write)
//!     74   4  ciphertext length including the 16-byte tag
//!     78   …  AES-256-GCM(key = HKDF-SHA256(master, salt, "…AES-256-GCM key"),
//!             aad = bytes 0..78, plaintext) || tag
//! ```
//!
//! `master` is the 32 bytes of the key file, or argon2id(passphrase, salt,
//! m, t, p) with the parameters recorded in the header. The whole header is
//! the AES-GCM AAD, so any change to it (parameters, salt, nonce, length)
//! fails authentication. The key check only tells a wrong passphrase apart
//! from a modified file; it says nothing the GCM tag does not.
//!
//! The plaintext is JSON: `{"root": {"created_at", "pkcs8"}, "keys": [{"kid",
//! "role", "version", "status", "created_at", "type", "jwk"}]}` where
//! `pkcs8` is the root ES256 key (PKCS#8, base64url) and `jwk` the private
//! JWK text of [`LocalKey::to_private_json`] in base64url (so the JSON parser
//! borrows it from the locked buffer instead of unescaping a copy).
//!
//! # Key file
//!
//! 32 random bytes in standard base64 (44 characters, one line), mode 0600:
//! text survives copy/paste and configuration management.
//! [`MasterKey::generate_key_file`] makes one; so does
//! `head -c 32 /dev/urandom | base64 > FILE && chmod 600 FILE`.
//!
//! # Writes
//!
//! Every mutation writes a new file beside the keyring, fsyncs it, keeps the
//! previous keyring as `FILE.bak` (a hard link), renames the new file over
//! `FILE` and fsyncs the directory: a crash leaves the old or the new
//! keyring, never a broken one. A keyring changed on disk by another process
//! since it was opened is not overwritten (reopen and retry).
//!
//! # Memory
//!
//! The decrypted keyring (every private key as JWK text, the root PKCS#8)
//! and the AES key live in page-aligned, `mlock`ed, zeroized-on-drop
//! buffers of their own pages. Locking is best effort
//! ([`LocalCustody::memory_locked`] says if it held; raise `RLIMIT_MEMLOCK`
//! if not). Not ours to lock: the parsed keys inside aws-lc (its heap,
//! cleared by aws-lc on free), argon2's work area (zeroized after use) and
//! short-lived copies while a key is parsed or exported (zeroized).

use std::fs::{self, File};
use std::io::{self, Read as _, Write as _};
use std::os::unix::fs::{MetadataExt as _, PermissionsExt as _};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError, RwLock};

use aws_lc_rs::aead::{AES_256_GCM, Aad, LessSafeKey, Nonce, UnboundKey};
use aws_lc_rs::rand::{SecureRandom as _, SystemRandom};
use aws_lc_rs::signature::{ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair, KeyPair as _};
use aws_lc_rs::{digest, hkdf};
use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD as B64};
use sealgate_envelope::secrecy::{ExposeSecret as _, SecretString};
use sealgate_envelope::{
    Curve, DecryptionKey, EphemeralPublicKey, KeyAlg, KeyError, KeyFuture, KeyKind, LocalKey, OaepHash, PublicJwk,
    SecretBytes, SharedSecret,
};
use serde::{Deserialize, Serialize};
use zeroize::{Zeroize as _, Zeroizing};

use crate::exchange_key::{self, ExchangeKeyInfo, ExchangeKeyType};
use crate::{Custody, CustodyError, CustodyFuture, Exportability, KeyInfo, KeyStatus, RoleKeyType, keyset};
use sealgate_hardening::private_file;

const BACKEND: &str = "local";
const MAGIC: &[u8; 16] = b"sealgate-keyring";
const FORMAT_V1: u8 = 1;
const KDF_KEY_FILE: u8 = 1;
const KDF_ARGON2ID: u8 = 2;
const SALT_LEN: usize = 16;
const CHECK_LEN: usize = 16;
const NONCE_LEN: usize = 12;
const TAG_LEN: usize = 16;
const HEADER_LEN: usize = 16 + 1 + 1 + 12 + SALT_LEN + CHECK_LEN + NONCE_LEN + 4;
/// Largest keyring file we read.
const MAX_FILE: u64 = 64 * 1024 * 1024;
/// Largest key or passphrase file we read.
const MAX_SECRET_FILE: u64 = 1024;
const INFO_ENC: &[u8] = b"sealgate keyring v1: AES-256-GCM key";
const INFO_CHECK: &[u8] = b"sealgate keyring v1: key check";
const ROLE_MAX: usize = 64;

// ---------------------------------------------------------------------------
// Locked memory
// ---------------------------------------------------------------------------

/// A fixed-capacity buffer on pages of its own, `mlock`ed (best effort) and
/// zeroized before it is unlocked and freed. It never reallocates.
struct LockedBuf {
    mem: Zeroizing<Vec<u8>>,
    start: usize,
    len: usize,
    cap: usize,
    guard: Option<region::LockGuard>,
}

impl LockedBuf {
    fn with_capacity(cap: usize) -> Self {
        let page = region::page::size();
        let cap = cap.max(1).div_ceil(page) * page;
        // One page of slack so the usable range can start on a page
        // boundary: the locked pages then hold nothing but this buffer (mlock
        // does not nest, so sharing a page with another lock would let one
        // guard unlock the other).
        let mem = Zeroizing::new(vec![0u8; cap + page]);
        let start = (page - mem.as_ptr().addr() % page) % page;
        let guard = region::lock(mem[start..].as_ptr(), cap).ok();
        Self { mem, start, len: 0, cap, guard }
    }

    fn copy_of(data: &[u8]) -> Self {
        let mut b = Self::with_capacity(data.len());
        b.mem[b.start..b.start + data.len()].copy_from_slice(data);
        b.len = data.len();
        b
    }

    fn as_slice(&self) -> &[u8] {
        &self.mem[self.start..self.start + self.len]
    }

    fn as_mut_slice(&mut self) -> &mut [u8] {
        &mut self.mem[self.start..self.start + self.len]
    }

    fn truncate(&mut self, len: usize) {
        if len < self.len {
            self.mem[self.start + len..self.start + self.len].zeroize();
            self.len = len;
        }
    }

    fn is_locked(&self) -> bool {
        self.guard.is_some()
    }
}

impl io::Write for LockedBuf {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        if buf.len() > self.cap - self.len {
            return Err(io::Error::other("locked buffer is full"));
        }
        let at = self.start + self.len;
        self.mem[at..at + buf.len()].copy_from_slice(buf);
        self.len += buf.len();
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl Drop for LockedBuf {
    fn drop(&mut self) {
        // Zeroize while still locked, then unlock; `mem` is freed after.
        self.mem.as_mut_slice().zeroize();
        drop(self.guard.take());
    }
}

/// Counts what a serializer writes (to size a [`LockedBuf`] exactly).
struct Counter(usize);

impl io::Write for Counter {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.0 += buf.len();
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

// ---------------------------------------------------------------------------
// Master key
// ---------------------------------------------------------------------------

/// Argon2id cost parameters, recorded in the keyring header at
/// [`LocalCustody::init`]; [`LocalCustody::open`] always uses the header's.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KdfParams {
    m_kib: u32,
    t: u32,
    p: u32,
}

impl KdfParams {
    /// m = 64 MiB, t = 3, p = 1 (about a quarter of a second here).
    pub const DEFAULT: Self = Self { m_kib: 64 * 1024, t: 3, p: 1 };
    /// Bounds accepted from a header (a tampered header must not make us
    /// allocate without limit before the tag is checked).
    const MAX_M_KIB: u32 = 2 * 1024 * 1024;
    const MAX_T: u32 = 64;
    const MAX_P: u32 = 16;

    /// Memory in KiB (at least 8 × `p`), passes (1-64), lanes (1-16).
    /// Cheap values (`new(8, 1, 1)`) are for tests only.
    pub fn new(m_kib: u32, t: u32, p: u32) -> Result<Self, CustodyError> {
        if !(1..=Self::MAX_P).contains(&p)
            || !(1..=Self::MAX_T).contains(&t)
            || m_kib < 8 * p
            || m_kib > Self::MAX_M_KIB
        {
            return Err(CustodyError::Config(format!(
                "argon2id parameters out of range: m = {m_kib} KiB (8·p to {} KiB), t = {t} (1 to {}), p = {p} (1 to {})",
                Self::MAX_M_KIB,
                Self::MAX_T,
                Self::MAX_P
            )));
        }
        Ok(Self { m_kib, t, p })
    }

    fn derive(self, passphrase: &[u8], salt: &[u8]) -> Result<Zeroizing<[u8; 32]>, CustodyError> {
        let params = argon2::Params::new(self.m_kib, self.t, self.p, Some(32))
            .map_err(|_| CustodyError::Config("argon2id parameters rejected".into()))?;
        let blocks = params.block_count();
        let argon = argon2::Argon2::new(argon2::Algorithm::Argon2id, argon2::Version::V0x13, params);
        // Our own work area, zeroized on drop (argon2 frees its own unscrubbed).
        let mut memory = Zeroizing::new(vec![argon2::Block::default(); blocks]);
        let mut out = Zeroizing::new([0u8; 32]);
        argon
            .hash_password_into_with_memory(passphrase, salt, out.as_mut_slice(), &mut *memory)
            .map_err(|_| CustodyError::Unlock("argon2id failed (passphrase too long?)"))?;
        Ok(out)
    }
}

impl Default for KdfParams {
    fn default() -> Self {
        Self::DEFAULT
    }
}

enum Master {
    KeyFile(Zeroizing<[u8; 32]>),
    Passphrase { passphrase: SecretString, params: KdfParams },
}

/// What unlocks a keyring: a key file or a passphrase. Prints `[REDACTED]`.
pub struct MasterKey(Master);

impl std::fmt::Debug for MasterKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let kind = match self.0 {
            Master::KeyFile(_) => "key-file",
            Master::Passphrase { .. } => "passphrase",
        };
        f.debug_struct("MasterKey").field("kind", &kind).field("secret", &"[REDACTED]").finish()
    }
}

impl MasterKey {
    /// Read a key file: 32 bytes in standard base64 (surrounding whitespace
    /// ignored). Refused unless mode is 0600 or stricter and its directory
    /// is not writable by others.
    pub fn from_key_file(path: &Path) -> Result<Self, CustodyError> {
        let text = read_secret_file(path, "key file")?;
        let bad = || {
            CustodyError::Config(format!(
                "key file {} must hold 32 random bytes in base64 (44 characters); make one with: \
                 head -c 32 /dev/urandom | base64 > FILE && chmod 600 FILE",
                path.display()
            ))
        };
        let trimmed = text.trim_ascii();
        let mut buf = Zeroizing::new([0u8; 48]);
        let n = STANDARD.decode_slice(trimmed, buf.as_mut_slice()).map_err(|_| bad())?;
        if n != 32 {
            return Err(bad());
        }
        let mut key = Zeroizing::new([0u8; 32]);
        key.copy_from_slice(&buf[..32]);
        if key.iter().all(|b| *b == 0) {
            return Err(bad());
        }
        Ok(Self(Master::KeyFile(key)))
    }

    /// Create a new key file (mode 0600; never overwrites) and return its key.
    pub fn generate_key_file(path: &Path) -> Result<Self, CustodyError> {
        check_dir(path, "key file")?;
        let mut key = Zeroizing::new([0u8; 32]);
        SystemRandom::new().fill(key.as_mut_slice()).map_err(|_| CustodyError::Backend {
            backend: BACKEND,
            what: "random bytes",
            source: None,
        })?;
        let mut text = Zeroizing::new([0u8; 45]);
        let n = STANDARD.encode_slice(key.as_slice(), text.as_mut_slice()).map_err(|_| CustodyError::Backend {
            backend: BACKEND,
            what: "encode the key file",
            source: None,
        })?;
        text[n] = b'\n';
        private_file::write_new(path, &text[..=n]).map_err(|e| {
            if e.kind() == io::ErrorKind::AlreadyExists {
                CustodyError::Config(format!(
                    "key file {} already exists; refusing to overwrite it (move it away first)",
                    path.display()
                ))
            } else {
                CustodyError::backend(BACKEND, "create the key file", e)
            }
        })?;
        Ok(Self(Master::KeyFile(key)))
    }

    /// A passphrase, stretched with argon2id. A new keyring gets
    /// [`KdfParams::DEFAULT`]; an existing one uses the parameters in its
    /// header.
    pub fn from_passphrase(passphrase: SecretString) -> Self {
        Self::from_passphrase_with_params(passphrase, KdfParams::DEFAULT)
    }

    /// A passphrase with the argon2id parameters a new keyring records
    /// (tests use cheap ones; opening always uses the header's).
    pub fn from_passphrase_with_params(passphrase: SecretString, params: KdfParams) -> Self {
        Self(Master::Passphrase { passphrase, params })
    }

    /// A passphrase from a file (mode 0600; one trailing newline dropped).
    pub fn from_passphrase_file(path: &Path) -> Result<Self, CustodyError> {
        let text = read_secret_file(path, "passphrase file")?;
        let mut s = std::str::from_utf8(&text)
            .map_err(|_| CustodyError::Config(format!("passphrase file {} is not UTF-8", path.display())))?;
        s = s.strip_suffix('\n').unwrap_or(s);
        s = s.strip_suffix('\r').unwrap_or(s);
        Ok(Self::from_passphrase(SecretString::from(s)))
    }

    fn kdf_byte(&self) -> u8 {
        match self.0 {
            Master::KeyFile(_) => KDF_KEY_FILE,
            Master::Passphrase { .. } => KDF_ARGON2ID,
        }
    }
}

/// Read a small secret file after checking its permissions.
fn read_secret_file(path: &Path, what: &str) -> Result<Zeroizing<Vec<u8>>, CustodyError> {
    check_private_file(path, what, false)?;
    let mut f = File::open(path)
        .map_err(|e| CustodyError::Config(format!("cannot open {what} {}: {}", path.display(), e.kind())))?;
    // Sized up front so reading never reallocates and leaves a copy behind.
    let mut buf = Zeroizing::new(Vec::with_capacity(2 * MAX_SECRET_FILE as usize));
    (&mut f)
        .take(MAX_SECRET_FILE + 1)
        .read_to_end(&mut buf)
        .map_err(|e| CustodyError::backend(BACKEND, "read a secret file", e))?;
    if buf.len() as u64 > MAX_SECRET_FILE {
        return Err(CustodyError::Config(format!("{what} {} is larger than {MAX_SECRET_FILE} bytes", path.display())));
    }
    Ok(buf)
}

// ---------------------------------------------------------------------------
// Permissions
// ---------------------------------------------------------------------------

/// Refuse a directory others can read (they learn which keyrings exist and
/// when they change) or write (they could swap our files): the issue asks
/// for the directory too not to be readable by others, stricter than ssh.
fn check_dir(path: &Path, what: &str) -> Result<(), CustodyError> {
    let dir = private_file::parent_of(path);
    let md = fs::metadata(&dir).map_err(|e| {
        CustodyError::Config(format!("cannot read directory {} of {what}: {}", dir.display(), e.kind()))
    })?;
    let mode = md.permissions().mode() & 0o7777;
    if mode & 0o006 != 0 {
        return Err(CustodyError::Config(format!(
            "directory {} of {what} {} is readable or writable by others (mode {mode:04o}); fix: chmod o-rw {}",
            dir.display(),
            path.display(),
            dir.display()
        )));
    }
    Ok(())
}

/// Like ssh: refuse a secret file readable or writable by group or others.
/// `no_symlink`: the keyring is replaced by rename, so it must be the file
/// itself, not a link to it.
fn check_private_file(path: &Path, what: &str, no_symlink: bool) -> Result<(), CustodyError> {
    let lmd = fs::symlink_metadata(path).map_err(|e| {
        if e.kind() == io::ErrorKind::NotFound {
            CustodyError::Config(format!("{what} {} does not exist", path.display()))
        } else {
            CustodyError::Config(format!("cannot read {what} {}: {}", path.display(), e.kind()))
        }
    })?;
    if no_symlink && lmd.file_type().is_symlink() {
        return Err(CustodyError::Config(format!(
            "{what} {} is a symbolic link; point the configuration at the file itself (it is replaced atomically on every change)",
            path.display()
        )));
    }
    let md = fs::metadata(path)
        .map_err(|e| CustodyError::Config(format!("cannot read {what} {}: {}", path.display(), e.kind())))?;
    if !md.is_file() {
        return Err(CustodyError::Config(format!("{what} {} is not a regular file", path.display())));
    }
    let mode = md.mode() & 0o7777;
    if mode & 0o077 != 0 {
        return Err(CustodyError::Config(format!(
            "{what} {} is accessible by group or others (mode {mode:04o}); fix: chmod 600 {}",
            path.display(),
            path.display()
        )));
    }
    check_dir(path, what)?;
    // ssh's StrictModes: owned by this user; its directory this user's (or root's) and
    // not group- or other-writable.
    sealgate_hardening::check_strict_modes(path, true).map_err(|e| CustodyError::Config(format!("{what}: {e}")))
}

// ---------------------------------------------------------------------------
// Header and encryption
// ---------------------------------------------------------------------------

#[derive(Clone, Copy)]
struct Header {
    kdf: u8,
    params: Option<KdfParams>,
    salt: [u8; SALT_LEN],
    check: [u8; CHECK_LEN],
    nonce: [u8; NONCE_LEN],
    ct_len: u32,
}

impl Header {
    fn encode(&self) -> [u8; HEADER_LEN] {
        let mut h = [0u8; HEADER_LEN];
        h[..16].copy_from_slice(MAGIC);
        h[16] = FORMAT_V1;
        h[17] = self.kdf;
        let (m, t, p) = self.params.map_or((0, 0, 0), |k| (k.m_kib, k.t, k.p));
        h[18..22].copy_from_slice(&m.to_be_bytes());
        h[22..26].copy_from_slice(&t.to_be_bytes());
        h[26..30].copy_from_slice(&p.to_be_bytes());
        h[30..46].copy_from_slice(&self.salt);
        h[46..62].copy_from_slice(&self.check);
        h[62..74].copy_from_slice(&self.nonce);
        h[74..78].copy_from_slice(&self.ct_len.to_be_bytes());
        h
    }

    fn decode(path: &Path, b: &[u8]) -> Result<Self, CustodyError> {
        if b.len() < HEADER_LEN {
            if b.len() >= MAGIC.len() && &b[..MAGIC.len()] != MAGIC {
                return Err(not_a_keyring(path));
            }
            return Err(truncated(path, b.len(), HEADER_LEN));
        }
        if &b[..16] != MAGIC {
            return Err(not_a_keyring(path));
        }
        if b[16] != FORMAT_V1 {
            return Err(CustodyError::Config(format!(
                "keyring {} has format version {}, which this build does not read; upgrade sealgate",
                path.display(),
                b[16]
            )));
        }
        let u32_at = |i: usize| u32::from_be_bytes([b[i], b[i + 1], b[i + 2], b[i + 3]]);
        let params = match b[17] {
            KDF_KEY_FILE => None,
            KDF_ARGON2ID => Some(
                KdfParams::new(u32_at(18), u32_at(22), u32_at(26))
                    .map_err(|_| CustodyError::Unlock("keyring header is corrupted (argon2id parameters)"))?,
            ),
            _ => return Err(CustodyError::Unlock("keyring header is corrupted (unknown KDF)")),
        };
        let mut h = Header {
            kdf: b[17],
            params,
            salt: [0; SALT_LEN],
            check: [0; CHECK_LEN],
            nonce: [0; NONCE_LEN],
            ct_len: u32_at(74),
        };
        h.salt.copy_from_slice(&b[30..46]);
        h.check.copy_from_slice(&b[46..62]);
        h.nonce.copy_from_slice(&b[62..74]);
        Ok(h)
    }
}

fn not_a_keyring(path: &Path) -> CustodyError {
    CustodyError::Config(format!("{} is not a sealgate keyring (bad magic)", path.display()))
}

fn truncated(path: &Path, have: usize, want: usize) -> CustodyError {
    let p = path.display();
    CustodyError::Config(format!(
        "keyring {p} is truncated ({have} of {want} bytes); restore the previous keyring: cp -p {p}.bak {p}"
    ))
}

struct HkdfLen(usize);

impl hkdf::KeyType for HkdfLen {
    fn len(&self) -> usize {
        self.0
    }
}

/// The AES key (locked) and key check derived from the master key.
struct Cipher {
    key: LockedBuf,
    kdf: u8,
    params: Option<KdfParams>,
    salt: [u8; SALT_LEN],
    check: [u8; CHECK_LEN],
}

impl Cipher {
    fn derive(master: &MasterKey, params: Option<KdfParams>, salt: [u8; SALT_LEN]) -> Result<Self, CustodyError> {
        let ikm = match (&master.0, params) {
            (Master::KeyFile(k), None) => Zeroizing::new(**k),
            (Master::Passphrase { passphrase, .. }, Some(p)) => {
                p.derive(passphrase.expose_secret().as_bytes(), &salt)?
            }
            _ => return Err(CustodyError::Unlock("master key kind does not match the keyring")),
        };
        let prk = hkdf::Salt::new(hkdf::HKDF_SHA256, &salt).extract(ikm.as_slice());
        let fail = || CustodyError::Backend { backend: BACKEND, what: "HKDF", source: None };
        let mut key = LockedBuf::with_capacity(32);
        key.write_all(&[0u8; 32]).map_err(|_| fail())?;
        prk.expand(&[INFO_ENC], HkdfLen(32)).and_then(|okm| okm.fill(key.as_mut_slice())).map_err(|_| fail())?;
        let mut check = [0u8; CHECK_LEN];
        prk.expand(&[INFO_CHECK], HkdfLen(CHECK_LEN)).and_then(|okm| okm.fill(&mut check)).map_err(|_| fail())?;
        Ok(Self { key, kdf: master.kdf_byte(), params, salt, check })
    }

    fn aead(&self) -> Result<LessSafeKey, CustodyError> {
        UnboundKey::new(&AES_256_GCM, self.key.as_slice()).map(LessSafeKey::new).map_err(|_| CustodyError::Backend {
            backend: BACKEND,
            what: "AES-GCM key",
            source: None,
        })
    }

    /// Header || ciphertext || tag of `plain`.
    fn seal(&self, plain: &[u8]) -> Result<Vec<u8>, CustodyError> {
        let rng_fail = || CustodyError::Backend { backend: BACKEND, what: "random bytes", source: None };
        let mut nonce = [0u8; NONCE_LEN];
        SystemRandom::new().fill(&mut nonce).map_err(|_| rng_fail())?;
        let ct_len =
            u32::try_from(plain.len() + TAG_LEN).map_err(|_| CustodyError::Config("keyring is too large".into()))?;
        let header =
            Header { kdf: self.kdf, params: self.params, salt: self.salt, check: self.check, nonce, ct_len }.encode();
        // Encrypt in a locked copy so no unlocked plaintext copy exists.
        let mut scratch = LockedBuf::copy_of(plain);
        let tag = self
            .aead()?
            .seal_in_place_separate_tag(
                Nonce::assume_unique_for_key(nonce),
                Aad::from(&header[..]),
                scratch.as_mut_slice(),
            )
            .map_err(|_| CustodyError::Backend { backend: BACKEND, what: "encrypt the keyring", source: None })?;
        let mut out = Vec::with_capacity(HEADER_LEN + plain.len() + TAG_LEN);
        out.extend_from_slice(&header);
        out.extend_from_slice(scratch.as_slice());
        out.extend_from_slice(tag.as_ref());
        Ok(out)
    }
}

// ---------------------------------------------------------------------------
// Keyring contents
// ---------------------------------------------------------------------------

/// The plaintext document. Secret members are borrowed from the locked
/// buffer (base64url has no escapes, so the parser never copies them).
#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct Doc<'a> {
    #[serde(borrow)]
    root: RootDoc<'a>,
    #[serde(borrow)]
    keys: Vec<EntryDoc<'a>>,
    /// Exchange keys born here (absent in keyrings that never held one, so older
    /// versions still read those).
    #[serde(borrow, default, skip_serializing_if = "Vec::is_empty")]
    exchange_keys: Vec<XDoc<'a>>,
}

/// An exchange key: its PKCS#8 in base64url.
#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct XDoc<'a> {
    id: String,
    #[serde(rename = "type")]
    key_type: ExchangeKeyType,
    created_at: u64,
    pkcs8: &'a str,
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct RootDoc<'a> {
    created_at: u64,
    pkcs8: &'a str,
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct EntryDoc<'a> {
    kid: String,
    role: String,
    version: u32,
    status: KeyStatus,
    created_at: u64,
    #[serde(rename = "type")]
    key_type: RoleKeyType,
    jwk: &'a str,
}

/// A key version in memory.
#[derive(Clone)]
struct Entry {
    kid: String,
    role: String,
    version: u32,
    status: KeyStatus,
    created_at: u64,
    key_type: RoleKeyType,
    public: PublicJwk,
    key: Arc<LocalKey>,
}

impl Entry {
    fn info(&self) -> KeyInfo {
        KeyInfo {
            kid: self.kid.clone(),
            role: self.role.clone(),
            version: self.version,
            status: self.status,
            public: self.public.clone(),
            created_at: self.created_at,
        }
    }
}

/// An exchange key in memory (aws-lc holds the parsed key; the PKCS#8 stays in the
/// locked document).
#[derive(Clone)]
struct XEntry {
    info: ExchangeKeyInfo,
    key: Arc<XKey>,
}

enum XKey {
    Ed25519(aws_lc_rs::signature::Ed25519KeyPair),
    Rsa(aws_lc_rs::rsa::KeyPair),
}

impl XKey {
    fn from_pkcs8(key_type: ExchangeKeyType, pkcs8: &[u8]) -> Result<Self, CustodyError> {
        match key_type {
            ExchangeKeyType::Ed25519 => {
                aws_lc_rs::signature::Ed25519KeyPair::from_pkcs8(pkcs8).map(Self::Ed25519).map_err(|_| corrupt())
            }
            ExchangeKeyType::Rsa2048 => {
                let k = aws_lc_rs::rsa::KeyPair::from_pkcs8(pkcs8).map_err(|_| corrupt())?;
                if k.public_modulus_len() != 256 {
                    return Err(corrupt());
                }
                Ok(Self::Rsa(k))
            }
        }
    }

    /// DER SubjectPublicKeyInfo.
    fn public_spki(&self) -> Result<Vec<u8>, CustodyError> {
        use aws_lc_rs::encoding::AsDer as _;
        let der = match self {
            Self::Ed25519(k) => k.public_key().as_der().map(|d| d.as_ref().to_vec()),
            Self::Rsa(k) => k.public_key().as_der().map(|d| d.as_ref().to_vec()),
        };
        der.map_err(|_| CustodyError::Backend { backend: BACKEND, what: "encode a public key", source: None })
    }

    fn sign(&self, message: &[u8]) -> Result<Vec<u8>, CustodyError> {
        match self {
            Self::Ed25519(k) => Ok(k.sign(message).as_ref().to_vec()),
            Self::Rsa(k) => {
                let mut sig = vec![0u8; k.public_modulus_len()];
                k.sign(&aws_lc_rs::signature::RSA_PKCS1_SHA256, &SystemRandom::new(), message, &mut sig)
                    .map_err(|_| CustodyError::Backend { backend: BACKEND, what: "RSA signature", source: None })?;
                Ok(sig)
            }
        }
    }
}

/// A new exchange key's PKCS#8, in a zeroizing buffer.
fn generate_exchange_key(key_type: ExchangeKeyType) -> Result<Zeroizing<Vec<u8>>, CustodyError> {
    let failed = || CustodyError::Backend { backend: BACKEND, what: "generate an exchange key", source: None };
    Ok(Zeroizing::new(match key_type {
        ExchangeKeyType::Ed25519 => aws_lc_rs::signature::Ed25519KeyPair::generate_pkcs8(&SystemRandom::new())
            .map_err(|_| failed())?
            .as_ref()
            .to_vec(),
        ExchangeKeyType::Rsa2048 => {
            use aws_lc_rs::encoding::AsDer as _;
            let k = aws_lc_rs::rsa::KeyPair::generate(aws_lc_rs::rsa::KeySize::Rsa2048).map_err(|_| failed())?;
            k.as_der().map_err(|_| failed())?.as_ref().to_vec()
        }
    }))
}

struct State {
    entries: Vec<Entry>,
    xkeys: Vec<XEntry>,
    /// The decrypted keyring document (locked).
    plain: LockedBuf,
}

fn corrupt() -> CustodyError {
    CustodyError::Config("keyring contents are malformed (written by an incompatible version?)".into())
}

fn parse_doc(plain: &[u8]) -> Result<Doc<'_>, CustodyError> {
    // Never show serde's message: it can quote the input.
    serde_json::from_slice(plain).map_err(|_| corrupt())
}

/// Decode base64url into a zeroizing buffer sized up front.
fn b64_secret(s: &str) -> Result<Zeroizing<Vec<u8>>, CustodyError> {
    let mut buf = Zeroizing::new(vec![0u8; base64::decoded_len_estimate(s.len())]);
    let n = B64.decode_slice(s, buf.as_mut_slice()).map_err(|_| corrupt())?;
    buf.truncate(n);
    Ok(buf)
}

fn b64_secret_encode(bytes: &[u8]) -> Zeroizing<String> {
    let mut s = Zeroizing::new(String::with_capacity(base64::encoded_len(bytes.len(), false).unwrap_or(0)));
    B64.encode_string(bytes, &mut s);
    s
}

/// The public JWK of a version carries the version's kid.
fn public_with_kid(key: &LocalKey, kid: &str) -> Result<PublicJwk, CustodyError> {
    let public = key.public();
    if public.kid() == Some(kid) {
        return Ok(public.clone());
    }
    let mut j = public.to_json();
    if let Some(o) = j.as_object_mut() {
        o.insert("kid".into(), kid.into());
    }
    let text = serde_json::to_vec(&j).map_err(|_| corrupt())?;
    PublicJwk::from_json(&text).map_err(|e| CustodyError::backend(BACKEND, "set the kid of a public key", e))
}

fn key_type_of(key: &LocalKey) -> Result<RoleKeyType, CustodyError> {
    let t = match key.public().kind() {
        KeyKind::Ecdh(Curve::P256) => RoleKeyType::EcdhP256,
        KeyKind::Ecdh(Curve::P384) => RoleKeyType::EcdhP384,
        KeyKind::Ecdh(Curve::X25519) => RoleKeyType::EcdhX25519,
        KeyKind::Rsa { modulus_len: 384 } => RoleKeyType::Rsa3072,
        KeyKind::Rsa { modulus_len: 512 } => RoleKeyType::Rsa4096,
        _ => {
            return Err(CustodyError::Config(
                "the keyring holds P-256, P-384, X25519 and RSA 3072/4096 keys only".into(),
            ));
        }
    };
    match key.public().alg() {
        None | Some(KeyAlg::EcdhEsA256Kw | KeyAlg::RsaOaep256) => Ok(t),
        Some(_) => Err(CustodyError::Config("role keys must be for ECDH-ES+A256KW or RSA-OAEP-256".into())),
    }
}

fn generate(key_type: RoleKeyType, kid: &str) -> Result<LocalKey, CustodyError> {
    let r = match key_type {
        RoleKeyType::EcdhP256 => LocalKey::generate_ec(Curve::P256, kid),
        RoleKeyType::EcdhP384 => LocalKey::generate_ec(Curve::P384, kid),
        RoleKeyType::EcdhX25519 => LocalKey::generate_ec(Curve::X25519, kid),
        RoleKeyType::Rsa3072 => LocalKey::generate_rsa(3072, kid),
        RoleKeyType::Rsa4096 => LocalKey::generate_rsa(4096, kid),
    };
    r.map_err(|e| CustodyError::backend(BACKEND, "generate a key", e))
}

fn check_role(role: &str) -> Result<(), CustodyError> {
    if role.is_empty()
        || role.len() > ROLE_MAX
        || !role.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_' || b == b'.')
    {
        return Err(CustodyError::Config(format!(
            "role name must be 1-{ROLE_MAX} characters of a-z, A-Z, 0-9, '-', '_', '.'"
        )));
    }
    Ok(())
}

fn now_secs() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs())
}

fn digest_of(bytes: &[u8]) -> [u8; 32] {
    let mut out = [0u8; 32];
    out.copy_from_slice(digest::digest(&digest::SHA256, bytes).as_ref());
    out
}

/// Serialize `entries` into a new locked buffer, taking each existing key's
/// JWK text from `old` (or from `extra` for a new version).
fn render(
    root: RootDoc<'_>,
    entries: &[Entry],
    xkeys: &[XEntry],
    old: &Doc<'_>,
    extra: Option<(&str, &str)>,
) -> Result<LockedBuf, CustodyError> {
    let mut keys = Vec::with_capacity(entries.len());
    for e in entries {
        let jwk = match extra {
            Some((kid, jwk)) if kid == e.kid => jwk,
            _ => old.keys.iter().find(|k| k.kid == e.kid).map(|k| k.jwk).ok_or_else(corrupt)?,
        };
        keys.push(EntryDoc {
            kid: e.kid.clone(),
            role: e.role.clone(),
            version: e.version,
            status: e.status,
            created_at: e.created_at,
            key_type: e.key_type,
            jwk,
        });
    }
    let mut exchange_keys = Vec::with_capacity(xkeys.len());
    for x in xkeys {
        let pkcs8 = match extra {
            Some((id, pkcs8)) if id == x.info.id => pkcs8,
            _ => old.exchange_keys.iter().find(|k| k.id == x.info.id).map(|k| k.pkcs8).ok_or_else(corrupt)?,
        };
        exchange_keys.push(XDoc {
            id: x.info.id.clone(),
            key_type: x.info.key_type,
            created_at: x.info.created_at,
            pkcs8,
        });
    }
    let doc = Doc { root, keys, exchange_keys };
    let mut n = Counter(0);
    serde_json::to_writer(&mut n, &doc).map_err(|_| corrupt())?;
    let mut buf = LockedBuf::with_capacity(n.0);
    serde_json::to_writer(&mut buf, &doc).map_err(|_| corrupt())?;
    Ok(buf)
}

// ---------------------------------------------------------------------------
// The custody
// ---------------------------------------------------------------------------

/// The local keyring custody.
pub struct LocalCustody {
    path: PathBuf,
    state: Arc<RwLock<State>>,
    cipher: Cipher,
    root: EcdsaKeyPair,
    /// Serializes mutations; holds the SHA-256 of the file as last read or
    /// written (to refuse overwriting another process's change).
    writer: Mutex<[u8; 32]>,
}

impl std::fmt::Debug for LocalCustody {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let n = self.state.read().map_or(0, |s| s.entries.len());
        f.debug_struct("LocalCustody")
            .field("path", &self.path)
            .field("versions", &n)
            .field("keys", &"[REDACTED]")
            .finish()
    }
}

impl LocalCustody {
    /// Create a new keyring at `path` (mode 0600) with a fresh root ES256
    /// key and no role keys. Refuses to overwrite anything.
    pub fn init(path: &Path, master: MasterKey) -> Result<Self, CustodyError> {
        check_dir(path, "keyring")?;
        if fs::symlink_metadata(path).is_ok() {
            return Err(CustodyError::Config(format!(
                "keyring {} already exists; refusing to overwrite it (move it away first to start over)",
                path.display()
            )));
        }
        if let Master::Passphrase { passphrase, .. } = &master.0
            && passphrase.expose_secret().is_empty()
        {
            return Err(CustodyError::Config("the passphrase is empty".into()));
        }
        let rng = SystemRandom::new();
        let mut salt = [0u8; SALT_LEN];
        rng.fill(&mut salt).map_err(|_| CustodyError::Backend {
            backend: BACKEND,
            what: "random bytes",
            source: None,
        })?;
        let params = match &master.0 {
            Master::KeyFile(_) => None,
            Master::Passphrase { params, .. } => Some(*params),
        };
        let cipher = Cipher::derive(&master, params, salt)?;
        drop(master);

        let pkcs8 = EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &rng)
            .map_err(|_| CustodyError::Backend { backend: BACKEND, what: "generate the root key", source: None })?;
        let pkcs8_b64 = b64_secret_encode(pkcs8.as_ref());
        let root = EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, pkcs8.as_ref())
            .map_err(|_| CustodyError::Backend { backend: BACKEND, what: "load the root key", source: None })?;
        drop(pkcs8);
        let empty = Doc { root: RootDoc { created_at: 0, pkcs8: "" }, keys: Vec::new(), exchange_keys: Vec::new() };
        let plain = render(RootDoc { created_at: now_secs(), pkcs8: &pkcs8_b64 }, &[], &[], &empty, None)?;
        let bytes = cipher.seal(plain.as_slice())?;
        write_new(path, &bytes)?;
        Ok(Self {
            path: path.to_path_buf(),
            state: Arc::new(RwLock::new(State { entries: Vec::new(), xkeys: Vec::new(), plain })),
            cipher,
            root,
            writer: Mutex::new(digest_of(&bytes)),
        })
    }

    /// Open an existing keyring. Refused (with the fix in the message) if the
    /// file is readable or writable by group or others, or its directory is
    /// writable by others; [`CustodyError::Unlock`] for a wrong key or
    /// passphrase or a modified file.
    pub fn open(path: &Path, master: MasterKey) -> Result<Self, CustodyError> {
        check_private_file(path, "keyring", true)?;
        let len = fs::metadata(path).map(|m| m.len()).unwrap_or(0);
        if len > MAX_FILE {
            return Err(CustodyError::Config(format!("keyring {} is larger than 64 MiB", path.display())));
        }
        let bytes = fs::read(path).map_err(|e| CustodyError::backend(BACKEND, "read the keyring", e))?;
        let header = Header::decode(path, &bytes)?;
        let body = &bytes[HEADER_LEN..];
        let want = header.ct_len as usize;
        if body.len() < want {
            return Err(truncated(path, bytes.len(), HEADER_LEN + want));
        }
        if body.len() > want {
            return Err(CustodyError::Unlock("keyring has trailing bytes: the file was modified"));
        }
        if want < TAG_LEN {
            return Err(CustodyError::Unlock("keyring header is corrupted (length)"));
        }
        match (&master.0, header.kdf) {
            (Master::KeyFile(_), KDF_ARGON2ID) => {
                return Err(CustodyError::Config(format!(
                    "keyring {} is protected by a passphrase, not a key file",
                    path.display()
                )));
            }
            (Master::Passphrase { .. }, KDF_KEY_FILE) => {
                return Err(CustodyError::Config(format!(
                    "keyring {} is protected by a key file, not a passphrase",
                    path.display()
                )));
            }
            _ => {}
        }
        let mut cipher = Cipher::derive(&master, header.params, header.salt)?;
        drop(master);
        if aws_lc_rs::constant_time::verify_slices_are_equal(&cipher.check, &header.check).is_err() {
            return Err(CustodyError::Unlock("wrong passphrase or key file"));
        }
        cipher.check = header.check;

        let mut plain = LockedBuf::copy_of(body);
        let n = cipher
            .aead()?
            .open_in_place(
                Nonce::assume_unique_for_key(header.nonce),
                Aad::from(&bytes[..HEADER_LEN]),
                plain.as_mut_slice(),
            )
            .map_err(|_| CustodyError::Unlock("keyring authentication failed: the file was modified or corrupted"))?
            .len();
        plain.truncate(n);

        let (root, entries, xkeys) = {
            let doc = parse_doc(plain.as_slice())?;
            let pkcs8 = b64_secret(doc.root.pkcs8)?;
            let root = EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &pkcs8).map_err(|_| corrupt())?;
            let mut entries: Vec<Entry> = Vec::with_capacity(doc.keys.len());
            for k in &doc.keys {
                let text = b64_secret(k.jwk)?;
                let key = LocalKey::from_json(&text).map_err(|_| corrupt())?;
                if entries.iter().any(|e| e.kid == k.kid) || key_type_of(&key)? != k.key_type {
                    return Err(corrupt());
                }
                entries.push(Entry {
                    kid: k.kid.clone(),
                    role: k.role.clone(),
                    version: k.version,
                    status: k.status,
                    created_at: k.created_at,
                    key_type: k.key_type,
                    public: public_with_kid(&key, &k.kid)?,
                    key: Arc::new(key),
                });
            }
            let mut xkeys: Vec<XEntry> = Vec::with_capacity(doc.exchange_keys.len());
            for x in &doc.exchange_keys {
                exchange_key::check_id(&x.id).map_err(|_| corrupt())?;
                let key = XKey::from_pkcs8(x.key_type, &b64_secret(x.pkcs8)?)?;
                if xkeys.iter().any(|e| e.info.id == x.id) {
                    return Err(corrupt());
                }
                let info = ExchangeKeyInfo {
                    id: x.id.clone(),
                    key_type: x.key_type,
                    public_spki: key.public_spki()?,
                    created_at: x.created_at,
                    exportability: Exportability::SoftwareKey,
                };
                xkeys.push(XEntry { info, key: Arc::new(key) });
            }
            (root, entries, xkeys)
        };
        Ok(Self {
            path: path.to_path_buf(),
            state: Arc::new(RwLock::new(State { entries, xkeys, plain })),
            cipher,
            root,
            writer: Mutex::new(digest_of(&bytes)),
        })
    }

    /// The keyring file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Whether the decrypted keyring and the AES key are `mlock`ed (false:
    /// raise `RLIMIT_MEMLOCK`, e.g. systemd `LimitMEMLOCK=`).
    pub fn memory_locked(&self) -> bool {
        self.cipher.key.is_locked() && self.read().plain.is_locked()
    }

    /// Import a private JWK (P-256, P-384, X25519, RSA 3072/4096) as the new
    /// active version of `role` (kid `ROLE-vN`; the JWK's own kid is kept
    /// only inside the stored JWK). Hand the JWK in a zeroizing buffer.
    pub fn import_jwk(&self, role: &str, private_jwk: &[u8]) -> Result<KeyInfo, CustodyError> {
        let key = LocalKey::from_json(private_jwk).map_err(|e| CustodyError::backend(BACKEND, "parse the JWK", e))?;
        let key_type = key_type_of(&key)?;
        self.add_version(role, key_type, |_| Ok(key))
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, State> {
        // A panic while holding the lock cannot leave a half-made state: the
        // new state is built aside and swapped in one assignment.
        self.state.read().unwrap_or_else(PoisonError::into_inner)
    }

    fn add_version(
        &self,
        role: &str,
        key_type: RoleKeyType,
        make: impl FnOnce(&str) -> Result<LocalKey, CustodyError>,
    ) -> Result<KeyInfo, CustodyError> {
        check_role(role)?;
        let mut last = self.writer.lock().unwrap_or_else(PoisonError::into_inner);
        let version = self.read().entries.iter().filter(|e| e.role == role).map(|e| e.version).max().unwrap_or(0) + 1;
        let kid = format!("{role}-v{version}");
        if self.read().entries.iter().any(|e| e.kid == kid) {
            return Err(CustodyError::Config(format!("key version {kid} already exists")));
        }
        // Generation (slow for RSA) runs without holding the state lock.
        let key = make(&kid)?;
        let jwk_text = key.to_private_json().map_err(|e| CustodyError::backend(BACKEND, "export the key", e))?;
        let jwk_b64 = b64_secret_encode(jwk_text.as_bytes());
        drop(jwk_text);
        let entry = Entry {
            public: public_with_kid(&key, &kid)?,
            kid: kid.clone(),
            role: role.to_owned(),
            version,
            status: KeyStatus::Active,
            created_at: now_secs(),
            key_type,
            key: Arc::new(key),
        };
        let info = entry.info();
        let mut entries = self.read().entries.clone();
        for e in entries.iter_mut().filter(|e| e.role == role && e.status == KeyStatus::Active) {
            e.status = KeyStatus::DecryptOnly;
        }
        entries.push(entry);
        let xkeys = self.read().xkeys.clone();
        self.commit(&mut last, entries, xkeys, Some((&kid, &jwk_b64)))?;
        Ok(info)
    }

    fn change_status(&self, kid: &str, status: KeyStatus) -> Result<(), CustodyError> {
        let mut last = self.writer.lock().unwrap_or_else(PoisonError::into_inner);
        let mut entries = self.read().entries.clone();
        let i = entries.iter().position(|e| e.kid == kid).ok_or_else(|| CustodyError::UnknownKid(kid.to_owned()))?;
        if entries[i].status == status {
            return Ok(());
        }
        // One active version per role: activating one demotes the other.
        if status == KeyStatus::Active {
            let role = entries[i].role.clone();
            for e in entries.iter_mut().filter(|e| e.role == role && e.status == KeyStatus::Active) {
                e.status = KeyStatus::DecryptOnly;
            }
        }
        entries[i].status = status;
        let xkeys = self.read().xkeys.clone();
        self.commit(&mut last, entries, xkeys, None)
    }

    /// Write `entries` to disk, then make them the in-memory state.
    fn add_exchange_key(&self, key_type: ExchangeKeyType) -> Result<ExchangeKeyInfo, CustodyError> {
        let mut last = self.writer.lock().unwrap_or_else(PoisonError::into_inner);
        let id = exchange_key::new_id()?;
        // Generation (slow for RSA) runs without holding the state lock.
        let pkcs8 = generate_exchange_key(key_type)?;
        let key = XKey::from_pkcs8(key_type, &pkcs8)?;
        let pkcs8_b64 = b64_secret_encode(&pkcs8);
        drop(pkcs8);
        let info = ExchangeKeyInfo {
            id: id.clone(),
            key_type,
            public_spki: key.public_spki()?,
            created_at: now_secs(),
            exportability: Exportability::SoftwareKey,
        };
        let (entries, mut xkeys) = {
            let st = self.read();
            (st.entries.clone(), st.xkeys.clone())
        };
        xkeys.push(XEntry { info: info.clone(), key: Arc::new(key) });
        self.commit(&mut last, entries, xkeys, Some((&id, &pkcs8_b64)))?;
        Ok(info)
    }

    fn remove_exchange_key(&self, id: &str) -> Result<(), CustodyError> {
        exchange_key::check_id(id)?;
        let mut last = self.writer.lock().unwrap_or_else(PoisonError::into_inner);
        let (entries, mut xkeys) = {
            let st = self.read();
            (st.entries.clone(), st.xkeys.clone())
        };
        let before = xkeys.len();
        xkeys.retain(|x| x.info.id != id);
        if xkeys.len() == before {
            return Err(CustodyError::UnknownKid(id.to_owned()));
        }
        // The keyring's `.bak` still holds the key until the next write replaces it.
        self.commit(&mut last, entries, xkeys, None)
    }

    /// A signature by exchange key `id`, made under the read lock (no copy of the entry
    /// per signature), checked against its public key.
    fn sign_exchange(&self, id: &str, message: &[u8]) -> Result<Vec<u8>, CustodyError> {
        exchange_key::check_id(id)?;
        let st = self.read();
        let x = st.xkeys.iter().find(|x| x.info.id == id).ok_or_else(|| CustodyError::UnknownKid(id.to_owned()))?;
        exchange_key::checked(&x.info, message, x.key.sign(message)?, BACKEND)
    }

    /// `extra` is the one new secret (a role key's JWK or an exchange key's PKCS#8, by
    /// kid or id) that the old document does not hold yet.
    fn commit(
        &self,
        last: &mut [u8; 32],
        entries: Vec<Entry>,
        xkeys: Vec<XEntry>,
        extra: Option<(&str, &str)>,
    ) -> Result<(), CustodyError> {
        let plain = {
            let st = self.read();
            let old = parse_doc(st.plain.as_slice())?;
            let root = RootDoc { created_at: old.root.created_at, pkcs8: old.root.pkcs8 };
            render(root, &entries, &xkeys, &old, extra)?
        };
        let bytes = self.cipher.seal(plain.as_slice())?;
        let on_disk = fs::read(&self.path).map_err(|e| CustodyError::backend(BACKEND, "read the keyring", e))?;
        if digest_of(&on_disk) != *last {
            return Err(CustodyError::Config(format!(
                "keyring {} was changed by another process since it was opened; open it again and retry",
                self.path.display()
            )));
        }
        replace_file(&self.path, &bytes)?;
        *last = digest_of(&bytes);
        let old = {
            let mut st = self.state.write().unwrap_or_else(PoisonError::into_inner);
            st.entries = entries;
            st.xkeys = xkeys;
            std::mem::replace(&mut st.plain, plain)
        };
        drop(old);
        Ok(())
    }
}

/// Create `path` atomically, never replacing an existing file (the shared
/// private-file rule: 0600 temporary file, `link`, directory fsync).
fn write_new(path: &Path, bytes: &[u8]) -> Result<(), CustodyError> {
    private_file::write_new(path, bytes).map_err(|e| {
        if e.kind() == io::ErrorKind::AlreadyExists {
            CustodyError::Config(format!("keyring {} already exists; refusing to overwrite it", path.display()))
        } else {
            CustodyError::backend(BACKEND, "create the keyring", e)
        }
    })
}

/// Replace `path` atomically, keeping the previous file as `path.bak`.
fn replace_file(path: &Path, bytes: &[u8]) -> Result<(), CustodyError> {
    private_file::replace_with_backup(path, bytes).map_err(|e| CustodyError::backend(BACKEND, "replace the keyring", e))
}

fn status_check(state: &RwLock<State>, kid: &str) -> Result<(), CustodyError> {
    let st = state.read().unwrap_or_else(PoisonError::into_inner);
    let e = st.entries.iter().find(|e| e.kid == kid).ok_or_else(|| CustodyError::UnknownKid(kid.to_owned()))?;
    if e.status.can_open() {
        Ok(())
    } else {
        Err(CustodyError::Status { kid: kid.to_owned(), status: e.status, why: "open envelopes" })
    }
}

/// The private-key step of one version; checks its status on every call.
struct LocalDecryptionKey {
    kid: String,
    key: Arc<LocalKey>,
    state: Arc<RwLock<State>>,
}

impl std::fmt::Debug for LocalDecryptionKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LocalDecryptionKey").field("kid", &self.kid).field("key", &"[REDACTED]").finish()
    }
}

impl LocalDecryptionKey {
    fn check(&self) -> Result<(), KeyError> {
        status_check(&self.state, &self.kid).map_err(|e| KeyError::Backend(Arc::new(e)))
    }
}

impl DecryptionKey for LocalDecryptionKey {
    fn kid(&self) -> Option<&str> {
        Some(&self.kid)
    }

    fn kind(&self) -> KeyKind {
        self.key.kind()
    }

    fn alg(&self) -> Option<KeyAlg> {
        self.key.alg()
    }

    fn ecdh<'a>(&'a self, epk: &'a EphemeralPublicKey) -> KeyFuture<'a, SharedSecret> {
        match self.check() {
            Ok(()) => self.key.ecdh(epk),
            Err(e) => Box::pin(std::future::ready(Err(e))),
        }
    }

    fn rsa_oaep_decrypt<'a>(&'a self, hash: OaepHash, wrapped: &'a [u8]) -> KeyFuture<'a, SecretBytes> {
        match self.check() {
            Ok(()) => self.key.rsa_oaep_decrypt(hash, wrapped),
            Err(e) => Box::pin(std::future::ready(Err(e))),
        }
    }
}

// Mutations do blocking file I/O (and key generation) inside the future:
// they are rare administrative steps. Opens never touch the disk.
impl Custody for LocalCustody {
    fn backend(&self) -> &'static str {
        BACKEND
    }

    fn keys(&self) -> CustodyFuture<'_, Vec<KeyInfo>> {
        let keys = self.read().entries.iter().map(Entry::info).collect();
        Box::pin(std::future::ready(Ok(keys)))
    }

    fn decryption_key<'a>(&'a self, kid: &'a str) -> CustodyFuture<'a, Arc<dyn DecryptionKey>> {
        let r = status_check(&self.state, kid).and_then(|()| {
            let key = self.read().entries.iter().find(|e| e.kid == kid).map(|e| Arc::clone(&e.key));
            let key = key.ok_or_else(|| CustodyError::UnknownKid(kid.to_owned()))?;
            let handle: Arc<dyn DecryptionKey> =
                Arc::new(LocalDecryptionKey { kid: kid.to_owned(), key, state: Arc::clone(&self.state) });
            Ok(handle)
        });
        Box::pin(std::future::ready(r))
    }

    fn rotate<'a>(&'a self, role: &'a str, key_type: RoleKeyType) -> CustodyFuture<'a, KeyInfo> {
        Box::pin(async move { self.add_version(role, key_type, |kid| generate(key_type, kid)) })
    }

    fn set_status<'a>(&'a self, kid: &'a str, status: KeyStatus) -> CustodyFuture<'a, ()> {
        Box::pin(async move { self.change_status(kid, status) })
    }

    fn exportability<'a>(&'a self, kid: &'a str) -> CustodyFuture<'a, Exportability> {
        let r = if self.read().entries.iter().any(|e| e.kid == kid) {
            Ok(Exportability::SoftwareKey)
        } else {
            Err(CustodyError::UnknownKid(kid.to_owned()))
        };
        Box::pin(std::future::ready(r))
    }

    fn root_public(&self) -> CustodyFuture<'_, serde_json::Value> {
        Box::pin(std::future::ready(keyset::root_jwk_from_point(self.root.public_key().as_ref())))
    }

    fn create_exchange_key(&self, key_type: ExchangeKeyType) -> CustodyFuture<'_, ExchangeKeyInfo> {
        Box::pin(async move { self.add_exchange_key(key_type) })
    }

    fn exchange_keys(&self) -> CustodyFuture<'_, Vec<ExchangeKeyInfo>> {
        let keys = self.read().xkeys.iter().map(|x| x.info.clone()).collect();
        Box::pin(std::future::ready(Ok(keys)))
    }

    fn exchange_sign<'a>(&'a self, id: &'a str, message: &'a [u8]) -> CustodyFuture<'a, Vec<u8>> {
        Box::pin(std::future::ready(self.sign_exchange(id, message)))
    }

    fn destroy_exchange_key<'a>(&'a self, id: &'a str) -> CustodyFuture<'a, ()> {
        Box::pin(async move { self.remove_exchange_key(id) })
    }

    fn root_sign<'a>(&'a self, message: &'a [u8]) -> CustodyFuture<'a, Vec<u8>> {
        let r = self
            .root
            .sign(&SystemRandom::new(), message)
            .map(|s| s.as_ref().to_vec())
            .map_err(|_| CustodyError::Backend { backend: BACKEND, what: "ES256 signature", source: None });
        Box::pin(std::future::ready(r))
    }
}
