use super::*;
use crate::perms::Perms;
use alloc::format;
use alloc::vec;

fn perms(ids: &[u32]) -> Perms {
    ids.iter().map(|&id| Perm { id, bits: 0 }).collect::<Vec<_>>().into()
}

fn node(owner: u32, value: &[u8]) -> Node {
    let mut n = Node::new(perms(&[owner]));
    n.value = crate::tree::Value::from_slice(value);
    n
}

/// A tree with `/` owned by dom0.
fn rooted() -> Tree {
    let mut t = Tree::new(1);
    t.insert("/", &node(0, b""), 1).unwrap();
    t
}

fn names(t: &Tree, p: &str) -> Vec<String> {
    t.get(p).unwrap().child_names().map(String::from).collect()
}

#[test]
fn deep_trees_walk_without_recursion() {
    let mut t = rooted();
    let mut p = String::new();
    for _ in 0..1_500 {
        p.push_str("/a");
        t.insert(&p, &node(0, b""), 2).unwrap();
    }
    let post = t.subtree_post_order("/");
    assert_eq!(post.len(), 1_501);
    assert_eq!(post.last().map(String::as_str), Some("/"));
    assert_eq!(t.subtree_pre_order("/").len(), 1_501);
    assert_eq!(t.iter().count(), 1_501);
    assert!(t.get(&p).is_some());
}

#[test]
fn post_order_is_children_first_in_creation_order() {
    let mut t = rooted();
    t.insert("/b", &node(0, b""), 2).unwrap();
    t.insert("/a", &node(0, b""), 3).unwrap();
    t.insert("/a/x", &node(0, b""), 4).unwrap();
    assert_eq!(t.subtree_post_order("/"), vec!["/b", "/a/x", "/a", "/"]);
    assert_eq!(t.subtree_pre_order("/"), vec!["/", "/b", "/a", "/a/x"]);
    assert_eq!(names(&t, "/"), vec!["b", "a"]);
    let mut buf = Vec::new();
    t.get("/").unwrap().write_children(&mut buf);
    assert_eq!(buf, b"b\0a\0");
}

#[test]
fn nodes_are_created_replaced_and_removed_with_their_accounting() {
    let mut t = rooted();
    let put = t.insert("/d", &node(3, b"v"), 5).unwrap();
    assert_eq!(put.old, None);
    assert_eq!(put.new, Stat { owner: DomId(3), size: 16 + 8 + 1 });
    assert_eq!(put.linked, Some(DomId(0)));
    // The parent's size counts the child's name.
    assert_eq!(t.get("/").unwrap().size(), 16 + 8 + 2);
    let put = t.insert("/d", &node(3, b"longer value"), 6).unwrap();
    assert_eq!(put.old.map(|s| s.size), Some(25));
    assert_eq!(put.new.size, 16 + 8 + 12);
    assert_eq!(put.linked, None);
    assert_eq!(t.get("/d").unwrap().value, b"longer value");
    assert_eq!(t.insert("/x/y", &node(0, b""), 7), Err(TreeError::NoParent));
    t.insert("/d/e", &node(3, b""), 8).unwrap();
    assert_eq!(t.remove("/d", 9), Err(TreeError::HasChildren));
    let r = t.remove("/d/e", 10).unwrap();
    assert_eq!(r.unlinked, Some(DomId(3)));
    assert_eq!(t.get("/d").map(|n| n.size()), Some(36));
    t.remove("/d", 11).unwrap();
    assert_eq!(t.remove("/d", 12), Err(TreeError::NotFound));
    assert_eq!(t.len(), 1);
    assert_eq!(names(&t, "/"), Vec::<String>::new());
}

#[test]
fn special_roots_and_missing_paths() {
    let mut t = rooted();
    t.insert("@releaseDomain", &node(0, b""), 2).unwrap();
    t.insert("@introduceDomain", &node(0, b""), 3).unwrap();
    assert!(t.contains("@releaseDomain"));
    assert!(!t.contains("@releaseDomain/5"));
    assert!(!t.contains("@other"));
    assert!(!t.contains("relative"));
    assert!(!t.contains(""));
    assert_eq!(names(&t, "/"), Vec::<String>::new());
    let paths: Vec<String> = t.iter().map(|(p, _)| p).collect();
    assert_eq!(paths, vec!["/", "@releaseDomain", "@introduceDomain"]);
    t.remove("@releaseDomain", 4).unwrap();
    assert!(t.contains("@introduceDomain"));
}

#[test]
fn children_share_their_parents_list_until_it_changes() {
    let mut t = rooted();
    t.insert("/p", &node(5, b""), 2).unwrap();
    for i in 0..10 {
        t.insert(&format!("/p/c{i}"), &node(5, b"0123456789abcdef"), 3).unwrap();
    }
    // Same list as the parent: the child's record holds no id.
    let bytes_before = t.record_bytes();
    assert_eq!(t.perms.len(), 2);
    t.set_perms("/p", &perms(&[7])).unwrap();
    assert_eq!(t.get("/p").unwrap().owner(), 7);
    for i in 0..10 {
        assert_eq!(t.get(&format!("/p/c{i}")).unwrap().owner(), 5);
    }
    assert!(t.record_bytes() > bytes_before);
    // A child given its parent's list again stores none.
    t.set_perms("/p/c0", &perms(&[7])).unwrap();
    t.set_perms("/p", &perms(&[9])).unwrap();
    assert_eq!(t.get("/p/c0").unwrap().owner(), 7);
    assert_eq!(t.get("/p/c1").unwrap().owner(), 5);
    for i in 0..10 {
        t.remove(&format!("/p/c{i}"), 4).unwrap();
    }
    t.remove("/p", 5).unwrap();
    assert_eq!(t.perms.len(), 1);
}

#[test]
fn records_move_when_they_grow_and_lookups_follow() {
    let mut t = rooted();
    for i in 0..50 {
        t.insert(&format!("/k{i}"), &node(0, b"x"), 2).unwrap();
    }
    let big = [b'v'; 3000];
    t.set_value("/k7", &big, 3).unwrap();
    t.insert("/k7/leaf", &node(0, b""), 4).unwrap();
    assert_eq!(t.get("/k7").unwrap().value, &big[..]);
    assert_eq!(names(&t, "/k7"), vec!["leaf"]);
    for i in 0..50 {
        assert!(t.contains(&format!("/k{i}")), "k{i}");
    }
    assert_eq!(names(&t, "/")[..3], ["k0", "k1", "k2"]);
    assert_eq!(t.set_value("/k7", &[0; VALUE_MAX + 1], 5), Err(TreeError::TooBig));
}

#[test]
fn freed_space_is_compacted_away() {
    let mut t = rooted();
    let value = [b'x'; 200];
    for i in 0..4_000 {
        t.insert(&format!("/n{i}"), &node(0, &value), 2).unwrap();
    }
    let full = t.arena.live_bytes() + t.arena.free_bytes();
    for i in 0..3_900 {
        t.remove(&format!("/n{i}"), 3).unwrap();
    }
    assert!(t.arena.live_bytes() + t.arena.free_bytes() < full / 4);
    for i in 3_900..4_000 {
        assert_eq!(t.get(&format!("/n{i}")).unwrap().value, &value[..]);
    }
    assert_eq!(names(&t, "/").len(), 100);
}

#[test]
fn emptied_children_lists_are_given_back() {
    let mut t = rooted();
    // 600 directories, then a 500-deep chain (one list per link).
    for i in 0..600 {
        t.insert(&format!("/k{i}"), &node(1, format!("v{i}").as_bytes()), 2).unwrap();
        t.insert(&format!("/k{i}/c"), &node(1, b"c"), 2).unwrap();
    }
    let mut chain = String::from("/chain");
    t.insert(&chain, &node(2, b""), 2).unwrap();
    for _ in 1..500 {
        chain.push_str("/a");
        t.insert(&chain, &node(2, b"x"), 2).unwrap();
    }
    let (full, chunks) = t.dirs.slots();
    assert!(full > 1_000, "{full}");
    // Nine directories in ten go, then the chain, deepest first.
    for i in (0..600).filter(|i| i % 10 != 0) {
        t.remove(&format!("/k{i}/c"), 3).unwrap();
        t.remove(&format!("/k{i}"), 3).unwrap();
    }
    let mut p = chain.clone();
    while p != "/" {
        t.remove(&p, 4).unwrap();
        p = String::from(path::parent(&p));
    }
    // `/` and the 60 directories left; the slab shrank to about them.
    let (slots, now) = t.dirs.slots();
    assert!(slots < 300 && now < chunks, "{slots} slots of {full}, {now} chunks of {chunks}");
    assert_eq!(t.len(), 1 + 2 * 60);
    for i in (0..600).step_by(10) {
        let k = format!("/k{i}");
        assert_eq!(t.get(&k).unwrap().value, format!("v{i}").as_bytes());
        assert_eq!(names(&t, &k), vec!["c"]);
        assert_eq!(t.get(&format!("{k}/c")).unwrap().value, b"c");
    }
    assert_eq!(names(&t, "/").len(), 60);
    // New lists are made and used after the renumbering.
    for i in (0..600).step_by(10) {
        t.insert(&format!("/k{i}/c/d"), &node(1, b"d"), 5).unwrap();
    }
    t.insert("/new/x", &node(0, b"y"), 5).unwrap_err();
    t.insert("/new", &node(0, b""), 5).unwrap();
    t.insert("/new/x", &node(0, b"y"), 5).unwrap();
    assert_eq!(names(&t, "/new"), vec!["x"]);
    assert_eq!(names(&t, "/k590/c"), vec!["d"]);
    let mut seen = 0;
    t.for_each_node(|_, _| seen += 1);
    assert_eq!(seen, t.len());
    assert_eq!(t.iter().count(), t.len());
}

#[test]
fn children_can_be_put_in_a_transactions_order() {
    let mut t = rooted();
    for n in ["a", "b", "c"] {
        t.insert(&format!("/{n}"), &node(0, b""), 2).unwrap();
    }
    t.reorder_children("/", b"a\0c\0b\0");
    assert_eq!(names(&t, "/"), vec!["a", "c", "b"]);
    // Unknown names are skipped, unlisted children keep their order last.
    t.reorder_children("/", b"b\0zz\0");
    assert_eq!(names(&t, "/"), vec!["b", "a", "c"]);
    assert!(t.contains("/c"));
    t.remove("/a", 3).unwrap();
    assert_eq!(names(&t, "/"), vec!["b", "c"]);
}

#[test]
fn directories_carry_a_generation_and_leaves_report_zero() {
    let mut t = rooted();
    t.insert("/d", &node(0, b""), 2).unwrap();
    assert_eq!(t.get("/d").unwrap().generation, 0);
    t.insert("/d/x", &node(0, b""), 3).unwrap();
    assert_eq!(t.get("/d").unwrap().generation, 3);
    t.set_value("/d", b"v", 4).unwrap();
    assert_eq!(t.get("/d").unwrap().generation, 4);
    t.touch("/d", 5);
    assert_eq!(t.get("/d").unwrap().generation, 5);
    t.remove("/d/x", 6).unwrap();
    assert_eq!(t.get("/d").unwrap().generation, 6);
}

#[test]
fn transaction_reads_see_every_later_change() {
    let mut t = rooted();
    t.insert("/a", &node(0, b""), 2).unwrap();
    assert_eq!(t.tx_read("/a", 10), 10);
    assert_eq!(t.tx_read("/new", 10), NO_GENERATION);
    t.set_value("/a", b"x", 11).unwrap();
    assert_eq!(t.tx_generation("/a"), Some(11));
    t.insert("/new", &node(0, b""), 12).unwrap();
    assert_eq!(t.tx_generation("/new"), Some(12));
    t.remove("/new", 13).unwrap();
    assert_eq!(t.tx_generation("/new"), Some(NO_GENERATION));
    t.tx_release("/a");
    assert_eq!(t.tx_generation("/a"), None);
    assert_eq!(t.tx_tracked(), 1);
    t.tx_forget_all();
    assert_eq!(t.tx_tracked(), 0);
}

/// A random mix of creations, value and permission changes, removals and
/// reorders (records grow, move and get compacted) agrees with a plain
/// map after every step, so the lookup caches never serve a stale node.
#[test]
fn random_changes_agree_with_a_map() {
    use alloc::collections::BTreeMap;
    let mut rng = 0x9e37_79b9_7f4a_7c15u64;
    let mut next = move |n: u64| {
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        rng % n
    };
    let segments = ["a", "b", "c", "dd"];
    let mut t = rooted();
    // path -> (value, owner, children in creation order)
    let mut model: BTreeMap<String, (Vec<u8>, u32, Vec<String>)> = BTreeMap::new();
    model.insert(String::from("/"), (Vec::new(), 0, Vec::new()));
    let mut last = String::new();
    for step in 0..20_000u64 {
        // Half the time a sibling of the last path, as requests go.
        let mut p = match next(2) {
            0 if last.len() > 1 => String::from(path::parent(&last)),
            _ => String::new(),
        };
        let depth = if p.len() > 1 { 1 } else { 1 + next(3) };
        if p == "/" {
            p.clear();
        }
        for _ in 0..depth {
            p.push('/');
            p.push_str(segments[next(segments.len() as u64) as usize]);
        }
        last.clone_from(&p);
        let parent = String::from(path::parent(&p));
        let len = [0, 3, 40, 300][next(4) as usize];
        let value = vec![b'0' + (step % 10) as u8; len];
        match next(5) {
            0 | 1 => {
                let owner = next(3) as u32;
                let r = t.insert(&p, &node(owner, &value), step);
                let parent_exists = model.contains_key(&parent);
                match model.get_mut(&p) {
                    Some(e) => {
                        assert!(r.is_ok(), "{step}: replace {p}");
                        e.0 = value;
                        e.1 = owner;
                    }
                    None if parent_exists => {
                        assert!(r.is_ok(), "{step}: create {p}");
                        model.insert(p.clone(), (value, owner, Vec::new()));
                        let name = String::from(path::basename(&p));
                        model.get_mut(&parent).unwrap().2.push(name);
                    }
                    None => assert_eq!(r.err(), Some(TreeError::NoParent), "{step}: {p}"),
                }
            }
            2 => {
                let r = t.set_value(&p, &value, step);
                match model.get_mut(&p) {
                    Some(e) => {
                        assert!(r.is_ok(), "{step}: set {p}");
                        e.0 = value;
                    }
                    None => assert!(r.is_err(), "{step}: set missing {p}"),
                }
            }
            3 => {
                let r = t.remove(&p, step);
                match model.get(&p) {
                    Some(e) if e.2.is_empty() => {
                        assert!(r.is_ok(), "{step}: remove {p}");
                        model.remove(&p);
                        let name = path::basename(&p);
                        model.get_mut(&parent).unwrap().2.retain(|c| c != name);
                    }
                    Some(_) => assert_eq!(r.err(), Some(TreeError::HasChildren), "{step}: {p}"),
                    None => assert!(r.is_err(), "{step}: remove missing {p}"),
                }
            }
            _ => {
                let Some(e) = model.get_mut(&parent) else { continue };
                e.2.reverse();
                let list: Vec<u8> = e.2.iter().flat_map(|c| c.bytes().chain([0])).collect();
                t.reorder_children(&parent, &list);
            }
        }
        if step % 1000 == 0 {
            check_owners(&t);
        }
        // Now and then look the touched paths up (which also fills the
        // caches differently), and check everything at the end.
        if next(4) != 0 {
            continue;
        }
        for q in [&p, &parent] {
            match model.get(q.as_str()) {
                Some((v, owner, kids)) => {
                    let n = t.get(q).unwrap_or_else(|| panic!("{step}: {q} lost"));
                    assert_eq!((n.value, n.owner()), (&v[..], *owner), "{step}: {q}");
                    assert_eq!(&names(&t, q), kids, "{step}: children of {q}");
                }
                None => assert!(!t.contains(q), "{step}: {q} still there"),
            }
        }
    }
    assert_eq!(t.len(), model.len());
    check_owners(&t);
    for (q, (v, owner, kids)) in &model {
        let n = t.get(q).unwrap();
        assert_eq!((n.value, n.owner()), (&v[..], *owner), "{q}");
        assert_eq!(&names(&t, q), kids, "children of {q}");
    }
}

#[test]
fn a_remembered_node_is_not_removed_by_a_stale_position() {
    let mut t = rooted();
    t.insert("/d", &node(0, b""), 2).unwrap();
    t.insert("/d/b", &node(0, b"b"), 3).unwrap();
    t.insert("/d/c", &node(0, b"c"), 4).unwrap();
    // `/d/c` is remembered with its place in `/d`; `/d/a` sorts first.
    t.set_value("/d/c", b"c2", 5).unwrap();
    t.insert("/d/a", &node(0, b"a"), 6).unwrap();
    t.remove("/d/c", 7).unwrap();
    assert!(!t.contains("/d/c"));
    assert_eq!(t.get("/d/a").unwrap().value, b"a");
    assert_eq!(t.get("/d/b").unwrap().value, b"b");
    assert_eq!(names(&t, "/d"), vec!["b", "a"]);
}

#[test]
fn for_each_node_sees_what_iter_lists() {
    let mut t = Tree::new(1);
    let n = Node::with_perms(&perms(&[0]));
    for p in ["/", "/a", "/a/b", "/a/b/c", "/d", "/a/e"] {
        t.insert(p, &n, 1).unwrap();
    }
    let listed: Vec<(usize, usize)> = t.iter().map(|(p, n)| (p.len(), n.size())).collect();
    let mut walked = Vec::new();
    t.for_each_node(|len, n| walked.push((len, n.size())));
    assert_eq!(walked, listed);
}

/// The owners index holds, for each domain, exactly the directories with
/// children it owns while the directory's owner is another, and how many.
fn check_owners(t: &Tree) {
    use alloc::collections::BTreeMap;
    let owner: BTreeMap<String, u32> = t.iter().map(|(p, n)| (p, n.owner())).collect();
    let mut want: BTreeMap<(u32, String), u32> = BTreeMap::new();
    for (p, &o) in &owner {
        if p == "/" || p.starts_with('@') && !p.contains('/') {
            continue;
        }
        let parent = String::from(path::parent(p));
        if owner[&parent] != o {
            *want.entry((o, parent)).or_default() += 1;
        }
    }
    for ((o, dir), n) in &want {
        let dom = DomId(u16::try_from(*o).unwrap());
        assert_eq!(t.owners.count(dom, dir), *n, "dom{o} under {dir}");
    }
    assert_eq!(t.owners.len(), want.len());
}

#[test]
fn a_domains_top_nodes_are_found_in_walk_order() {
    let mut t = rooted();
    for (p, owner) in [
        ("/vm", 0),
        ("/vm/5", 5),
        ("/local", 0),
        ("/local/domain", 0),
        ("/local/domain/5", 0),
        ("/local/domain/5/data", 5),
        ("/local/domain/5/data/x", 5),
        ("/local/domain/5/data/x/y", 6),
        ("/local/domain/5/data/x/y/z", 5),
        ("/local/domain/5/device", 0),
        ("/local/domain/5/control", 5),
        ("/local/domain/6", 6),
    ] {
        t.insert(p, &node(owner, b""), 2).unwrap();
    }
    let tops = t.owned_tops(DomId(5));
    assert_eq!(
        tops,
        ["/vm/5", "/local/domain/5/data", "/local/domain/5/data/x/y/z", "/local/domain/5/control"]
    );
    check_owners(&t);
    // Re-owning a directory moves its children's entries.
    t.set_perms("/local/domain/5", &perms(&[5])).unwrap();
    check_owners(&t);
    assert_eq!(t.owned_tops(DomId(5)), ["/vm/5", "/local/domain/5", "/local/domain/5/data/x/y/z"]);
    assert_eq!(t.owned_tops(DomId(0)), ["/local/domain/5/device"]);
    t.remove("/local/domain/5/data/x/y/z", 3).unwrap();
    check_owners(&t);
    assert_eq!(t.owned_tops(DomId(6)), ["/local/domain/5/data/x/y", "/local/domain/6"]);
}

/// Creating a chain node by node, as a deep `XS_WRITE` or `XS_MKDIR`
/// does (each node under the one just created, its ancestors looked up
/// between), searches a bounded number of children lists per node: each
/// lookup starts at the directory the last creation made, not at the
/// root. Walking from the root made a 1000-deep chain cost about
/// 500 000 searches (the square of its depth over two).
#[test]
fn creating_a_chain_costs_its_depth_not_its_square() {
    const DEPTH: usize = 1_000;
    let mut t = rooted();
    t.insert("/top", &node(0, b""), 2).unwrap();
    let mut p = String::from("/top");
    t.steps.set(0);
    for _ in 0..DEPTH {
        // What `create_node` asks of the tree around each node it puts.
        assert!(t.contains(&p));
        assert_eq!(t.child_growth(&p), 0);
        p.push_str("/a");
        assert!(t.get(&p).is_none());
        t.insert(&p, &node(0, b""), 3).unwrap();
    }
    let steps = t.steps.get();
    assert!(steps <= 4 * DEPTH, "{steps} lookup steps for a {DEPTH}-deep chain");
    // The chain is all there, and reading a missing path below it (or
    // below a missing node) stays a walk of the depth.
    assert_eq!(t.iter().filter(|(q, _)| q.starts_with("/top/")).count(), DEPTH);
    t.steps.set(0);
    assert!(t.get(&format!("{p}/x/y")).is_none());
    assert!(t.get(&format!("/top/b{}", &p["/top".len()..])).is_none());
    let steps = t.steps.get();
    assert!(steps <= 2 * DEPTH + 4, "{steps} lookup steps for two missing reads");
}

/// A tree with `/top/a/a/…` `depth` nodes below `/top`, then `/other/x`
/// created last, so that the lookup cache remembers another directory;
/// and the chain's deepest path.
fn chain_then_elsewhere(depth: usize) -> (Tree, String) {
    let mut t = rooted();
    let mut p = String::from("/top");
    t.insert(&p, &node(0, b""), 2).unwrap();
    for _ in 0..depth {
        p.push_str("/a");
        t.insert(&p, &node(0, b""), 3).unwrap();
    }
    t.insert("/other", &node(0, b""), 4).unwrap();
    t.insert("/other/x", &node(0, b""), 4).unwrap();
    (t, p)
}

/// Reading a missing path below a deep chain checks its nearest existing
/// ancestor, looking up each missing ancestor on the way up (what
/// `nearest_ancestor` does): each lookup starts at the deepest directory
/// the first one reached, not at the root, so a missing tail `k` deep
/// under a chain `d` deep costs about `d + k` searches, not `d × k`.
#[test]
fn missing_ancestors_under_a_deep_chain_cost_their_number() {
    const DEPTH: usize = 500;
    let (t, p) = chain_then_elsewhere(DEPTH);
    assert!(t.get("/other/x/y").is_none());
    let mut missing = p.clone();
    for _ in 0..DEPTH {
        missing.push_str("/m");
    }
    t.steps.set(0);
    let mut cur = missing.as_str();
    while !t.contains(cur) {
        cur = path::parent(cur);
    }
    assert_eq!(cur, p);
    let steps = t.steps.get();
    assert!(steps <= 3 * DEPTH + 8, "{steps} lookup steps for {DEPTH} missing ancestors");
}

/// Removing a chain bottom up, as `XS_RM` does (`Engine::drain_subtree`:
/// down to the first leaf, remove it, check it is gone, go up to its
/// parent, read it), searches a bounded number of children lists per
/// node: each node's parent is found from the directories the last walk
/// went through, and the node by name in its parent's list. Resolving
/// each node from the root made a 1000-deep chain cost about 500 000
/// searches (the square of its depth over two).
#[test]
fn removing_a_chain_costs_its_depth_not_its_square() {
    const DEPTH: usize = 1_000;
    let (mut t, _) = chain_then_elsewhere(DEPTH);
    let before = t.len();
    t.steps.set(0);
    let mut cur = String::from("/top");
    loop {
        while let Some(name) = t.get(&cur).and_then(|n| n.child_names().next().map(String::from)) {
            cur.push('/');
            cur.push_str(&name);
        }
        t.remove(&cur, 5).unwrap();
        assert!(!t.contains(&cur));
        if cur == "/top" {
            break;
        }
        cur.truncate(path::parent(&cur).len());
    }
    let steps = t.steps.get();
    assert!(steps <= 8 * DEPTH, "{steps} lookup steps to remove a {DEPTH}-deep chain");
    assert_eq!(t.len(), before - DEPTH - 1);
    assert!(t.contains("/other/x"));
    assert_eq!(t.iter().filter(|(q, _)| q.starts_with("/top")).count(), 0);
}

/// `existing_prefix` is the length of the deepest existing node on a
/// path, whatever the lookup cache holds.
#[test]
fn existing_prefix_is_the_deepest_existing_node() {
    let mut t = rooted();
    for p in ["/a", "/a/b", "/a/b/c", "/ab", "@w", "@w/x"] {
        t.insert(p, &node(0, b""), 2).unwrap();
    }
    // Lookups elsewhere first, so that the cache starts some walks.
    for warm in ["/nothing", "/a/b/c", "/ab", "@w/x"] {
        t.get(warm);
        for (p, n) in [
            ("/", 1),
            ("/x", 1),
            ("/x/y", 1),
            ("/a", 2),
            ("/a/x/y", 2),
            ("/a/b/c", 6),
            ("/a/b/c/d/e", 6),
            ("/a/bc/d", 2),
            ("/ab/c", 3),
            ("@w/x/y", 4),
            ("@w/y", 2),
            ("@v/y", 0),
        ] {
            assert_eq!(t.existing_prefix(p), n, "{p} after {warm}");
        }
    }
}
