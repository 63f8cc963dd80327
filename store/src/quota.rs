//! Quotas: the limits every unprivileged domain lives within.
//!
//! Names, defaults and meaning follow C xenstored's `quota_adm[]` /
//! `quotas[]` (`tools/xenstored/domain.c`). There is one global table
//! ([`Quotas`] in the engine's `Config`) and a per-domain copy that
//! `XS_SET_QUOTA` may change. The privileged domain is exempt from all of
//! them. A quota is "exceeded" when the new usage *reaches* the limit
//! (`usage >= quota`), exactly as C's `domain_quota_val_exceeds`, and a
//! limit of 0 means "unlimited".

/// One quota kind. The discriminant indexes the tables below.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Quota {
    /// Nodes owned by a domain.
    Nodes = 0,
    /// Watches registered by a domain.
    Watches = 1,
    /// Requests whose reply (and the watch events they caused) are not yet
    /// delivered; reaching it stops reading from the domain (flow control).
    Outstanding = 2,
    /// Bytes of engine memory charged to a domain; reaching the hard limit
    /// stops reading from the domain (flow control).
    Memory = 3,
    /// Concurrent transactions of a domain.
    Transactions = 4,
    /// Nodes accessed by one transaction.
    TransactionNodes = 5,
    /// Permission entries of one node.
    NodePermissions = 6,
    /// Length of a path (the part below `/local/domain/<domid>/`).
    PathMax = 7,
    /// Size of a node: header, permissions, value and child names.
    NodeSize = 8,
}

/// Number of quota kinds.
pub const QUOTA_COUNT: usize = 9;

/// Marks a soft limit that does not exist (C's `Q_VAL_DISABLED`).
pub const QUOTA_DISABLED: u32 = u32::MAX;

/// One row of the quota table.
pub struct QuotaDef {
    /// The quota.
    pub quota: Quota,
    /// Its name on the wire (`XS_SET_QUOTA`, `XS_CONTROL quota`).
    pub name: &'static str,
    /// Default hard limit.
    pub hard: u32,
    /// Default soft limit (only a log warning), or [`QUOTA_DISABLED`].
    pub soft: u32,
    /// One-line description, as C's `descr`.
    pub descr: &'static str,
}

/// `XENSTORE_REL_PATH_MAX` as a quota value; the assertion proves the
/// conversion exact (a `const` cannot use `try_from`).
#[allow(clippy::cast_possible_truncation)]
const REL_PATH_MAX: u32 = {
    assert!(ring::wire::XENSTORE_REL_PATH_MAX <= u32::MAX as usize);
    ring::wire::XENSTORE_REL_PATH_MAX as u32
};

/// The one table of quota names and defaults (C `domain.c`).
pub const QUOTA_TABLE: [QuotaDef; QUOTA_COUNT] = [
    QuotaDef {
        quota: Quota::Nodes,
        name: "nodes",
        hard: 1000,
        soft: QUOTA_DISABLED,
        descr: "Nodes per domain",
    },
    QuotaDef {
        quota: Quota::Watches,
        name: "watches",
        hard: 128,
        soft: QUOTA_DISABLED,
        descr: "Watches per domain",
    },
    QuotaDef {
        quota: Quota::Outstanding,
        name: "outstanding",
        hard: 20,
        soft: QUOTA_DISABLED,
        descr: "Outstanding requests per domain",
    },
    QuotaDef {
        quota: Quota::Memory,
        name: "memory",
        hard: 2 * 1024 * 1024 + 512 * 1024,
        soft: 2 * 1024 * 1024,
        descr: "Total Xenstore memory per domain",
    },
    QuotaDef {
        quota: Quota::Transactions,
        name: "transactions",
        hard: 10,
        soft: QUOTA_DISABLED,
        descr: "Active transactions per domain",
    },
    QuotaDef {
        quota: Quota::TransactionNodes,
        name: "transaction-nodes",
        hard: 1024,
        soft: QUOTA_DISABLED,
        descr: "Max. number of accessed nodes per transaction",
    },
    QuotaDef {
        quota: Quota::NodePermissions,
        name: "node-permissions",
        hard: 5,
        soft: QUOTA_DISABLED,
        descr: "Max. number of permissions per node",
    },
    QuotaDef {
        quota: Quota::PathMax,
        name: "path-max",
        hard: REL_PATH_MAX,
        soft: QUOTA_DISABLED,
        descr: "Max. length of a node path",
    },
    QuotaDef {
        quota: Quota::NodeSize,
        name: "node-size",
        hard: 2048,
        soft: QUOTA_DISABLED,
        descr: "Max. size of a node",
    },
];

/// Which limit of a quota a name refers to (`soft-` prefix = soft).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Limit {
    /// The enforced limit.
    Hard,
    /// The warning limit.
    Soft,
}

/// A set of hard and soft limits.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Quotas {
    hard: [u32; QUOTA_COUNT],
    soft: [u32; QUOTA_COUNT],
}

impl Default for Quotas {
    fn default() -> Self {
        let mut q = Quotas { hard: [0; QUOTA_COUNT], soft: [QUOTA_DISABLED; QUOTA_COUNT] };
        for (i, def) in QUOTA_TABLE.iter().enumerate() {
            if let (Some(h), Some(s)) = (q.hard.get_mut(i), q.soft.get_mut(i)) {
                *h = def.hard;
                *s = def.soft;
            }
        }
        q
    }
}

impl Quota {
    /// Every quota, in table order.
    pub const ALL: [Quota; QUOTA_COUNT] = [
        Quota::Nodes,
        Quota::Watches,
        Quota::Outstanding,
        Quota::Memory,
        Quota::Transactions,
        Quota::TransactionNodes,
        Quota::NodePermissions,
        Quota::PathMax,
        Quota::NodeSize,
    ];

    /// The quota's wire name.
    pub fn name(self) -> &'static str {
        QUOTA_TABLE.get(self as usize).map_or("", |d| d.name)
    }
}

/// Parses a quota name as C `parse_quota_name`: an optional `soft-` prefix,
/// then one of the table names. Names whose default soft limit is disabled
/// are not valid with `soft-`.
pub fn parse_name(name: &str) -> Option<(Quota, Limit)> {
    let (limit, base) = match name.strip_prefix("soft-") {
        Some(rest) => (Limit::Soft, rest),
        None => (Limit::Hard, name),
    };
    let def = QUOTA_TABLE.iter().find(|d| d.name == base)?;
    let default = if limit == Limit::Soft { def.soft } else { def.hard };
    (default != QUOTA_DISABLED).then_some((def.quota, limit))
}

impl Quotas {
    /// The limit `limit` of quota `q`.
    pub fn get(&self, q: Quota, limit: Limit) -> u32 {
        let table = if limit == Limit::Soft { &self.soft } else { &self.hard };
        table.get(q as usize).copied().unwrap_or(0)
    }

    /// Sets the limit `limit` of quota `q`.
    pub fn set(&mut self, q: Quota, limit: Limit, value: u32) {
        let table = if limit == Limit::Soft { &mut self.soft } else { &mut self.hard };
        if let Some(v) = table.get_mut(q as usize) {
            *v = value;
        }
    }

    /// The hard limit of `q`.
    pub fn hard(&self, q: Quota) -> u32 {
        self.get(q, Limit::Hard)
    }

    /// Whether a usage of `value` reaches the hard limit of `q` (0 means
    /// unlimited). Callers exempt the privileged domain.
    pub fn exceeds(&self, q: Quota, value: u64) -> bool {
        let quota = self.hard(q);
        quota != 0 && value >= u64::from(quota)
    }

    /// Whether a single value (path length, node size, permission count)
    /// is above the hard limit of `q` (C's `domain_max_chk`: `val > quota`).
    pub fn above(&self, q: Quota, value: u64) -> bool {
        let quota = self.hard(q);
        quota != 0 && value > u64::from(quota)
    }
}

/// Per-domain usage counters, indexed by [`Quota`].
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Usage {
    vals: [u64; QUOTA_COUNT],
}

impl Usage {
    /// Current usage of `q`.
    pub fn get(&self, q: Quota) -> u64 {
        self.vals.get(q as usize).copied().unwrap_or(0)
    }

    /// Adds `delta` (may be negative) to the usage of `q`, never going
    /// below zero (XSA-440: accounting must not turn negative).
    pub fn add(&mut self, q: Quota, delta: i64) {
        if let Some(v) = self.vals.get_mut(q as usize) {
            *v = if delta < 0 {
                v.saturating_sub(delta.unsigned_abs())
            } else {
                v.saturating_add(delta.unsigned_abs())
            };
        }
    }
}

/// Minimum time between two memory quota messages about one domain (C
/// `MEM_WARN_MINTIME_SEC`), so a guest cannot flood the log.
pub const MEM_WARN_MINTIME_MS: u64 = 10_000;

/// What has been logged about one domain's memory use (C
/// `domain_chk_quota`: `mem_last_msg`, `soft_quota_reported`,
/// `hard_quota_reported`).
#[derive(Clone, Debug, Default)]
pub struct MemoryWarnings {
    last_ms: Option<u64>,
    soft: bool,
    hard: bool,
}

impl MemoryWarnings {
    /// Logs crossings of the soft and hard memory limits of `domid`, whose
    /// memory use is `mem`, rate-limited to one burst per
    /// [`MEM_WARN_MINTIME_MS`]; the hard limit is reported at once, once.
    /// Returns whether the hard limit is reached.
    pub fn check(&mut self, domid: u16, mem: u64, quotas: &Quotas, now_ms: u64) -> bool {
        if quotas.exceeds(Quota::Memory, mem) {
            if !self.hard {
                log::error!(
                    "Domain {domid} exceeds hard memory quota, Xenstore interface to domain stalled"
                );
                self.last_ms = Some(now_ms);
                self.hard = true;
            }
            return true;
        }
        let due = self.last_ms.is_none_or(|t| now_ms.saturating_sub(t) >= MEM_WARN_MINTIME_MS);
        if !due {
            return false;
        }
        if self.hard {
            self.last_ms = Some(now_ms);
            self.hard = false;
            log::info!("Domain {domid} below hard memory quota again");
        }
        let soft = quotas.get(Quota::Memory, Limit::Soft);
        let soft = (soft != QUOTA_DISABLED && soft != 0).then_some(u64::from(soft));
        match soft {
            Some(s) if mem >= s && !self.soft => {
                self.last_ms = Some(now_ms);
                self.soft = true;
                log::warn!("Domain {domid} exceeds soft memory quota");
            }
            Some(s) if mem < s && self.soft => {
                self.last_ms = Some(now_ms);
                self.soft = false;
                log::info!("Domain {domid} below soft memory quota again");
            }
            _ => {}
        }
        false
    }

    /// Whether the soft limit is currently reported as exceeded.
    #[cfg(test)]
    pub fn soft_reported(&self) -> bool {
        self.soft
    }

    /// Whether the hard limit is currently reported as exceeded.
    #[cfg(test)]
    pub fn hard_reported(&self) -> bool {
        self.hard
    }
}

/// A byte count as a quota value.
pub fn as_u64(n: usize) -> u64 {
    u64::try_from(n).unwrap_or(u64::MAX)
}

/// The signed change from `old` to `new` bytes, for usage counters.
pub fn delta(old: usize, new: usize) -> i64 {
    let d = |a: usize, b: usize| i64::try_from(a.saturating_sub(b)).unwrap_or(i64::MAX);
    d(new, old).saturating_sub(d(old, new))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_match_c() {
        let q = Quotas::default();
        assert_eq!(q.hard(Quota::Nodes), 1000);
        assert_eq!(q.hard(Quota::Watches), 128);
        assert_eq!(q.hard(Quota::Outstanding), 20);
        assert_eq!(q.hard(Quota::Memory), 2_621_440);
        assert_eq!(q.get(Quota::Memory, Limit::Soft), 2_097_152);
        assert_eq!(q.hard(Quota::Transactions), 10);
        assert_eq!(q.hard(Quota::TransactionNodes), 1024);
        assert_eq!(q.hard(Quota::NodePermissions), 5);
        assert_eq!(q.hard(Quota::PathMax), 2048);
        assert_eq!(q.hard(Quota::NodeSize), 2048);
    }

    #[test]
    fn names_parse_like_c() {
        assert_eq!(parse_name("nodes"), Some((Quota::Nodes, Limit::Hard)));
        assert_eq!(parse_name("soft-memory"), Some((Quota::Memory, Limit::Soft)));
        assert_eq!(parse_name("soft-nodes"), None);
        assert_eq!(parse_name("bogus"), None);
        for q in Quota::ALL {
            assert_eq!(parse_name(q.name()).map(|p| p.0), Some(q));
        }
    }

    #[test]
    fn exceeded_means_reached_and_zero_is_unlimited() {
        let mut q = Quotas::default();
        assert!(!q.exceeds(Quota::Nodes, 999));
        assert!(q.exceeds(Quota::Nodes, 1000));
        q.set(Quota::Nodes, Limit::Hard, 0);
        assert!(!q.exceeds(Quota::Nodes, 1 << 40));
    }

    #[test]
    fn memory_warnings_are_rate_limited() {
        let q = Quotas::default();
        let soft = u64::from(q.get(Quota::Memory, Limit::Soft));
        let hard = u64::from(q.hard(Quota::Memory));
        let mut w = MemoryWarnings::default();
        assert!(!w.check(1, 10, &q, 0));
        assert!(!w.soft_reported());
        assert!(!w.check(1, soft, &q, 1));
        assert!(w.soft_reported());
        // The hard limit is reported at once, however recent the last note.
        assert!(w.check(1, hard, &q, 2));
        assert!(w.hard_reported());
        // Back below: only after the quiet time.
        assert!(!w.check(1, 10, &q, 3));
        assert!(w.hard_reported() && w.soft_reported());
        assert!(!w.check(1, 10, &q, 2 + MEM_WARN_MINTIME_MS));
        assert!(!w.hard_reported());
        // The soft note clears with the next due check.
        assert!(!w.check(1, 10, &q, 2 + 2 * MEM_WARN_MINTIME_MS));
        assert!(!w.soft_reported());
    }

    #[test]
    fn usage_never_goes_negative() {
        let mut u = Usage::default();
        u.add(Quota::Nodes, 2);
        u.add(Quota::Nodes, -5);
        assert_eq!(u.get(Quota::Nodes), 0);
    }
}
