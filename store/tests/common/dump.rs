//! Dump and restore helpers shared by the migration-stream tests.

use store::stream::{self, Stream};
use store::{ConnId, DumpSource};

use super::World;

/// The platform's side of a dump: made-up ports and descriptors.
pub struct Ports;

impl DumpSource for Ports {
    fn ring_port(&self, conn: ConnId) -> u32 {
        1000 + conn.0
    }
    fn socket_fd(&self, conn: ConnId) -> i32 {
        100 + conn.0 as i32
    }
}

/// `s` encoded and decoded again, checked to come back the same.
pub fn reencoded(s: &Stream) -> Stream {
    let mut bytes = Vec::new();
    stream::encode(s, &mut bytes).expect("encode");
    let back = stream::decode(&bytes, 64 << 20).expect("decode");
    assert_eq!(&back, s);
    back
}

/// The memory report's per-domain usage lines.
pub fn usage(w: &World) -> Vec<String> {
    w.e.memreport().lines().filter(|l| l.starts_with("domain ")).map(String::from).collect()
}
