//! Live update, the new server's half (`-U`, C `lu_read_state`): read the
//! state the previous server (ours or C xenstored 4.17 to 4.22) wrote,
//! rebuild the engine from it ([`Engine::restore`]), and serve what it
//! handed over.
//!
//! The state file is read whole and closed first, then removed (as C
//! does). `GLOBAL_DATA`'s listening socket is taken over; a simring
//! `evtchn-server` socket is taken over if the previous server was ours
//! (C's event channel is its device, a pipe under the peers kit's shim:
//! the socket is bound anew, and a guest's notification sent meanwhile
//! is made up for by the first sweep of the rings). Rings are mapped
//! again through [`Platform::restore_ring`](store::Platform::restore_ring)
//! and every one gets a turn; each client socket is served as the
//! connection the stream names, with the input the previous server had
//! not handled (however much: the input buffer grows for it, within
//! what the engine's restore admitted against the memory budget), and
//! gets its pending output (the requester's `OK`) first. The engine checks every domain after restoring (a domain may
//! have died meanwhile). Anything wrong with the state ends the start-up
//! with an error, as C's `barf`; a client whose descriptor is not a
//! connected socket is dropped.

use std::io;

use mio::net::{UnixListener, UnixStream};
use store::stream::{self, Record};
use store::{Config, Engine};

use super::handover::state_file;
use super::Daemon;
use crate::fds::Inherited;
use crate::options::Options;
use crate::platform::HostPlatform;
use crate::simring::Simring;

/// The heap the stream's decoder may hold, for a state file of `len`
/// bytes: the records take about as much as their encoding, and a margin.
fn decode_budget(len: usize) -> usize {
    len.saturating_mul(4).saturating_add(1 << 20)
}

impl Daemon {
    /// Starts from the state in the state directory (`-U`).
    pub(super) fn take_over(opts: &Options, config: Config) -> io::Result<Daemon> {
        let path = state_file(&opts.state_dir);
        let bytes = std::fs::read(&path).map_err(|e| {
            io::Error::new(e.kind(), format!("no state file {}: {e}", path.display()))
        })?;
        log::info!("live update: reading {} ({} bytes)", path.display(), bytes.len());
        let stream = stream::decode(&bytes, decode_budget(bytes.len()))
            .map_err(|e| io::Error::other(format!("bad state file: {e:?}")))?;
        drop(bytes);
        let global = stream.records.iter().find_map(|r| match r {
            Record::Global(g) => Some(*g),
            _ => None,
        });
        let mut inherited = Inherited::default();
        let listener = match global {
            Some(g) => inherited.listener(g.socket_fd)?,
            None => return Err(io::Error::other("the state names no listening socket")),
        };
        let simring = match &opts.simring {
            Some(dir) => {
                std::fs::create_dir_all(dir)?;
                let socket = global
                    .and_then(|g| inherited.event_socket(g.evtchn_fd, &Simring::server_path(dir)));
                Some(Simring::take_over(dir, socket)?)
            }
            None => None,
        };
        let mut platform = HostPlatform::new(simring);
        let restored = Engine::restore(config, &stream, 0, &mut platform)
            .map_err(|e| io::Error::other(format!("cannot restore the state: {e:?}")))?;
        drop(stream);
        if let Err(e) = std::fs::remove_file(&path) {
            log::warn!("cannot remove {}: {e}", path.display());
        }
        let listener = UnixListener::from_std(listener);
        let mut daemon = Daemon::assemble(opts, restored.engine, platform, listener)?;
        for (conn, fd) in restored.sockets {
            let added = inherited.client(fd).and_then(|s| {
                daemon.clients.add(daemon.poll.registry(), UnixStream::from_std(s), conn)
            });
            if let Err(e) = added {
                log::warn!("live update: dropping client {conn:?}: {e}");
                daemon.engine.disconnect(conn, &mut daemon.platform);
            }
        }
        for (conn, bytes) in restored.unread {
            let Some(token) = daemon.clients.token_of(conn) else {
                // A ring's input cannot go back on its page.
                log::warn!("live update: no memory for {} bytes of ring {conn:?}", bytes.len());
                continue;
            };
            let fits = daemon.clients.get_mut(token).is_some_and(|c| {
                c.inbuf_fresh = true;
                c.inbuf.push(&bytes)
            });
            if !fits {
                log::warn!("live update: no memory for client {conn:?}'s input; dropping it");
                daemon.close_client(token);
            }
        }
        daemon.started(opts)?;
        log::info!(
            "live update: took over {} clients and {} rings",
            daemon.clients.iter().count(),
            daemon.platform.ring_count()
        );
        Ok(daemon)
    }
}
