//! Process hardening: [`sealgate_hardening`], the same as the server's,
//! with its warnings printed on stderr (the agent has no logger).

pub use sealgate_hardening::Hardening;

/// Harden this process (see [`sealgate_hardening::harden`]); warnings go to stderr.
pub fn harden() -> Hardening {
    let h = sealgate_hardening::harden();
    for w in h.warnings() {
        eprintln!("{w}");
    }
    h
}
