//! Fuzzing entry point (feature `fuzzing`): arbitrary bytes drive a few
//! connections of one engine, with domain checks and timer ticks mixed in.

use alloc::vec::Vec;

use crate::engine::{
    Config, ConnId, DomId, DomainInfo, DomainState, Engine, MapError, MapRequest, Platform,
};

/// A platform model: every map succeeds, domain states come from the input.
#[derive(Default)]
pub struct FakePlatform {
    /// State reported for every domain by `domain_info`.
    pub state: Option<DomainState>,
}

impl Platform for FakePlatform {
    fn map_ring(&mut self, _: MapRequest) -> Result<(), MapError> {
        Ok(())
    }
    fn unmap_ring(&mut self, _: ConnId) {}
    fn domain_info(&mut self, _: DomId) -> DomainInfo {
        DomainInfo::of_state(self.state.unwrap_or(DomainState::Running))
    }
}

/// Splits `data` into chunks `[selector, len, bytes…]` and feeds them to a
/// socket connection and two introduced domains; some selectors run
/// `check_domains`, `tick` or drain output instead.
pub fn run(data: &[u8]) {
    let mut e = Engine::new(Config::default());
    let mut pf = FakePlatform::default();
    let mut conns: Vec<ConnId> = Vec::new();
    conns.push(e.connect_socket());
    for d in [1u16, 2] {
        if let Ok(c) = e.introduce(DomId(d), 0, 1, &mut pf) {
            conns.push(c);
        }
    }
    let mut now = 0u64;
    let mut rest = data;
    while let Some((&sel, tail)) = rest.split_first() {
        let Some((&len, tail)) = tail.split_first() else { break };
        let n = usize::from(len).min(tail.len());
        let (chunk, tail) = tail.split_at(n);
        rest = tail;
        now = now.wrapping_add(u64::from(sel & 0x0f) * 1000);
        match sel >> 4 {
            0..=11 => {
                if let Some(&c) = conns.get(usize::from(sel) % conns.len().max(1)) {
                    let _ = e.input(c, chunk, now, &mut pf);
                }
            }
            12 => {
                pf.state = Some(match chunk.first().copied().unwrap_or(0) % 5 {
                    0 => DomainState::Running,
                    1 => DomainState::Shutdown,
                    2 => DomainState::Dying,
                    3 => DomainState::Dead,
                    _ => DomainState::Gone,
                });
                e.check_domains(now, &mut pf);
                pf.state = None;
            }
            13 => e.tick(now),
            _ => {
                for &c in &conns {
                    loop {
                        let k = e.output(c).len();
                        if k == 0 {
                            break;
                        }
                        e.output_done(c, k);
                    }
                }
                let mut ready = Vec::new();
                e.take_ready(&mut ready);
            }
        }
    }
}
