//! Live update, the old server's half: once the engine says a started
//! update is due ([`Engine::live_update_due`](store::Engine::live_update_due)),
//! write the state where C writes it and exec the new binary in this
//! process (C `lu_dump_state`, `lu_activate_binary`, `lu_exec`).
//!
//! The state file is `STATE-DIR/state_dump` (C's name, in C's run
//! directory), a migration stream in this machine's byte order: the
//! listening socket's and `evtchn-server`'s descriptors (`GLOBAL_DATA`),
//! each client's descriptor and the input it sent that the engine has not
//! taken yet, each ring's port, and the `OK` the requester gets from the
//! new server. Those descriptors stay open across `exec` (their
//! `FD_CLOEXEC` is cleared); everything else (the poller, the signal
//! pipe, the ring mappings) goes with the old image. The new binary gets
//! `-c`'s command line split at spaces and tabs, or this process's own
//! arguments, with `-U` added if missing. Nothing is cleaned up: the
//! socket file and the pid file stay for the new server.

use std::ffi::OsString;
use std::io::{self, Write};
use std::os::fd::{AsFd, AsRawFd};
use std::os::unix::fs::OpenOptionsExt;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};

use store::stream::{ByteOrder, GlobalData, Header, Version};
use store::{ConnId, DumpOptions, DumpSource, LiveUpdate};

use super::Daemon;
use crate::clients::Clients;
use crate::fds::keep_across_exec;
use crate::platform::HostPlatform;

/// The state file's name in the state directory (C's).
pub const STATE_FILE: &str = "state_dump";

/// The state file in `dir`.
pub fn state_file(dir: &Path) -> PathBuf {
    dir.join(STATE_FILE)
}

/// What the dump asks of the daemon: ports, descriptors, unread input.
struct Sources<'a> {
    clients: &'a Clients,
    platform: &'a HostPlatform,
}

impl DumpSource for Sources<'_> {
    fn ring_port(&self, conn: ConnId) -> u32 {
        self.platform.ring(conn).map_or(0, |r| r.port)
    }

    fn socket_fd(&self, conn: ConnId) -> i32 {
        self.clients.by_conn(conn).map_or(-1, |c| c.stream.as_raw_fd())
    }

    fn unread_input(&self, conn: ConnId) -> &[u8] {
        self.clients.by_conn(conn).map_or(&[], |c| c.inbuf.data())
    }
}

/// This machine's byte order, in which the state is written (as C).
fn native(version: Version) -> Header {
    let order = if cfg!(target_endian = "big") { ByteOrder::Big } else { ByteOrder::Little };
    Header { version, order }
}

/// The new binary's arguments after `argv[0]` (C `lu_activate_binary`):
/// `cmdline` split at spaces and tabs, or `own` (this process's), with
/// `-U` added unless one is there.
pub fn exec_args(cmdline: Option<&str>, own: &[OsString]) -> Vec<OsString> {
    let mut args: Vec<OsString> = match cmdline {
        Some(line) => {
            line.split([' ', '\t']).filter(|w| !w.is_empty()).map(OsString::from).collect()
        }
        None => own.to_vec(),
    };
    if !args.iter().any(|a| a == "-U") {
        args.push(OsString::from("-U"));
    }
    args
}

impl Daemon {
    /// Hands over to `lu.binary`; returns only if that failed, after
    /// telling the requester why (the daemon goes on serving).
    pub(super) fn live_update(&mut self, lu: &LiveUpdate) {
        let why = self.hand_over(lu);
        self.engine.live_update_failed(why);
    }

    /// Writes the state, keeps the descriptors open and execs; the
    /// reason, as C words it, if any step fails.
    fn hand_over(&mut self, lu: &LiveUpdate) -> &'static str {
        if let Err(why) = self.write_state(lu.version) {
            return why;
        }
        if let Err(e) = self.keep_descriptors() {
            log::error!("live update: cannot keep the descriptors open: {e}");
            return "Error activating new binary.";
        }
        let own: Vec<OsString> = std::env::args_os().skip(1).collect();
        let args = exec_args(lu.cmdline.as_deref(), &own);
        log::info!("live update: exec {} {args:?}", lu.binary);
        let e = std::process::Command::new(&lu.binary).arg0(&lu.binary).args(&args).exec();
        log::error!("live update: exec {} failed: {e}", lu.binary);
        "Error activating new binary."
    }

    /// Writes the migration stream to the state file (mode 0600).
    fn write_state(&self, version: Version) -> Result<(), &'static str> {
        let evtchn_fd =
            self.platform.simring.as_ref().map_or(-1, |s| s.channels.server_fd().as_raw_fd());
        let global = GlobalData { socket_fd: self.listener.as_raw_fd(), evtchn_fd };
        let opts = DumpOptions { header: native(version), global: Some(global), force: true };
        let src = Sources { clients: &self.clients, platform: &self.platform };
        let mut bytes = Vec::new();
        if let Err(e) = self.engine.dump_bytes(&opts, &src, &mut bytes) {
            log::error!("live update: dump failed: {e:?}");
            return Err("Dump write error");
        }
        let path = state_file(&self.state_dir);
        let mut file = std::fs::create_dir_all(&self.state_dir)
            .and_then(|()| {
                std::fs::OpenOptions::new()
                    .write(true)
                    .create(true)
                    .truncate(true)
                    .mode(0o600)
                    .open(&path)
            })
            .map_err(|e| {
                log::error!("live update: cannot open {}: {e}", path.display());
                "Dump state open error"
            })?;
        file.write_all(&bytes).and_then(|()| file.sync_all()).map_err(|e| {
            log::error!("live update: cannot write {}: {e}", path.display());
            "Dump write error"
        })
    }

    /// Clears `FD_CLOEXEC` on every descriptor the state names.
    fn keep_descriptors(&self) -> io::Result<()> {
        keep_across_exec(self.listener.as_fd())?;
        if let Some(simring) = &self.platform.simring {
            keep_across_exec(simring.channels.server_fd())?;
        }
        for client in self.clients.iter() {
            keep_across_exec(client.stream.as_fd())?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_new_binary_gets_c_arguments() {
        let own: Vec<OsString> = ["-N", "-F", "/run/pid"].map(OsString::from).to_vec();
        assert_eq!(exec_args(None, &own), ["-N", "-F", "/run/pid", "-U"]);
        let with_u: Vec<OsString> = ["-U", "-N"].map(OsString::from).to_vec();
        assert_eq!(exec_args(None, &with_u), ["-U", "-N"]);
        assert_eq!(
            exec_args(Some(" -N\t--log-level  debug "), &own),
            ["-N", "--log-level", "debug", "-U"]
        );
        assert_eq!(exec_args(Some("-U -N"), &own), ["-U", "-N"]);
        assert_eq!(exec_args(Some(""), &own), ["-U"]);
    }
}
