//! xs-null: the floor of a xenstore round trip over a Unix socket. It serves
//! one connection at a time and keeps one value and no tree: WRITE stores
//! its value and answers `OK`, READ answers the stored value, anything else
//! answers `OK`. No path, permission or quota checks; a payload over 4096
//! bytes ends the connection. `bench/bench.py` runs the rt benchmark against
//! it to show how much of a daemon's time is the socket itself.
//!
//! ```text
//! xs-null SOCKET     (runs until killed)
//! ```

use std::io::{self, Write};
use std::os::unix::net::{UnixListener, UnixStream};
use std::process::ExitCode;

use xs_peer_tools::{encode_msg, read_msg, XS_READ, XS_WRITE};

/// Answers one connection until it ends.
fn serve(mut stream: UnixStream, value: &mut Vec<u8>) -> io::Result<()> {
    let mut payload = Vec::new();
    let mut out = Vec::new();
    loop {
        let header = read_msg(&mut stream, &mut payload)?;
        out.clear();
        match header.ty {
            XS_WRITE => {
                // The value follows the NUL that ends the path.
                let path_end =
                    payload.iter().position(|&b| b == 0).map_or(payload.len(), |i| i + 1);
                value.clear();
                value.extend_from_slice(&payload[path_end..]);
                encode_msg(&mut out, header.ty, header.req_id, &[b"OK\0"]);
            }
            XS_READ => encode_msg(&mut out, header.ty, header.req_id, &[value]),
            _ => encode_msg(&mut out, header.ty, header.req_id, &[b"OK\0"]),
        }
        stream.write_all(&out)?;
    }
}

fn main() -> ExitCode {
    let Some(path) = std::env::args().nth(1) else {
        eprintln!("usage: xs-null SOCKET");
        return ExitCode::from(1);
    };
    // A socket file left by an earlier run would make bind fail.
    let _ = std::fs::remove_file(&path);
    let listener = match UnixListener::bind(&path) {
        Ok(l) => l,
        Err(e) => {
            eprintln!("xs-null: bind {path}: {e}");
            return ExitCode::from(2);
        }
    };
    let mut value = Vec::new();
    // A failed accept or a connection's end, orderly or not, is the
    // client's business: serve the next one.
    for stream in listener.incoming().flatten() {
        let _ = serve(stream, &mut value);
    }
    ExitCode::SUCCESS
}
