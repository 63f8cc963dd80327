//! The engine and a ring-holding platform as one ring connection sees
//! them: the [`ring::serve::RingServer`] adapter every platform that serves
//! shared rings (the Linux daemon's simring guests, the PVH stub's
//! grant-mapped pages) hands to [`ring::serve::serve`].
//!
//! The engine owns the connection's state and the platform owns the page;
//! [`EngineRing`] borrows both for one turn. All a platform adds is
//! [`RingPlatform`]: which page it serves for a connection, and how it stops
//! serving one after a violation.

use ring::decode::ProtoError;
use ring::serve::RingServer;
use ring::RingPage;

use crate::engine::{ConnId, Engine, Platform};

/// A platform that holds the shared ring pages of its connections.
pub trait RingPlatform: Platform {
    /// The ring page of `conn` while it is mapped and still served; `None`
    /// for a connection without a ring, or once
    /// [`stop_serving`](RingPlatform::stop_serving) was called for it.
    fn served_page(&self, conn: ConnId) -> Option<&RingPage>;

    /// Never serve `conn`'s ring again (after a protocol or index
    /// violation, see [`ring::serve`]). The mapping stays until the engine
    /// unmaps it when the domain goes, and a later reconnection request is
    /// not honoured.
    fn stop_serving(&mut self, conn: ConnId);
}

/// One ring connection's view of the engine and its platform, for one turn
/// of [`ring::serve`].
pub struct EngineRing<'a, P: RingPlatform> {
    /// The engine serving the connection.
    pub engine: &'a mut Engine,
    /// The platform holding the ring page.
    pub platform: &'a mut P,
    /// The connection.
    pub conn: ConnId,
    /// The engine's clock for this turn, in milliseconds.
    pub now_ms: u64,
}

impl<P: RingPlatform> RingServer for EngineRing<'_, P> {
    fn page(&self) -> Option<&RingPage> {
        self.platform.served_page(self.conn)
    }

    fn wants_input(&self) -> bool {
        self.engine.wants_input(self.conn)
    }

    fn input(&mut self, bytes: &[u8]) -> Result<usize, ProtoError> {
        self.engine.input(self.conn, bytes, self.now_ms, self.platform)
    }

    fn output(&self) -> &[u8] {
        self.engine.output(self.conn)
    }

    fn output_done(&mut self, n: usize) {
        self.engine.output_done(self.conn, n);
    }

    fn reset(&mut self) {
        self.engine.reset_connection(self.conn);
    }

    fn ignore(&mut self) {
        self.engine.ignore(self.conn);
    }

    fn stop(&mut self) {
        self.platform.stop_serving(self.conn);
    }
}
