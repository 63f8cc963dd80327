//! The toolstack's side of creating a PV domain with one vif and one vbd,
//! as libxl 4.17 does it (facts read from Xen's `tools/libs/light/`; not
//! captured from a running `xl`):
//!
//! - `libxl__domain_make` (`libxl_create.c`): one transaction that removes
//!   and re-creates `/local/domain/<id>`, `/vm/<uuid>` and `/libxl/<id>`
//!   (each `libxl__xs_mknod`: an empty WRITE then SET_PERMS), the
//!   directories of the domain's home with their permissions (`roperm`
//!   `n0 r<id>`, `rwperm` `n<id>`, `noperm` `n0`), the name through
//!   `libxl__domain_rename` (whose uniqueness check first reads the name
//!   of every existing domain, outside the transaction: optional here,
//!   see `main.rs`), and a few values; retried from the start on
//!   `EAGAIN`.
//! - `libxl__build_post` (`libxl_dom.c`): reads `<home>/vm`, then one
//!   transaction writing the memory, domid, store and cpu entries and the
//!   `/vm` image entries, then `XS_INTRODUCE`.
//! - `libxl__device_add_async` / `device_disk_add` with
//!   `libxl__device_generic_add` (`libxl_device.c`, `libxl_nic.c`,
//!   `libxl_disk.c`): per device, a transaction that reads the device's
//!   libxl path (does it exist?), removes and re-creates it, the frontend
//!   directory (perms `n<id> r0`, each front entry written and given the
//!   same perms, the read-only ones `n0 r<id>`) and the backend directory
//!   under dom0 (perms `n0 r<id>`) with their entries, and copies the
//!   backend entries to the libxl path; retried on `EAGAIN`.
//!
//! Then dom0's backend driver (not libxl) announces `InitWait` and the
//! hotplug script its status, as a Linux dom0 would.

use std::io;

use crate::client::{Client, Link};

/// Transactions committed and refused with `EAGAIN`.
#[derive(Clone, Copy, Default)]
pub struct TxCounts {
    /// Commits that succeeded.
    pub committed: u64,
    /// Commits refused with `EAGAIN` (each retried from the start).
    pub eagain: u64,
}

impl TxCounts {
    /// Adds `o` to these counts.
    pub fn add(&mut self, o: TxCounts) {
        self.committed += o.committed;
        self.eagain += o.eagain;
    }
}

/// Gives up a transaction refused this many times in a row.
const MAX_RETRIES: u32 = 10_000;

/// Runs `body` in a new transaction until it commits, as libxl's
/// `retry_transaction:` loops do.
pub fn transaction<L: Link>(
    c: &mut Client<L>,
    counts: &mut TxCounts,
    mut body: impl FnMut(&mut Client<L>, u32) -> io::Result<()>,
) -> io::Result<()> {
    for _ in 0..MAX_RETRIES {
        let t = c.tx_start()?;
        body(c, t)?;
        if c.tx_end(t, true)? {
            counts.committed += 1;
            return Ok(());
        }
        counts.eagain += 1;
    }
    Err(io::Error::other("a transaction was refused 10000 times in a row"))
}

/// Permission lists as `XS_SET_PERMS` takes them.
fn perms(list: &[(char, u32)]) -> Vec<String> {
    list.iter().map(|(p, d)| format!("{p}{d}")).collect()
}

/// `libxl__xs_mknod`: an empty node with `perms`.
fn mknod<L: Link>(c: &mut Client<L>, t: u32, path: &str, perms: &[String]) -> io::Result<()> {
    c.write(t, path, "")?;
    c.set_perms(t, path, perms)?;
    Ok(())
}

/// One guest domain's paths.
pub struct Domain {
    /// Its domid.
    pub id: u32,
    /// `/local/domain/<id>`.
    pub home: String,
    /// `/vm/<uuid>`.
    pub vm: String,
    /// `/libxl/<id>`.
    pub libxl: String,
}

impl Domain {
    /// Domain `id`'s paths (its uuid made from its id).
    pub fn new(id: u32) -> Domain {
        Domain {
            id,
            home: format!("/local/domain/{id}"),
            vm: format!("/vm/00000000-0000-4000-8000-{id:012x}"),
            libxl: format!("/libxl/{id}"),
        }
    }
}

/// `libxl__domain_make`'s transaction; `existing` are the domids whose
/// names the uniqueness check reads first.
pub fn domain_make<L: Link>(
    c: &mut Client<L>,
    d: &Domain,
    existing: impl Iterator<Item = u32> + Clone,
    counts: &mut TxCounts,
) -> io::Result<()> {
    let ro = perms(&[('n', 0), ('r', d.id)]);
    let rw = perms(&[('n', d.id)]);
    let no = perms(&[('n', 0)]);
    let name = format!("guest{}", d.id);
    transaction(c, counts, |c, t| {
        c.rm(t, &d.home)?;
        mknod(c, t, &d.home, &ro)?;
        c.rm(t, &d.vm)?;
        mknod(c, t, &d.vm, &ro)?;
        c.rm(t, &d.libxl)?;
        mknod(c, t, &d.libxl, &no)?;
        mknod(c, t, &format!("{}/device", d.libxl), &no)?;
        c.write(t, &format!("{}/vm", d.home), &d.vm)?;
        // libxl__domain_rename: libxl_name_to_domid reads every domain's
        // name outside the transaction, then the name is written in it.
        for other in existing.clone() {
            c.read(0, &format!("/local/domain/{other}/name"))?;
        }
        c.write(t, &format!("{}/name", d.home), &name)?;
        c.write(t, &format!("{}/name", d.vm), &name)?;
        for (sub, p) in [
            ("cpu", &ro),
            ("memory", &ro),
            ("device", &ro),
            ("device/suspend/event-channel", &rw),
            ("control", &ro),
            ("control/shutdown", &rw),
            ("control/feature-poweroff", &rw),
            ("control/feature-reboot", &rw),
            ("control/feature-suspend", &rw),
            ("control/sysrq", &rw),
            ("data", &rw),
            ("drivers", &rw),
            ("feature", &rw),
            ("attr", &rw),
            ("error", &rw),
        ] {
            mknod(c, t, &format!("{}/{sub}", d.home), p)?;
        }
        c.write(t, &format!("{}/uuid", d.vm), &d.vm[4..])?;
        for key in ["multiprocessor-suspend", "xs_reset_watches"] {
            c.write(t, &format!("{}/control/platform-feature-{key}", d.home), "1")?;
        }
        c.write(t, &format!("{}/type", d.libxl), "pv")?;
        Ok(())
    })
}

/// `libxl__build_post`: its transaction, then `XS_INTRODUCE`.
pub fn build_post<L: Link>(
    c: &mut Client<L>,
    d: &Domain,
    port: u32,
    counts: &mut TxCounts,
) -> io::Result<()> {
    let vm = c.read(0, &format!("{}/vm", d.home))?;
    let vm = vm.map_or_else(|| d.vm.clone(), |v| String::from_utf8_lossy(&v).into_owned());
    let ents = [
        ("memory/static-max", "262144".to_owned()),
        ("memory/target", "261120".to_owned()),
        ("memory/videoram", "-1".to_owned()),
        ("domid", d.id.to_string()),
        ("store/port", port.to_string()),
        ("store/ring-ref", (0x1000 + d.id).to_string()),
        ("cpu/0/availability", "online".to_owned()),
        ("console/port", "2".to_owned()),
        ("console/ring-ref", (0x2000 + d.id).to_string()),
    ];
    let vm_ents = [
        ("image/ostype", "linux"),
        ("image/kernel", "/boot/vmlinuz"),
        ("image/cmdline", "root=/dev/xvda1 ro"),
        ("start_time", "1700000000.00"),
    ];
    transaction(c, counts, |c, t| {
        for (k, v) in &ents {
            c.write(t, &format!("{}/{k}", d.home), v)?;
        }
        for (k, v) in vm_ents {
            c.write(t, &format!("{vm}/{k}"), v)?;
        }
        Ok(())
    })?;
    let r = c.introduce(d.id, u64::from(0x1000 + d.id), port)?;
    match r.err() {
        None => Ok(()),
        Some(e) => Err(io::Error::other(format!("introduce {}: {e}", d.id))),
    }
}

/// A PV device of a domain, backed by dom0.
pub struct Device {
    /// `vif` or `vbd`.
    pub kind: &'static str,
    /// Its device id (`0`, `51712` for xvda).
    pub devid: u32,
}

/// The two devices every domain gets.
pub const DEVICES: [Device; 2] =
    [Device { kind: "vif", devid: 0 }, Device { kind: "vbd", devid: 51712 }];

impl Device {
    /// The frontend directory in the guest's home.
    pub fn frontend(&self, d: &Domain) -> String {
        format!("{}/device/{}/{}", d.home, self.kind, self.devid)
    }

    /// The backend directory under dom0.
    pub fn backend(&self, d: &Domain) -> String {
        format!("/local/domain/0/backend/{}/{}/{}", self.kind, d.id, self.devid)
    }

    fn libxl(&self, d: &Domain) -> String {
        format!("{}/device/{}/{}", d.libxl, self.kind, self.devid)
    }

    /// (backend, frontend, read-only frontend) entries (`libxl_nic.c`'s
    /// `libxl__set_xenstore_nic`, `libxl_disk.c`'s `device_disk_add`, and
    /// the common ones of `libxl__device_add_async`).
    #[allow(clippy::type_complexity)]
    fn entries(
        &self,
        d: &Domain,
    ) -> (Vec<(&'static str, String)>, Vec<(&'static str, String)>, Vec<(&'static str, String)>)
    {
        let s = |x: &str| x.to_owned();
        let mut back =
            vec![("frontend-id", d.id.to_string()), ("online", s("1")), ("state", s("1"))];
        let mut front = vec![("backend-id", s("0")), ("state", s("1"))];
        let mut ro_front = Vec::new();
        let mac = format!(
            "00:16:3e:{:02x}:{:02x}:{:02x}",
            d.id >> 16 & 0xff,
            d.id >> 8 & 0xff,
            d.id & 0xff
        );
        if self.kind == "vif" {
            back.extend([
                ("script", s("/etc/xen/scripts/vif-bridge")),
                ("mac", mac.clone()),
                ("bridge", s("xenbr0")),
                ("handle", self.devid.to_string()),
                ("type", s("vif")),
                ("hotplug-status", s("")),
            ]);
            front.extend([("handle", self.devid.to_string()), ("mac", mac), ("trusted", s("1"))]);
            ro_front.push(("mtu", s("1500")));
        } else {
            back.extend([
                ("params", format!("/var/lib/xen/images/guest{}.img", d.id)),
                ("script", s("/etc/xen/scripts/block")),
                ("removable", s("0")),
                ("bootable", s("1")),
                ("dev", s("xvda")),
                ("type", s("phy")),
                ("mode", s("w")),
                ("device-type", s("disk")),
                ("discard-enable", s("1")),
                ("specification", s("xen")),
            ]);
            front.extend([
                ("virtual-device", self.devid.to_string()),
                ("device-type", s("disk")),
                ("trusted", s("1")),
            ]);
        }
        (back, front, ro_front)
    }
}

/// `libxl__device_add_async`'s loop around `libxl__device_generic_add`.
pub fn device_add<L: Link>(
    c: &mut Client<L>,
    d: &Domain,
    dev: &Device,
    counts: &mut TxCounts,
) -> io::Result<()> {
    let (fe, be, lx) = (dev.frontend(d), dev.backend(d), dev.libxl(d));
    let front_perms = perms(&[('n', d.id), ('r', 0)]);
    let back_perms = perms(&[('n', 0), ('r', d.id)]);
    let (back, front, ro_front) = dev.entries(d);
    transaction(c, counts, |c, t| {
        // libxl__device_exists
        c.read(t, &lx)?;
        c.rm(t, &lx)?;
        c.write(t, &format!("{lx}/frontend"), &fe)?;
        c.write(t, &format!("{lx}/backend"), &be)?;
        c.rm(t, &fe)?;
        c.mkdir(t, &fe)?;
        c.set_perms(t, &fe, &front_perms)?;
        c.write(t, &format!("{fe}/backend"), &be)?;
        for (k, v) in &front {
            let p = format!("{fe}/{k}");
            c.write(t, &p, v)?;
            c.set_perms(t, &p, &front_perms)?;
        }
        for (k, v) in &ro_front {
            let p = format!("{fe}/{k}");
            c.write(t, &p, v)?;
            c.set_perms(t, &p, &back_perms)?;
        }
        c.rm(t, &be)?;
        c.mkdir(t, &be)?;
        c.set_perms(t, &be, &back_perms)?;
        c.write(t, &format!("{be}/frontend"), &fe)?;
        for (k, v) in &back {
            c.write(t, &format!("{be}/{k}"), v)?;
        }
        for (k, v) in &back {
            c.write(t, &format!("{lx}/{k}"), v)?;
        }
        Ok(())
    })
}

/// A driver's `xenbus_switch_state`: a transaction that reads the state
/// and writes the new one.
pub fn switch_state<L: Link>(
    c: &mut Client<L>,
    dir: &str,
    state: u32,
    counts: &mut TxCounts,
) -> io::Result<()> {
    let path = format!("{dir}/state");
    transaction(c, counts, |c, t| {
        c.read(t, &path)?;
        c.write(t, &path, &state.to_string())?;
        Ok(())
    })
}

/// dom0's side once a device is added: the backend driver waits for its
/// frontend (`InitWait`, 2) and the hotplug script reports success.
pub fn backend_probe<L: Link>(
    c: &mut Client<L>,
    d: &Domain,
    dev: &Device,
    counts: &mut TxCounts,
) -> io::Result<()> {
    let be = dev.backend(d);
    switch_state(c, &be, 2, counts)?;
    c.write(0, &format!("{be}/hotplug-status"), "connected")?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::client::Link;
    use xs_peer_tools::{
        Header, HEADER_BYTES, XS_ERROR, XS_INTRODUCE, XS_READ, XS_SET_PERMS, XS_TRANSACTION_END,
        XS_TRANSACTION_START,
    };

    /// A daemon that records each request (type and payload) and answers
    /// it: a transaction id, `EAGAIN` for the first `refusals` commits,
    /// `ENOENT` for reads, `OK` otherwise.
    #[derive(Default)]
    struct Script {
        seen: Vec<(u32, String)>,
        refusals: u32,
        pending: Vec<u8>,
    }

    impl Link for Script {
        fn send(&mut self, bytes: &[u8]) -> std::io::Result<()> {
            let raw: [u8; HEADER_BYTES] = bytes[..HEADER_BYTES].try_into().unwrap();
            let h = Header::decode(&raw);
            let payload = String::from_utf8_lossy(&bytes[HEADER_BYTES..]).into_owned();
            self.seen.push((h.ty, payload));
            let (ty, answer): (u32, &[u8]) = match h.ty {
                XS_TRANSACTION_START => (h.ty, b"7\0"),
                XS_TRANSACTION_END if self.refusals > 0 => {
                    self.refusals -= 1;
                    (XS_ERROR, b"EAGAIN\0")
                }
                XS_READ => (XS_ERROR, b"ENOENT\0"),
                ty => (ty, b"OK\0"),
            };
            let len = answer.len() as u32;
            self.pending
                .extend_from_slice(&Header { ty, req_id: h.req_id, tx_id: 0, len }.encode());
            self.pending.extend_from_slice(answer);
            Ok(())
        }

        fn fill(&mut self, rx: &mut Vec<u8>) -> std::io::Result<()> {
            rx.append(&mut self.pending);
            Ok(())
        }
    }

    fn perms_of<'a>(seen: &'a [(u32, String)], path: &str) -> Vec<&'a str> {
        let prefix = format!("{path}\0");
        seen.iter()
            .filter(|(ty, p)| *ty == XS_SET_PERMS && p.starts_with(&prefix))
            .map(|(_, p)| &p[prefix.len()..])
            .collect()
    }

    #[test]
    fn a_refused_domain_make_is_redone_whole_with_libxls_permissions() {
        let mut c = Client::new(Script { refusals: 1, ..Script::default() });
        let mut counts = TxCounts::default();
        let d = Domain::new(5);
        domain_make(&mut c, &d, 1..3, &mut counts).unwrap();
        assert_eq!((counts.committed, counts.eagain), (1, 1));
        let seen = &c.link_ref().seen;
        let starts = seen.iter().filter(|(ty, _)| *ty == XS_TRANSACTION_START).count();
        assert_eq!(starts, 2, "the whole transaction again");
        // The name scan reads domains 1 and 2 in each attempt.
        let names = seen.iter().filter(|(ty, p)| *ty == XS_READ && p.ends_with("/name\0")).count();
        assert_eq!(names, 4);
        assert_eq!(perms_of(seen, "/local/domain/5"), ["n0\0r5\0"; 2]);
        assert_eq!(perms_of(seen, "/local/domain/5/data"), ["n5\0"; 2]);
        assert_eq!(perms_of(seen, "/libxl/5"), ["n0\0"; 2]);
    }

    #[test]
    fn a_device_gets_its_frontend_and_backend_with_their_permissions() {
        let mut c = Client::new(Script::default());
        let mut counts = TxCounts::default();
        let d = Domain::new(9);
        build_post(&mut c, &d, 7, &mut counts).unwrap();
        device_add(&mut c, &d, &DEVICES[0], &mut counts).unwrap();
        assert_eq!((counts.committed, counts.eagain), (2, 0));
        let seen = &c.link_ref().seen;
        assert!(seen.iter().any(|(ty, p)| *ty == XS_INTRODUCE && p == "9\u{0}4105\u{0}7\u{0}"));
        assert_eq!(perms_of(seen, "/local/domain/9/device/vif/0"), ["n9\0r0\0"]);
        assert_eq!(perms_of(seen, "/local/domain/9/device/vif/0/mac"), ["n9\0r0\0"]);
        assert_eq!(perms_of(seen, "/local/domain/9/device/vif/0/mtu"), ["n0\0r9\0"]);
        assert_eq!(perms_of(seen, "/local/domain/0/backend/vif/9/0"), ["n0\0r9\0"]);
        let backend_state = "/local/domain/0/backend/vif/9/0/state\0";
        assert!(seen.iter().any(|(_, p)| p.starts_with(backend_state)));
    }
}
