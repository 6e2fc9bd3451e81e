//! `harden()` on this test process: what it reports is what the kernel shows.

use rustix::process::{DumpableBehavior, Resource, dumpable_behavior, getrlimit};

fn status_kb(field: &str) -> Option<u64> {
    let s = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = s.lines().find(|l| l.starts_with(field))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

#[test]
fn what_harden_reports_is_true() -> Result<(), Box<dyn std::error::Error>> {
    let h = sealgate_hardening::harden();
    assert!(h.non_dumpable && h.no_core, "{h:?}");
    assert_eq!(dumpable_behavior()?, DumpableBehavior::NotDumpable);
    let core = getrlimit(Resource::Core);
    assert_eq!((core.current, core.maximum), (Some(0), Some(0)));
    let locked = status_kb("VmLck:").ok_or("no VmLck in /proc/self/status")?;
    assert_eq!(h.memory_locked, locked > 0, "memory_locked {} but VmLck {locked} kB", h.memory_locked);
    assert_eq!(h.warnings().is_empty(), h.memory_locked, "{:?}", h.warnings());
    let none = sealgate_hardening::Hardening::default();
    assert_eq!(none.warnings().len(), 3);
    Ok(())
}
