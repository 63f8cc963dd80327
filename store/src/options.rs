//! The engine options both front ends take from their command lines (the
//! stub's `kernel/src/cmdline.rs`, the daemon's `host/src/options.rs`, each
//! parsing its own syntax), and the one place they become a [`Config`].

use crate::ids::DomId;
use crate::{Config, MemoryBudget};

/// One quota option: `-Q name=value` (hard limit) or `-q name=value` (soft
/// limit), as C xenstored's `parse_quota` takes them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct QuotaOption<'a> {
    /// The quota's name, e.g. `nodes` (`quota::QUOTA_TABLE`).
    pub name: &'a str,
    /// The new limit.
    pub value: u32,
    /// The soft limit (`-q`) rather than the hard one (`-Q`).
    pub soft: bool,
}

/// What the engine's configuration is made of: the options the front ends
/// share, and what only the platform knows (its domid, random bits, its
/// heap). Fields left `None` keep [`Config::default`].
#[derive(Clone, Debug, Default)]
pub struct EngineOptions<'a> {
    /// Quota options, in command-line order (a later one wins).
    pub quotas: &'a [QuotaOption<'a>],
    /// `-w watch-event=SECONDS`: how long an unread watch event is kept
    /// (0: forever).
    pub watch_event_timeout_s: Option<u32>,
    /// The privileged domain, when configured (`--priv-domid`); then Xen
    /// 4.21+'s `CAP_CONTROL` domain does not replace it.
    pub priv_domid: Option<u16>,
    /// The domain running the store (the stub's own domid).
    pub store_domid: Option<u16>,
    /// Random bits from the platform, mixed into the key of the engine's
    /// node-name hasher (`Config::hash_seed`).
    pub seed: u64,
    /// The memory budget (the stub's heap, the daemon's `-M`).
    pub budget: Option<MemoryBudget>,
}

impl<'a> EngineOptions<'a> {
    /// The engine configuration. A quota option the engine does not know,
    /// or whose value is invalid, is skipped and handed to `rejected`: the
    /// stub logs and ignores it, the daemon refuses to start.
    pub fn config(&self, mut rejected: impl FnMut(&QuotaOption<'a>)) -> Config {
        let mut config = Config::default();
        for q in self.quotas {
            let set = if q.soft { Config::set_quota_soft } else { Config::set_quota };
            if set(&mut config, q.name, q.value).is_err() {
                rejected(q);
            }
        }
        if let Some(secs) = self.watch_event_timeout_s {
            config.watch_event_timeout_ms = u64::from(secs).saturating_mul(1000);
        }
        if let Some(d) = self.priv_domid {
            config.priv_domid = DomId(d);
            config.discover_priv_domid = false;
        }
        if let Some(d) = self.store_domid {
            config.store_domid = DomId(d);
        }
        config.hash_seed ^= self.seed;
        config.budget = self.budget;
        config
    }
}

#[cfg(test)]
mod tests {
    use alloc::vec::Vec;

    use super::*;
    use crate::quota::{Limit, Quota};

    #[test]
    fn no_options_give_the_default_config() {
        let config = EngineOptions::default().config(|q| panic!("{q:?}"));
        let default = Config::default();
        assert_eq!(config.priv_domid, default.priv_domid);
        assert!(config.discover_priv_domid);
        assert_eq!(config.store_domid, default.store_domid);
        assert_eq!(config.watch_event_timeout_ms, default.watch_event_timeout_ms);
        assert_eq!(config.hash_seed, default.hash_seed);
        assert_eq!(config.server_features, default.server_features);
        assert!(config.budget.is_none());
    }

    #[test]
    fn every_option_reaches_the_config() {
        let quotas = [
            QuotaOption { name: "nodes", value: 7, soft: false },
            QuotaOption { name: "memory", value: 99, soft: true },
            QuotaOption { name: "nodes", value: 8, soft: false },
        ];
        let budget = MemoryBudget::for_heap(4 << 20, || 0);
        let config = EngineOptions {
            quotas: &quotas,
            watch_event_timeout_s: Some(3),
            priv_domid: Some(4),
            store_domid: Some(1),
            seed: 0xff,
            budget: Some(budget),
        }
        .config(|q| panic!("{q:?}"));
        assert_eq!(config.quotas.get(Quota::Nodes, Limit::Hard), 8, "the later option wins");
        assert_eq!(config.quotas.get(Quota::Memory, Limit::Soft), 99);
        assert_eq!(config.watch_event_timeout_ms, 3000);
        assert_eq!((config.priv_domid, config.discover_priv_domid), (DomId(4), false));
        assert_eq!(config.store_domid, DomId(1));
        assert_eq!(config.hash_seed, Config::default().hash_seed ^ 0xff);
        assert_eq!(config.budget.map(|b| b.limit), Some(budget.limit));
    }

    #[test]
    fn bad_quotas_are_rejected_and_the_rest_applied() {
        let quotas = [
            QuotaOption { name: "bogus", value: 1, soft: false },
            QuotaOption { name: "nodes", value: u32::MAX, soft: false },
            QuotaOption { name: "watches", value: 5, soft: false },
        ];
        let mut rejected = Vec::new();
        let config = EngineOptions { quotas: &quotas, ..EngineOptions::default() }
            .config(|q| rejected.push(q.name));
        assert_eq!(rejected, ["bogus", "nodes"]);
        assert_eq!(config.quotas.get(Quota::Watches, Limit::Hard), 5);
    }
}
