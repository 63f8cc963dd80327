//! Domain state from marker files (simring convention §3).
//!
//! `gone-<domid>`: the domain does not exist; `dying-<domid>`: it is dying;
//! `shutdown-<domid>`: it has shut down (the content, an optional reason, does
//! not change what the engine is told). No marker: running. dom0 always
//! exists; every other domid below `DOMID_FIRST_RESERVED` exists unless
//! marked gone. The files are read each time the engine asks.

use std::path::Path;

use store::{DomId, DomainState};

/// The first reserved domain id (`DOMID_FIRST_RESERVED`, `xen.h`): no domain
/// at or above it exists.
pub const DOMID_FIRST_RESERVED: u16 = 0x7FF0;

/// The state of `domid` as the marker files in `dir` describe it.
pub fn domain_state(dir: &Path, domid: DomId) -> DomainState {
    if domid.0 >= DOMID_FIRST_RESERVED {
        return DomainState::Gone;
    }
    let marker = |name: &str| dir.join(format!("{name}-{}", domid.0)).exists();
    if domid.0 != 0 && marker("gone") {
        DomainState::Gone
    } else if marker("dying") {
        DomainState::Dying
    } else if marker("shutdown") {
        DomainState::Shutdown
    } else {
        DomainState::Running
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn markers_decide_the_state() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        assert_eq!(domain_state(d, DomId(3)), DomainState::Running);
        assert_eq!(domain_state(d, DomId(DOMID_FIRST_RESERVED)), DomainState::Gone);
        std::fs::write(d.join("shutdown-3"), "3\n").unwrap();
        assert_eq!(domain_state(d, DomId(3)), DomainState::Shutdown);
        std::fs::write(d.join("dying-3"), "").unwrap();
        assert_eq!(domain_state(d, DomId(3)), DomainState::Dying);
        std::fs::write(d.join("gone-3"), "").unwrap();
        assert_eq!(domain_state(d, DomId(3)), DomainState::Gone);
        std::fs::write(d.join("gone-0"), "").unwrap();
        assert_eq!(domain_state(d, DomId(0)), DomainState::Running);
        assert_eq!(domain_state(d, DomId(4)), DomainState::Running);
    }
}
