//! Process hardening for any process that may hold an opened credential
//! (the signer in `sealgate serve`, the desktop agent): no core dumps, not
//! ptrace-attachable by other processes of the same user, memory locked so
//! secrets are never swapped out.
//!
//! One implementation for both: the server logs the warnings with
//! `tracing`, the agent prints them, so this crate only returns them.

use rustix::mm::{MlockAllFlags, mlockall};
use rustix::process::{DumpableBehavior, Resource, Rlimit, getrlimit, set_dumpable_behavior, setrlimit};

/// What [`harden`] achieved.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct Hardening {
    /// `PR_SET_DUMPABLE 0`: no core dump, no ptrace attach, /proc/<pid>/mem closed to others.
    pub non_dumpable: bool,
    /// `RLIMIT_CORE` 0.
    pub no_core: bool,
    /// `mlockall(MCL_CURRENT | MCL_FUTURE)`.
    pub memory_locked: bool,
}

impl Hardening {
    /// What was not achieved, each with what to do; empty when all was.
    pub fn warnings(&self) -> Vec<&'static str> {
        let mut w = Vec::new();
        if !self.memory_locked {
            w.push(
                "memory not locked: run with CAP_IPC_LOCK or `ulimit -l unlimited` so opened credentials cannot be swapped",
            );
        }
        if !self.non_dumpable {
            w.push("could not make the process non-dumpable");
        }
        if !self.no_core {
            w.push("could not set the core size limit to 0");
        }
        w
    }
}

/// Harden this process. Locking memory is attempted only when it cannot
/// starve later allocations: with `MCL_FUTURE` under a finite
/// `RLIMIT_MEMLOCK` (and no `CAP_IPC_LOCK`) the process would fail to grow
/// once the limit is reached, so then memory is left unlocked and
/// [`Hardening::warnings`] says how to fix it.
pub fn harden() -> Hardening {
    let non_dumpable = set_dumpable_behavior(DumpableBehavior::NotDumpable).is_ok();
    let no_core = setrlimit(Resource::Core, Rlimit { current: Some(0), maximum: Some(0) }).is_ok();
    // Try to lift the memlock limit (allowed with CAP_SYS_RESOURCE).
    let _ = setrlimit(Resource::Memlock, Rlimit { current: None, maximum: None });
    let unlimited = getrlimit(Resource::Memlock).current.is_none();
    let privileged = rustix::process::geteuid().is_root();
    let memory_locked = (unlimited || privileged) && mlockall(MlockAllFlags::CURRENT | MlockAllFlags::FUTURE).is_ok();
    Hardening { non_dumpable, no_core, memory_locked }
}
