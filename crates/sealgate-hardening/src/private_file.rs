//! Private files: the one place Sealgate's processes create, replace and
//! check the files that hold secrets or that they trust (custody keyrings and
//! key files, the agent's keystore and audit checkpoint, service keys, the
//! custody TOML, sandbox keys, data directories).
//!
//! Every write goes through a temporary file beside the target, created
//! `O_CREAT|O_EXCL` at mode 0600 (so it never follows a planted symlink and
//! is never readable by others, even for a moment), written and fsynced, then
//! moved into place by `link` (create: fails if the name exists) or `rename`
//! (replace), and the directory fsynced, so a crash leaves the old file or
//! the new one, never a torn one.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Write as _};
use std::os::unix::fs::{DirBuilderExt as _, MetadataExt as _, OpenOptionsExt as _, PermissionsExt as _};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

pub use crate::check_strict_modes;

/// The directory `path` is in (`.` for a bare file name).
pub fn parent_of(path: &Path) -> PathBuf {
    match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_owned(),
        _ => PathBuf::from("."),
    }
}

/// `path` with `suffix` appended to its file name (`keyring` → `keyring.bak`).
pub fn with_suffix(path: &Path, suffix: &str) -> PathBuf {
    let mut s = path.as_os_str().to_owned();
    s.push(suffix);
    PathBuf::from(s)
}

/// Writes `bytes` to a new temporary file beside `path` (0600, fsynced) and
/// returns its name. Names are unique per process and call; `O_EXCL` makes a
/// planted file or symlink an error, never a target.
fn write_temp(path: &Path, bytes: &[u8]) -> io::Result<PathBuf> {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.subsec_nanos());
    let tmp = parent_of(path).join(format!(
        ".{name}.tmp-{}-{}-{nanos:x}",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::Relaxed)
    ));
    let res = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&tmp)
        .and_then(|mut f| f.write_all(bytes).and_then(|()| f.sync_all()));
    match res {
        Ok(()) => Ok(tmp),
        Err(e) => {
            let _ = fs::remove_file(&tmp);
            Err(e)
        }
    }
}

/// fsync the directory holding `path`, so a created or renamed name survives a crash.
pub fn sync_dir(path: &Path) -> io::Result<()> {
    File::open(parent_of(path))?.sync_all()
}

/// Creates `path` (mode 0600) holding `bytes`, atomically and durably; never
/// replaces an existing file (the error is then `AlreadyExists`).
pub fn write_new(path: &Path, bytes: &[u8]) -> io::Result<()> {
    let tmp = write_temp(path, bytes)?;
    let res = fs::hard_link(&tmp, path);
    let _ = fs::remove_file(&tmp);
    res?;
    sync_dir(path)
}

/// Replaces (or creates) `path` (mode 0600) with `bytes`, atomically and durably.
pub fn replace(path: &Path, bytes: &[u8]) -> io::Result<()> {
    let tmp = write_temp(path, bytes)?;
    if let Err(e) = fs::rename(&tmp, path) {
        let _ = fs::remove_file(&tmp);
        return Err(e);
    }
    sync_dir(path)
}

/// [`replace`], keeping the file it replaces as `path.bak` (when there was one).
/// A crash at any point leaves `path` whole, old or new, and `path.bak` whole.
pub fn replace_with_backup(path: &Path, bytes: &[u8]) -> io::Result<()> {
    let tmp = write_temp(path, bytes)?;
    let res = (|| -> io::Result<()> {
        if fs::symlink_metadata(path).is_ok() {
            let bak = with_suffix(path, ".bak");
            let bak_tmp = with_suffix(&bak, ".tmp");
            match fs::remove_file(&bak_tmp) {
                Err(e) if e.kind() != io::ErrorKind::NotFound => return Err(e),
                _ => {}
            }
            // The old file's inode lives on as .bak; the rename below only
            // moves the name. A crash between the two leaves .bak = the file.
            if fs::hard_link(path, &bak_tmp).is_err() {
                fs::copy(path, &bak_tmp)?;
                File::open(&bak_tmp)?.sync_all()?;
            }
            fs::rename(&bak_tmp, &bak)?;
        }
        fs::rename(&tmp, path)
    })();
    if let Err(e) = res {
        let _ = fs::remove_file(&tmp);
        return Err(e);
    }
    sync_dir(path)
}

/// Creates `dir` (and missing parents) at mode 0700, or checks an existing
/// one: a directory owned by the running user, tightened to 0700 if group or
/// others had any access. The error names the path and the fix.
pub fn private_dir(dir: &Path) -> Result<(), String> {
    fs::DirBuilder::new().recursive(true).mode(0o700).create(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    let meta = fs::symlink_metadata(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    let me = crate::effective_uid();
    if !meta.is_dir() || meta.uid() != me {
        return Err(format!(
            "{} is not a directory owned by this user (uid {me}); fix: use a directory of your own",
            dir.display()
        ));
    }
    if meta.mode() & 0o077 != 0 {
        fs::set_permissions(dir, fs::Permissions::from_mode(0o700)).map_err(|e| format!("{}: {e}", dir.display()))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mode(p: &Path) -> u32 {
        fs::metadata(p).expect("meta").mode() & 0o7777
    }

    #[test]
    fn create_never_replaces_and_leaves_no_temporary_file() {
        let dir = tempfile::tempdir().expect("dir");
        let f = dir.path().join("key");
        write_new(&f, b"one").expect("create");
        assert_eq!((fs::read(&f).expect("read"), mode(&f)), (b"one".to_vec(), 0o600));
        let e = write_new(&f, b"two").expect_err("exists");
        assert_eq!(e.kind(), io::ErrorKind::AlreadyExists);
        assert_eq!(fs::read(&f).expect("read"), b"one", "the first file is untouched");
        assert_eq!(fs::read_dir(dir.path()).expect("ls").count(), 1, "no temporary file left behind");
    }

    #[test]
    fn a_planted_symlink_is_never_written_through() {
        let dir = tempfile::tempdir().expect("dir");
        let victim = dir.path().join("victim");
        fs::write(&victim, b"keep").expect("write");
        let f = dir.path().join("key");
        std::os::unix::fs::symlink(&victim, &f).expect("symlink");
        assert!(write_new(&f, b"secret").is_err());
        assert_eq!(fs::read(&victim).expect("read"), b"keep");
    }

    #[test]
    fn replace_keeps_one_backup() {
        let dir = tempfile::tempdir().expect("dir");
        let f = dir.path().join("keyring");
        replace_with_backup(&f, b"v1").expect("first");
        assert!(!with_suffix(&f, ".bak").exists(), "nothing to back up the first time");
        replace_with_backup(&f, b"v2").expect("second");
        replace_with_backup(&f, b"v3").expect("third");
        assert_eq!(fs::read(&f).expect("read"), b"v3");
        assert_eq!(fs::read(with_suffix(&f, ".bak")).expect("bak"), b"v2");
        assert_eq!((mode(&f), mode(&with_suffix(&f, ".bak"))), (0o600, 0o600));
        replace(&f, b"v4").expect("plain replace");
        assert_eq!(fs::read(&f).expect("read"), b"v4");
        assert_eq!(fs::read_dir(dir.path()).expect("ls").count(), 2, "the file and its backup only");
    }

    #[test]
    fn private_dirs_are_made_0700_and_tightened() {
        let dir = tempfile::tempdir().expect("dir");
        let d = dir.path().join("a/b");
        private_dir(&d).expect("create");
        assert_eq!(mode(&d), 0o700);
        fs::set_permissions(&d, fs::Permissions::from_mode(0o755)).expect("chmod");
        private_dir(&d).expect("tighten");
        assert_eq!(mode(&d), 0o700);
        let f = dir.path().join("file");
        fs::write(&f, b"").expect("write");
        assert!(private_dir(&f).is_err(), "a file is not a directory");
    }
}
