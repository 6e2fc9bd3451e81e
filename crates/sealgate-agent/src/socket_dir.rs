//! The socket's directory chain, checked like ssh-agent's (and like sshd's
//! `StrictModes` for the directories above it).
//!
//! Whoever can write a directory on the way to the socket can replace the
//! socket with one of their own, and every client (a `sealgate agent
//! unlock` sending the passphrase above all) would then talk to them. So:
//!
//! * every directory **above** the socket's own directory must be owned by
//!   root or by the running user, and must not be writable by group or
//!   others unless it has the sticky bit (as `/tmp` has);
//! * the socket's **own** directory (and every directory the agent creates
//!   on the way) must be owned by the running user, must not be writable by
//!   group or others, and ends with mode 0700;
//! * a directory that fails is refused with an error naming it and the fix;
//!   the agent never chowns, and never loosens a mode.

use std::fs::{self, DirBuilder};
use std::io;
use std::os::unix::fs::{DirBuilderExt as _, MetadataExt as _, PermissionsExt as _};
use std::path::{Component, Path, PathBuf};

/// Why a directory on the socket's path was refused.
#[derive(Debug, thiserror::Error)]
pub enum SocketDirError {
    /// Owned by another user.
    #[error(
        "socket directory {dir} is owned by uid {owner}, not by you (uid {uid}) or root: that user could replace \
         the agent's socket; remove it (`rm -r {dir}` as its owner or root) or choose another --socket"
    )]
    Owner {
        /// The directory.
        dir: PathBuf,
        /// Its owner.
        owner: u32,
        /// The running user.
        uid: u32,
    },
    /// The socket's own directory (or one the agent created) is owned by another user.
    #[error(
        "socket directory {dir} is owned by uid {owner}, not by you (uid {uid}): it was created by another user, \
         who could replace the agent's socket; remove it (`rm -r {dir}` as its owner or root) or choose another \
         --socket"
    )]
    NotMine {
        /// The directory.
        dir: PathBuf,
        /// Its owner.
        owner: u32,
        /// The running user.
        uid: u32,
    },
    /// Writable by group or others (without the sticky bit, for a parent).
    #[error(
        "socket directory {dir} has mode {mode:04o}: writable by group or others{sticky}, who could replace the \
         agent's socket; fix it with `chmod go-w {dir}` (check what is inside first) or choose another --socket"
    )]
    Writable {
        /// The directory.
        dir: PathBuf,
        /// Its mode bits.
        mode: u32,
        /// ", without the sticky bit" for a parent.
        sticky: &'static str,
    },
    /// Not a directory.
    #[error("socket directory {0} exists and is not a directory; remove it or choose another --socket")]
    NotDir(PathBuf),
    /// I/O.
    #[error("socket directory {dir}: {what}: {source}")]
    Io {
        /// The directory.
        dir: PathBuf,
        /// What was being done.
        what: &'static str,
        /// The cause.
        source: io::Error,
    },
}

fn io_err(dir: &Path, what: &'static str) -> impl FnOnce(io::Error) -> SocketDirError {
    let dir = dir.to_owned();
    move |source| SocketDirError::Io { dir, what, source }
}

/// A parent above the socket's directory: owned by root or `uid`; not
/// group/other-writable unless sticky.
fn check_parent(dir: &Path, meta: &fs::Metadata, uid: u32) -> Result<(), SocketDirError> {
    if !meta.is_dir() {
        return Err(SocketDirError::NotDir(dir.to_owned()));
    }
    if meta.uid() != 0 && meta.uid() != uid {
        return Err(SocketDirError::Owner { dir: dir.to_owned(), owner: meta.uid(), uid });
    }
    let mode = meta.mode() & 0o7777;
    if mode & 0o022 != 0 && mode & 0o1000 == 0 {
        return Err(SocketDirError::Writable { dir: dir.to_owned(), mode, sticky: ", without the sticky bit" });
    }
    Ok(())
}

/// A directory the agent created or owns outright (the socket's own, or one
/// it made on the way): owned by `uid`, not group/other-writable.
fn check_own(dir: &Path, meta: &fs::Metadata, uid: u32) -> Result<(), SocketDirError> {
    if !meta.is_dir() {
        return Err(SocketDirError::NotDir(dir.to_owned()));
    }
    if meta.uid() != uid {
        return Err(SocketDirError::NotMine { dir: dir.to_owned(), owner: meta.uid(), uid });
    }
    let mode = meta.mode() & 0o7777;
    if mode & 0o022 != 0 {
        return Err(SocketDirError::Writable { dir: dir.to_owned(), mode, sticky: "" });
    }
    Ok(())
}

/// Create (0700) or reuse the directory `dir` that will hold the socket,
/// checking every directory from `/` down (see the module's rules), and
/// leave `dir` at mode 0700. `uid` is the running user.
pub fn prepare(dir: &Path, uid: u32) -> Result<(), SocketDirError> {
    let abs = if dir.is_absolute() {
        dir.to_owned()
    } else {
        std::env::current_dir().map_err(io_err(dir, "current directory"))?.join(dir)
    };
    // Walk the path one component at a time; `..` is resolved lexically only
    // after the directory it leaves was checked.
    let mut cur = PathBuf::from("/");
    let comps: Vec<Component<'_>> = abs.components().collect();
    let last = comps.iter().rposition(|c| matches!(c, Component::Normal(_)));
    let mut created_above = false;
    for (i, c) in comps.iter().enumerate() {
        match c {
            Component::RootDir | Component::CurDir | Component::Prefix(_) => {}
            Component::ParentDir => {
                cur.pop();
            }
            Component::Normal(name) => {
                let parent_meta = fs::metadata(&cur).map_err(io_err(&cur, "stat"))?;
                if created_above {
                    check_own(&cur, &parent_meta, uid)?;
                } else {
                    check_parent(&cur, &parent_meta, uid)?;
                }
                cur.push(name);
                // A symlink on the way must belong to root or the user: in a
                // sticky directory its owner can re-point it at will.
                if let Ok(l) = fs::symlink_metadata(&cur)
                    && l.file_type().is_symlink()
                    && l.uid() != 0
                    && l.uid() != uid
                {
                    return Err(SocketDirError::Owner { dir: cur, owner: l.uid(), uid });
                }
                let meta = match fs::metadata(&cur) {
                    Ok(m) => m,
                    Err(e) if e.kind() == io::ErrorKind::NotFound => {
                        // create_dir, never create_dir_all: one level at a
                        // time, each 0700; one that appeared meanwhile is
                        // checked like any existing one.
                        match DirBuilder::new().mode(0o700).create(&cur) {
                            Ok(()) => created_above = true,
                            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {}
                            Err(e) => return Err(io_err(&cur, "create")(e)),
                        }
                        fs::metadata(&cur).map_err(io_err(&cur, "stat"))?
                    }
                    Err(e) => return Err(io_err(&cur, "stat")(e)),
                };
                if Some(i) == last {
                    check_own(&cur, &meta, uid)?;
                    if meta.mode() & 0o7777 != 0o700 {
                        fs::set_permissions(&cur, fs::Permissions::from_mode(0o700))
                            .map_err(io_err(&cur, "chmod 700"))?;
                    }
                }
            }
        }
    }
    Ok(())
}
