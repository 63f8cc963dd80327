//! `XS_CONTROL`: operator commands from the privileged domain (C
//! `control.c`): `check`, `log`, `print`, `quota`, `quota-soft`,
//! `memreport`, `help`. Live update is not supported.

use alloc::format;
use alloc::string::String;
use alloc::vec::Vec;
use core::fmt::Write;

use crate::dispatch::{strings, Reply, Req};
use crate::domain::limit_of;
use crate::engine::{DomId, Engine, Platform};
use crate::error::Error;
use crate::path;
use crate::perms;
use crate::quota::{self, Limit, Quota};

const HELP: &str = "Valid commands:\ncheck\nlog [on|off|+<switch>|-<switch>]\nprint <string>\nquota [set <name> <val>|<domid>|max [-r]]\nquota-soft [set <name> <val>]\nmemreport\nhelp\n";

/// Handles `XS_CONTROL cmd\0args…`.
pub fn do_control(
    e: &mut Engine,
    _: &Req,
    payload: &[u8],
    _: &mut dyn Platform,
) -> Result<Reply, Error> {
    let args: Vec<&str> = strings(payload).map(|s| core::str::from_utf8(s).unwrap_or("")).collect();
    let (&cmd, rest) = args.split_first().ok_or(Error::Inval)?;
    match cmd {
        "check" => {
            check(e)?;
            Ok(Reply::ok())
        }
        "log" => {
            match rest.first().copied() {
                Some("on") => e.log_on = true,
                Some("off") => e.log_on = false,
                _ => {}
            }
            Ok(Reply::ok())
        }
        "print" => {
            let s = rest.first().ok_or(Error::Inval)?;
            log::info!("control: {s}");
            Ok(Reply::ok())
        }
        "memreport" => Ok(Reply::string(&memreport(e))),
        "help" => Ok(Reply::string(HELP)),
        "quota" => control_quota(e, rest, Limit::Hard),
        "quota-soft" => control_quota(e, rest, Limit::Soft),
        _ => Err(Error::Inval),
    }
}

fn control_quota(e: &mut Engine, args: &[&str], limit: Limit) -> Result<Reply, Error> {
    match args {
        [] => {
            let mut s = String::new();
            for def in quota::QUOTA_TABLE.iter() {
                let v = e.cfg.quotas.get(def.quota, limit);
                if v != quota::QUOTA_DISABLED {
                    let _ = writeln!(s, "{:<17}: {:>8} {}", def.name, v, def.descr);
                }
            }
            Ok(Reply::string(&s))
        }
        ["set", name, val] => {
            let v = perms::parse_u32(val.as_bytes()).ok_or(Error::Inval)?;
            let def = quota::QUOTA_TABLE.iter().find(|d| d.name == *name).ok_or(Error::Inval)?;
            if limit == Limit::Soft && def.soft == quota::QUOTA_DISABLED {
                return Err(Error::Inval);
            }
            e.cfg.quotas.set(def.quota, limit, v);
            Ok(Reply::ok())
        }
        ["max", ..] if limit == Limit::Hard => {
            let mut s = String::from("Max. seen accounting values:\n");
            for q in Quota::ALL {
                let max = e
                    .domains
                    .values()
                    .filter(|d| !e.is_privileged(d.domid))
                    .map(|d| d.usage.get(q))
                    .max()
                    .unwrap_or(0);
                let _ = writeln!(s, "{:<17}: {:>8}", q.name(), max);
            }
            Ok(Reply::string(&s))
        }
        [domid] if limit == Limit::Hard => {
            let d = perms::parse_u16(domid.as_bytes()).ok_or(Error::Inval)?;
            let dom = e.domains.get(&d).ok_or(Error::NoEnt)?;
            let mut s = format!("Domain {d}:\n");
            for q in Quota::ALL {
                let _ = writeln!(
                    s,
                    "{:<17}: {:>8} (max {:>8})",
                    q.name(),
                    dom.usage.get(q),
                    limit_of(&dom.quotas, q)
                );
            }
            Ok(Reply::string(&s))
        }
        _ => Err(Error::Inval),
    }
}

/// Consistency check: every child listed exists, every node's parent
/// lists it. Returns `EIO` (C `corrupt()`) on an inconsistency.
fn check(e: &Engine) -> Result<(), Error> {
    for (p, n) in e.tree.iter() {
        for c in n.child_names() {
            if e.tree.get(&path::child(p, c)).is_none() {
                return Err(Error::Io);
            }
        }
        if p != "/" && !p.starts_with('@') {
            let parent = e.tree.get(path::parent(p)).ok_or(Error::Io)?;
            if !parent.child_names().any(|c| c == path::basename(p)) {
                return Err(Error::Io);
            }
        }
    }
    Ok(())
}

/// A human-readable memory report.
pub fn memreport(e: &Engine) -> String {
    let mut s = String::new();
    let bytes: usize = e.tree.iter().map(|(p, n)| p.len() + n.size()).sum();
    let _ = writeln!(s, "nodes: {} ({} bytes)", e.tree.len(), bytes);
    let _ = writeln!(s, "connections: {}", e.conns.len());
    let queued: usize =
        e.conns.values().map(|c| c.out.iter().map(|m| m.bytes.len()).sum::<usize>()).sum();
    let _ = writeln!(s, "queued output: {queued} bytes");
    let _ = writeln!(
        s,
        "requests: {} tx_conflicts: {} quota_hits: {} ignored_conns: {} events_dropped: {}",
        e.stats.requests,
        e.stats.tx_conflicts,
        e.stats.quota_hits,
        e.stats.ignored_conns,
        e.stats.events_dropped
    );
    for d in e.domains.values() {
        let DomId(id) = d.domid;
        let _ = writeln!(
            s,
            "domain {id}: nodes {} watches {} transactions {} outstanding {} memory {}",
            d.usage.get(Quota::Nodes),
            d.usage.get(Quota::Watches),
            d.usage.get(Quota::Transactions),
            d.usage.get(Quota::Outstanding),
            d.usage.get(Quota::Memory)
        );
    }
    s
}
