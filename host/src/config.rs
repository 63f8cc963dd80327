//! Turning command-line options into the engine's [`Config`].

use std::hash::{BuildHasher, Hasher};

use store::{Config, EngineOptions, MemoryBudget, QuotaOption};

use crate::options::Options;

/// Builds the engine configuration ([`EngineOptions::config`], shared with
/// the stub): quota overrides (`-Q name=value` sets the hard limit, `-q
/// name=value` the soft one, as C's `parse_quota`; an invalid one is an
/// error), the watch-event timeout, the memory budget (`--memory-budget`, measured by
/// the daemon's counting allocator), and random bits for the key of the
/// engine's node-name hasher.
pub fn engine_config(opts: &Options) -> Result<Config, String> {
    let quotas: Vec<QuotaOption<'_>> = opts
        .quotas
        .iter()
        .map(|q| QuotaOption { name: &q.name, value: q.value, soft: q.soft })
        .collect();
    let mut invalid = None;
    let config = EngineOptions {
        quotas: &quotas,
        watch_event_timeout_s: opts.watch_event_timeout_secs,
        priv_domid: opts.priv_domid,
        store_domid: opts.store_domid,
        seed: random_seed(),
        budget: opts
            .memory_budget
            .map(|heap| MemoryBudget::for_heap(heap, crate::heap::live_bytes)),
    }
    .config(|q| {
        invalid.get_or_insert_with(|| format!("invalid quota setting {}={}", q.name, q.value));
    });
    match invalid {
        Some(e) => Err(e),
        None => Ok(Config { keep_orphans: opts.keep_orphans, ..config }),
    }
}

/// A per-process random `u64`, from the OS-seeded keys of std's hasher
/// (enough to keep guests from predicting hash collisions).
fn random_seed() -> u64 {
    let mut hasher = std::collections::hash_map::RandomState::new().build_hasher();
    hasher.write_u32(std::process::id());
    hasher.finish()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::options::Environment;
    use store::{Limit, Quota};

    #[test]
    fn quotas_and_timeout_reach_the_config() {
        let args = ["-Q", "nodes=7", "-q", "memory=99", "-w", "watch-event=3"];
        let opts = Options::parse(args, &Environment::default()).unwrap();
        let config = engine_config(&opts).unwrap();
        assert_eq!(config.quotas.get(Quota::Nodes, Limit::Hard), 7);
        assert_eq!(config.quotas.get(Quota::Memory, Limit::Soft), 99);
        assert_eq!(config.watch_event_timeout_ms, 3000);
        assert!(config.budget.is_none());
        assert!(!config.keep_orphans);
        let opts = Options::parse(["-K", "--priv-domid", "3"], &Environment::default()).unwrap();
        let config = engine_config(&opts).unwrap();
        assert!(config.keep_orphans);
        assert_eq!((config.priv_domid, config.discover_priv_domid), (store::DomId(3), false));
    }

    #[test]
    fn a_memory_budget_caps_the_memory_quota() {
        let opts = Options::parse(["--memory-budget", "4M"], &Environment::default()).unwrap();
        let config = engine_config(&opts).unwrap();
        let budget = config.budget.unwrap();
        assert!(budget.limit < 4 << 20);
        let engine = store::Engine::new(config);
        let hard = engine.config().quotas.get(Quota::Memory, Limit::Hard);
        assert_eq!(hard as usize, budget.domain_share());
        assert!(crate::heap::live_bytes() > 0);
    }

    #[test]
    fn unknown_quotas_are_rejected() {
        let opts = Options::parse(["-Q", "bogus=1"], &Environment::default()).unwrap();
        assert!(engine_config(&opts).is_err());
    }
}
