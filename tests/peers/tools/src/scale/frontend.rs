//! A guest's frontend drivers connecting to their backends over its ring,
//! and dom0's backend answering. A simplified PV handshake written for
//! this benchmark: the keys are those Linux's netfront and blkfront
//! publish, as remembered (not checked against Linux's source here), and
//! each driver publishes them in one transaction and switches state in
//! another, retrying on `EAGAIN` as `xenbus` does.

use std::io;

use crate::client::{Client, Link};
use crate::libxl::{switch_state, transaction, Device, Domain, TxCounts};

/// The keys a frontend publishes for `dev`.
fn keys(dev: &Device, domid: u32) -> Vec<(&'static str, String)> {
    let r = |k: u32| (0x3000 + domid * 8 + k).to_string();
    if dev.kind == "vif" {
        vec![
            ("tx-ring-ref", r(0)),
            ("rx-ring-ref", r(1)),
            ("event-channel", "5".to_owned()),
            ("request-rx-copy", "1".to_owned()),
            ("feature-rx-notify", "1".to_owned()),
            ("feature-sg", "1".to_owned()),
            ("feature-gso-tcpv4", "1".to_owned()),
            ("feature-gso-tcpv6", "1".to_owned()),
            ("feature-ipv6-csum-offload", "1".to_owned()),
        ]
    } else {
        vec![
            ("ring-ref", r(2)),
            ("event-channel", "6".to_owned()),
            ("protocol", "x86_64-abi".to_owned()),
            ("feature-persistent", "1".to_owned()),
        ]
    }
}

/// Guest `d` connects each device's frontend (its own ring, `g`): watches
/// the backend's state, reads it, publishes its ring keys, switches to
/// `Initialised` (3); then dom0's backend (`dom0`) switches to
/// `Connected` (4) and the frontend follows.
pub fn connect<G: Link, S: Link>(
    g: &mut Client<G>,
    dom0: &mut Client<S>,
    d: &Domain,
    devices: &[Device],
    guest: &mut TxCounts,
    backend: &mut TxCounts,
) -> io::Result<()> {
    for dev in devices {
        let fe = dev.frontend(d);
        let be =
            g.read(0, &format!("{fe}/backend"))?.map(|b| String::from_utf8_lossy(&b).into_owned());
        let be = be.ok_or_else(|| io::Error::other(format!("{fe}/backend unreadable")))?;
        g.watch(&format!("{be}/state"), &fe)?;
        g.read(0, &format!("{be}/state"))?;
        let keys = keys(dev, d.id);
        transaction(g, guest, |g, t| {
            for (k, v) in &keys {
                g.write(t, &format!("{fe}/{k}"), v)?;
            }
            Ok(())
        })?;
        switch_state(g, &fe, 3, guest)?;
        switch_state(dom0, &be, 4, backend)?;
        switch_state(g, &fe, 4, guest)?;
    }
    Ok(())
}
