//! Process hardening for any process that may hold an opened credential
//! (the signer, `sealgate serve`): [`sealgate_hardening`], the same as the
//! desktop agent's, with its warnings logged.

pub use sealgate_hardening::Hardening;

/// Harden this process (see [`sealgate_hardening::harden`]); warnings are logged.
pub fn harden() -> Hardening {
    let h = sealgate_hardening::harden();
    for w in h.warnings() {
        tracing::warn!("{w}");
    }
    h
}
