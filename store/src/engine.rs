//! The engine's public entry point (contract; see `DESIGN.md`).

/// A domain id (`domid_t`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct DomId(pub u16);

/// A connection handle allocated by the engine.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ConnId(pub u32);

/// What the platform knows about a domain's life.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DomainInfo {
    /// The domain does not exist (any more).
    Gone,
    /// Running.
    Running,
    /// Shut down (or crashed), not yet dying.
    Shutdown,
    /// Dying: its resources are being torn down.
    Dying,
}

/// Why a ring could not be mapped.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MapError;

/// What the engine needs from the platform it runs on.
pub trait Platform {
    /// Maps `domid`'s ring page (grant ref 1; `gfn` is advisory) and binds
    /// the interdomain event channel `port`, serving it as `conn`.
    fn map_ring(&mut self, conn: ConnId, domid: DomId, gfn: u64, port: u32)
        -> Result<(), MapError>;
    /// Undoes [`Platform::map_ring`]: unmaps the page, closes the channel.
    fn unmap_ring(&mut self, conn: ConnId);
    /// The current state of `domid`.
    fn domain_info(&mut self, domid: DomId) -> DomainInfo;
}

/// Engine configuration.
#[derive(Clone, Debug)]
pub struct Config {}

/// The xenstore engine.
pub struct Engine {}
