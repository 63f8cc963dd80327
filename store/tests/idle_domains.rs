//! Memory per idle introduced domain: what the store keeps for a domain
//! that was introduced through the hypervisor model, made one request and
//! read its reply, and now waits (the domain record, its connection, its input framing state and
//! the leftovers of its output queue), measured with a counting global
//! allocator. The `/local/domain/<id>` nodes dom0 would write are not
//! included.

mod common;

use common::counting::{live, Counting};
use ring::wire::{Header, MsgType, HEADER_SIZE};
use store::model::{HypervisorModel, Semantics};
use store::{Config, DomId, DomainCaps, Engine, MapRequest, Platform};

#[global_allocator]
static GLOBAL: Counting = Counting;

/// Idle domains introduced, as a busy host might have.
const DOMAINS: u16 = 500;

/// Live heap bytes the store may keep per idle introduced domain,
/// everything included (domain record, connection, the tables' share).
/// Measured: 799 B/domain (742 before connections learnt to wait for
/// memory and to charge their queue's storage), most of it the connection
/// and the domain record in half-full B-tree nodes. Counted on this
/// thread only (`common::counting`): the process-wide count used before
/// moved by up to 900 bytes with libtest's own threads, which made the
/// test fail now and then. It was 5 050 B/domain while each connection
/// kept a boxed decoder with room for a maximal payload and its emptied
/// output queue's buffer.
const MAX_BYTES_PER_DOMAIN: usize = 850;

/// One request from `domid`'s ring: `XS_GET_DOMAIN_PATH` of itself (it
/// creates no node).
fn get_domain_path(domid: u16) -> Vec<u8> {
    let payload = format!("{domid}\0");
    let h = Header {
        ty: MsgType::GetDomainPath as u32,
        req_id: 1,
        tx_id: 0,
        len: payload.len() as u32,
    };
    let mut b = h.to_bytes().to_vec();
    b.extend_from_slice(payload.as_bytes());
    b
}

/// A hypervisor model with dom0 and domains `first..first + DOMAINS`.
fn model(first: u16) -> HypervisorModel {
    let mut xen = HypervisorModel::new(Semantics::Getdomaininfo418);
    xen.create_with_caps(DomId(0), DomainCaps { control: true, ..Default::default() });
    for d in first..first + DOMAINS {
        xen.create(DomId(d));
    }
    xen
}

#[test]
fn idle_introduced_domains_cost_little() {
    // What the model itself keeps for the rings it maps, measured alone
    // so it can be taken out of the store's count.
    let mut xen = model(1);
    let start = live() as i64;
    for d in 1..1 + DOMAINS {
        let req = MapRequest {
            conn: store::ConnId(u32::from(d)),
            domid: DomId(d),
            gfn: 0,
            port: 1,
            features: 0,
            reset: false,
        };
        xen.map_ring(req).expect("map");
    }
    let model_bytes = live() as i64 - start;
    drop(xen);

    let mut e = Engine::new(Config::default());
    let mut xen = model(1);
    // One warm-up domain outside the count (first-use growth of tables).
    xen.create(DomId(1000));
    e.introduce(DomId(1000), 0, 1, &mut xen).expect("introduce");
    let start = live() as i64;
    for d in 1..1 + DOMAINS {
        let c = e.introduce(DomId(d), 0, 1, &mut xen).expect("introduce");
        let req = get_domain_path(d);
        // Every other domain's request arrives in two pieces, so its
        // payload is gathered in a buffer of its own (freed once handled).
        let cut = if d % 2 == 0 { HEADER_SIZE + 1 } else { req.len() };
        assert_eq!(e.input(c, &req[..cut], 0, &mut xen), Ok(cut));
        assert_eq!(e.input(c, &req[cut..], 0, &mut xen), Ok(req.len() - cut));
        let out = e.output(c).to_vec();
        assert!(out.len() > HEADER_SIZE, "a reply");
        e.output_done(c, out.len());
        assert!(e.output(c).is_empty());
    }
    let bytes = live() as i64 - start - model_bytes;
    let per_domain = bytes as f64 / f64::from(DOMAINS);
    println!(
        "{DOMAINS} idle domains: {bytes} bytes live ({per_domain:.0} B/domain; the model's own {model_bytes} bytes excluded)"
    );
    assert!(per_domain <= MAX_BYTES_PER_DOMAIN as f64, "{per_domain:.0} B/domain");
}
