//! A live process's memory, read through `/proc/PID/mem` (the same uid, or
//! CAP_SYS_PTRACE for a non-dumpable process): what the proofs that a secret
//! is *not* in a process search, and the positive controls that show the same
//! search finds it where it is.

use std::io::{Read as _, Seek as _, SeekFrom};

/// Calls `found` on each readable mapping of process `pid` until it answers
/// `true`; returns whether one did, and how many bytes were read. Fewer than
/// 1 MB read in all is an error, not a scan (every mapping was refused).
pub fn scan(pid: u32, mut found: impl FnMut(&[u8]) -> bool) -> Result<(bool, usize), String> {
    let maps = std::fs::read_to_string(format!("/proc/{pid}/maps")).map_err(|e| format!("/proc/{pid}/maps: {e}"))?;
    let mut mem = std::fs::File::open(format!("/proc/{pid}/mem"))
        .map_err(|e| format!("cannot open /proc/{pid}/mem (needs the same uid, or CAP_SYS_PTRACE): {e}"))?;
    let mut scanned = 0usize;
    for line in maps.lines() {
        let mut it = line.split_whitespace();
        let (Some(range), Some(perms)) = (it.next(), it.next()) else { continue };
        if !perms.starts_with('r') || line.ends_with("[vvar]") || line.ends_with("[vvar_vclock]") {
            continue;
        }
        let Some((a, b)) = range.split_once('-') else { continue };
        let (Ok(a), Ok(b)) = (u64::from_str_radix(a, 16), u64::from_str_radix(b, 16)) else { continue };
        let Ok(len) = usize::try_from(b.saturating_sub(a)) else { continue };
        let mut buf = vec![0u8; len];
        if mem.seek(SeekFrom::Start(a)).is_err() || mem.read_exact(&mut buf).is_err() {
            continue;
        }
        scanned += buf.len();
        if found(&buf) {
            return Ok((true, scanned));
        }
    }
    if scanned < 1_000_000 {
        return Err(format!("only {scanned} bytes of process {pid}'s memory could be read"));
    }
    Ok((false, scanned))
}

/// Whether `needle` is anywhere in process `pid`'s memory, and the bytes read.
pub fn contains(pid: u32, needle: &[u8]) -> Result<(bool, usize), String> {
    scan(pid, |region| region.windows(needle.len()).any(|w| w == needle))
}
