//! Process hardening (the same as `sealgate-server`'s): no core dumps, not
//! ptrace-attachable, memory locked so secrets are never swapped out.

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

/// Harden this process. Locking memory is attempted only when it cannot
/// starve later allocations: with `MCL_FUTURE` under a finite
/// `RLIMIT_MEMLOCK` (and no `CAP_IPC_LOCK`) the process would fail to grow
/// once the limit is reached, so then memory is left unlocked and a warning
/// says how to fix it.
pub fn harden() -> Hardening {
    let non_dumpable = set_dumpable_behavior(DumpableBehavior::NotDumpable).is_ok();
    let no_core = setrlimit(Resource::Core, Rlimit { current: Some(0), maximum: Some(0) }).is_ok();
    // Try to lift the memlock limit (allowed with CAP_SYS_RESOURCE).
    let _ = setrlimit(Resource::Memlock, Rlimit { current: None, maximum: None });
    let unlimited = getrlimit(Resource::Memlock).current.is_none();
    let privileged = rustix::process::geteuid().is_root();
    let memory_locked = (unlimited || privileged) && mlockall(MlockAllFlags::CURRENT | MlockAllFlags::FUTURE).is_ok();
    if !memory_locked {
        eprintln!(
            "memory not locked: run with CAP_IPC_LOCK or `ulimit -l unlimited` so opened credentials cannot be swapped"
        );
    }
    if !non_dumpable {
        eprintln!("could not make the process non-dumpable");
    }
    Hardening { non_dumpable, no_core, memory_locked }
}
