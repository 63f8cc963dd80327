//! `XS_CONTROL`: operator commands from the privileged domain (C
//! `control.c`): `check`, `log`, `live-update` (`liveupdate.rs`),
//! `print`, `quota`, `quota-soft`, `memreport`, `help`.

use alloc::format;
use alloc::string::String;
use alloc::vec::Vec;
use core::fmt::Write;

use crate::engine::{Engine, Platform};
use crate::error::Error;
use crate::ids::DomId;
use crate::quota::{self, Limit, Quota};
use crate::request::{strings, Reply, Req};

/// The commands and their arguments, as C 4.22's `cmds[]` lists them for
/// `help` (without the logfile command, which the engine does not
/// implement).
const COMMANDS: [(&str, &str); 8] = [
    ("check", ""),
    ("log", "[on|off|+<switch>|-<switch>|level <level>]"),
    (
        "live-update",
        "[-c <cmdline>] [-F] [-t <timeout>] [-v <version>] <file>\n    \
         Default timeout is 60 seconds, default version is 2.",
    ),
    ("memreport", "[<file>]"),
    ("print", "<string>"),
    ("quota", "[set <name> <val>|<domid>|max [-r]]"),
    ("quota-soft", "[set <name> <val>]"),
    ("help", ""),
];

/// Handles `XS_CONTROL cmd\0args…`.
pub fn do_control(
    e: &mut Engine,
    req: &Req,
    payload: &[u8],
    platform: &mut dyn Platform,
) -> Result<Reply, Error> {
    let args: Vec<&str> = strings(payload).map(|s| core::str::from_utf8(s).unwrap_or("")).collect();
    let (&cmd, rest) = args.split_first().ok_or(Error::Inval)?;
    match cmd {
        "check" => {
            check(e)?;
            Ok(Reply::ok())
        }
        "log" => {
            e.trace.command(rest).map_err(|_| Error::Inval)?;
            Ok(Reply::ok())
        }
        "print" => match rest {
            [s] => {
                log::info!("control: {s}");
                Ok(Reply::ok())
            }
            _ => Err(Error::Inval),
        },
        "live-update" => {
            let raw = payload
                .iter()
                .position(|&c| c == 0)
                .and_then(|n| payload.get(n.saturating_add(1)..));
            crate::liveupdate::do_control_lu(e, req, rest, raw.unwrap_or(&[]), platform)
        }
        "memreport" if rest.len() <= 1 => Ok(Reply::string(&memreport(e))),
        "help" if rest.is_empty() => {
            let mut s = String::new();
            for (cmd, pars) in COMMANDS {
                let _ = writeln!(s, "{cmd:<15} {pars}");
            }
            Ok(Reply::string(&s))
        }
        "quota" => control_quota(e, rest, Limit::Hard),
        "quota-soft" => control_quota(e, rest, Limit::Soft),
        _ => Err(Error::Inval),
    }
}

fn control_quota(e: &mut Engine, args: &[&str], limit: Limit) -> Result<Reply, Error> {
    match args {
        [] => {
            let mut s = String::from("Quota settings:\n");
            for def in quota::QUOTA_TABLE.iter() {
                let v = e.cfg.quotas.get(def.quota, limit);
                if v != quota::QUOTA_DISABLED {
                    let _ = writeln!(s, "{:<17}: {:>8} {}", def.name, v, def.descr);
                }
            }
            Ok(Reply::string(&s))
        }
        ["set", name, val] => {
            // C 4.22 `quota_set`: `atoi`, and below 1 is refused.
            let v = u32::try_from(crate::cnum::atoi(val.as_bytes()))
                .ok()
                .filter(|&v| v >= 1)
                .ok_or(Error::Inval)?;
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
            // C 4.22 `quota_get`: `atoi` of the argument.
            let d = u16::try_from(crate::cnum::atoi(domid.as_bytes())).map_err(|_| Error::NoEnt)?;
            let dom = e.domains.get(&d).ok_or(Error::NoEnt)?;
            let mut s = format!("Domain {d}:\n");
            for q in Quota::ALL {
                let _ = writeln!(
                    s,
                    "{:<17}: {:>8} (max {:>8})",
                    q.name(),
                    dom.usage.get(q),
                    dom.quotas.hard(q)
                );
            }
            Ok(Reply::string(&s))
        }
        _ => Err(Error::Inval),
    }
}

/// Consistency check: every record a directory lists decodes, and the
/// tree holds as many nodes as it counts. Returns `EIO` (C `corrupt()`)
/// on an inconsistency. The walk's memory follows the tree's depth.
fn check(e: &Engine) -> Result<(), Error> {
    let mut seen = 0usize;
    e.tree.for_each_node(|_, _| seen = seen.saturating_add(1));
    if seen == e.tree.len() {
        Ok(())
    } else {
        Err(Error::Io)
    }
}

/// A human-readable memory report.
pub fn memreport(e: &Engine) -> String {
    let mut s = String::new();
    let mut bytes = 0usize;
    e.tree.for_each_node(|len, n| bytes = bytes.saturating_add(len).saturating_add(n.size()));
    if let Some(b) = e.cfg.budget {
        let _ = writeln!(
            s,
            "heap: {} bytes used, limit {} (guests {}, one domain {})",
            (b.meter)(),
            b.limit,
            b.limit_for(false),
            b.domain_share()
        );
    }
    let _ = writeln!(s, "nodes: {} ({} bytes)", e.tree.len(), bytes);
    let _ = writeln!(s, "connections: {}", e.conns.len());
    let queued: usize =
        e.conns.values().map(|c| c.out.iter().map(|m| m.bytes.len()).sum::<usize>()).sum();
    let _ = writeln!(s, "queued output: {queued} bytes");
    let _ = writeln!(
        s,
        "requests: {} tx_conflicts: {} quota_hits: {} ignored_conns: {} events_dropped: {} \
         wrl_delays: {}",
        e.stats.requests,
        e.stats.tx_conflicts,
        e.stats.quota_hits,
        e.stats.ignored_conns,
        e.stats.events_dropped,
        e.wrl.delays()
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
    let (entries, index_bytes) = e.tree.owners_size();
    let _ = writeln!(s, "owners index: {entries} entries ({index_bytes} bytes)");
    s
}
