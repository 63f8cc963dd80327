//! Spawning `xenstored-rs` on a temporary socket and talking raw wire bytes
//! to it (header + payload, as in `xs_wire.h`).

#![allow(dead_code)]

use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

/// `XS_DIRECTORY`.
pub const XS_DIRECTORY: u32 = 1;
/// `XS_READ`.
pub const XS_READ: u32 = 2;
/// `XS_WATCH`.
pub const XS_WATCH: u32 = 4;
/// `XS_WRITE`.
pub const XS_WRITE: u32 = 11;
/// `XS_RM`.
pub const XS_RM: u32 = 13;
/// `XS_WATCH_EVENT`.
pub const XS_WATCH_EVENT: u32 = 15;
/// `XS_ERROR`.
pub const XS_ERROR: u32 = 16;

/// How long any wait of these tests may take: generous, so that only a
/// hung daemon reaches it, never a slow machine.
pub const PATIENCE: Duration = Duration::from_secs(60);

/// A running daemon in its own temporary directory.
pub struct Daemon {
    /// The process.
    pub child: Child,
    /// Holds the socket, pid file and anything else the test puts there.
    pub dir: tempfile::TempDir,
    /// The listening socket.
    pub socket: PathBuf,
}

impl Daemon {
    /// Starts the daemon with `args` (after `--socket DIR/socket
    /// --log-level warn`) and waits for its socket.
    pub fn start(args: &[&str]) -> Daemon {
        let dir = tempfile::tempdir().unwrap();
        let socket = dir.path().join("socket");
        let child = Command::new(env!("CARGO_BIN_EXE_xenstored-rs"))
            .arg("--socket")
            .arg(&socket)
            .args(["--log-level", "warn"])
            .args(args)
            .stdin(Stdio::null())
            .spawn()
            .unwrap();
        let daemon = Daemon { child, dir, socket };
        // The socket file appears at bind(), before listen(): wait until a
        // connection is accepted, not just for the file.
        wait_for(|| UnixStream::connect(&daemon.socket).is_ok(), "the daemon's socket");
        daemon
    }

    /// A new client connection.
    pub fn connect(&self) -> Client {
        let stream = UnixStream::connect(&self.socket).unwrap();
        stream.set_read_timeout(Some(PATIENCE)).unwrap();
        Client { stream }
    }

    /// Sends SIGTERM and waits for the exit status.
    pub fn terminate(mut self) -> (ExitStatus, tempfile::TempDir, PathBuf) {
        // The shell's built-in `kill`: no procps needed, no unsafe libc call.
        let status = Command::new("sh")
            .arg("-c")
            .arg(format!("kill -TERM {}", self.child.id()))
            .status()
            .unwrap();
        assert!(status.success());
        let deadline = Instant::now() + PATIENCE;
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                let dir = std::mem::replace(&mut self.dir, tempfile::tempdir().unwrap());
                return (status, dir, self.socket.clone());
            }
            assert!(Instant::now() < deadline, "daemon ignored SIGTERM");
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Polls `cond` until it holds, for up to [`PATIENCE`].
pub fn wait_for(mut cond: impl FnMut() -> bool, what: &str) {
    let deadline = Instant::now() + PATIENCE;
    while !cond() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// One wire message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Msg {
    /// Message type.
    pub ty: u32,
    /// Request id.
    pub req_id: u32,
    /// Transaction id.
    pub tx_id: u32,
    /// Payload.
    pub payload: Vec<u8>,
}

/// Encodes a header with an explicit `len` followed by `payload`.
pub fn frame(ty: u32, req_id: u32, tx_id: u32, len: u32, payload: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    for word in [ty, req_id, tx_id, len] {
        out.extend_from_slice(&word.to_le_bytes());
    }
    out.extend_from_slice(payload);
    out
}

/// A raw socket client.
pub struct Client {
    /// The connection.
    pub stream: UnixStream,
}

impl Client {
    /// Sends raw bytes.
    pub fn send_raw(&mut self, bytes: &[u8]) {
        self.stream.write_all(bytes).unwrap();
    }

    /// Sends one request.
    pub fn send(&mut self, ty: u32, req_id: u32, tx_id: u32, payload: &[u8]) {
        let len = u32::try_from(payload.len()).unwrap();
        self.send_raw(&frame(ty, req_id, tx_id, len, payload));
    }

    /// Receives one message; `None` when the daemon closed the connection
    /// (end of stream or reset). Nothing arriving within [`PATIENCE`] is a
    /// hang and fails the test, so `None` always means "closed".
    pub fn recv(&mut self) -> Option<Msg> {
        let mut hdr = [0u8; 16];
        if !completed(self.stream.read_exact(&mut hdr)) {
            return None;
        }
        let word = |i: usize| u32::from_le_bytes(hdr[i * 4..i * 4 + 4].try_into().unwrap());
        let mut payload = vec![0u8; usize::try_from(word(3)).unwrap()];
        if !completed(self.stream.read_exact(&mut payload)) {
            return None;
        }
        Some(Msg { ty: word(0), req_id: word(1), tx_id: word(2), payload })
    }

    /// Sends a request and returns its reply's type and payload.
    pub fn request(&mut self, ty: u32, payload: &[u8]) -> (u32, Vec<u8>) {
        self.send(ty, 42, 0, payload);
        let reply = self.recv().expect("a reply");
        assert_eq!(reply.req_id, 42);
        (reply.ty, reply.payload)
    }
}

/// Whether a read completed (`true`) or found the connection closed by the
/// daemon (`false`: end of stream or reset). A timeout means a hung daemon
/// and fails the test, as does any other error.
fn completed(read: std::io::Result<()>) -> bool {
    use std::io::ErrorKind::{ConnectionReset, TimedOut, UnexpectedEof, WouldBlock};
    match read {
        Ok(()) => true,
        Err(e) if matches!(e.kind(), UnexpectedEof | ConnectionReset) => false,
        Err(e) if matches!(e.kind(), WouldBlock | TimedOut) => {
            panic!("nothing from the daemon within {PATIENCE:?}: hung?")
        }
        Err(e) => panic!("receive failed: {e}"),
    }
}

/// The path of a file in the daemon's directory.
pub fn in_dir(dir: &Path, name: &str) -> PathBuf {
    dir.join(name)
}
