use super::*;

fn id(ms: u64, seq: u64) -> StreamId {
    StreamId::new(ms, seq)
}

fn ids(s: &Stream) -> Vec<StreamId> {
    s.range(StreamId::MIN, StreamId::MAX, false)
        .map(|e| e.id)
        .collect()
}

fn small() -> NodeLimits {
    NodeLimits {
        max_bytes: 4096,
        max_entries: 3,
    }
}

fn filled(n: u64, limits: NodeLimits) -> Stream {
    let mut s = Stream::new();
    for i in 1..=n {
        s.add(id(i, 0), &[(b"f", b"v")], limits);
    }
    s
}

#[test]
fn ids_parse_and_order() {
    assert_eq!(StreamId::parse(b"5-3", 0), Some((id(5, 3), true)));
    assert_eq!(StreamId::parse(b"5", 9), Some((id(5, 9), false)));
    assert_eq!(StreamId::parse(b"007-+1", 0), Some((id(7, 1), true)));
    assert_eq!(StreamId::parse(b"-1", 0), None);
    assert_eq!(StreamId::parse(b"1-2-3", 0), None);
    assert_eq!(StreamId::parse(b"18446744073709551616", 0), None);
    assert_eq!(
        StreamId::parse(b"18446744073709551615-18446744073709551615", 0),
        Some((StreamId::MAX, true))
    );
    assert_eq!(StreamId::parse(b"", 0), None);
    assert_eq!(StreamId::parse(b"1-", 0), None);
    assert!(id(1, 5) < id(2, 0));
    assert_eq!(id(1, u64::MAX).next(), Some(id(2, 0)));
    assert_eq!(StreamId::MAX.next(), None);
    assert_eq!(id(2, 0).prev(), Some(id(1, u64::MAX)));
    assert_eq!(StreamId::MIN.prev(), None);
    assert_eq!(id(3, 4).to_string(), "3-4");
    assert_eq!(
        StreamId::from_be_bytes(&id(3, 4).to_be_bytes()),
        Some(id(3, 4))
    );
}

#[test]
fn auto_ids_follow_the_clock_and_the_last_id() {
    let mut s = Stream::new();
    assert_eq!(s.next_auto_id(100), Some(id(100, 0)));
    s.add(id(100, 0), &[(b"a", b"1")], NodeLimits::default());
    assert_eq!(s.next_auto_id(100), Some(id(100, 1)));
    assert_eq!(s.next_auto_id(50), Some(id(100, 1)));
    assert_eq!(s.next_id_at(100), Some(id(100, 1)));
    assert_eq!(s.next_id_at(99), None);
    assert_eq!(s.next_id_at(101), Some(id(101, 0)));
}

#[test]
fn nodes_split_at_the_entry_limit_and_ranges_cross_them() {
    let s = filled(10, small());
    assert_eq!(s.len(), 10);
    assert_eq!(s.node_count(), 4);
    assert_eq!(ids(&s).len(), 10);
    let mid: Vec<_> = s.range(id(3, 0), id(8, 0), false).map(|e| e.id).collect();
    assert_eq!(mid, (3..=8).map(|i| id(i, 0)).collect::<Vec<_>>());
    let rev: Vec<_> = s.range(id(3, 0), id(8, 0), true).map(|e| e.id).collect();
    assert_eq!(rev, (3..=8).rev().map(|i| id(i, 0)).collect::<Vec<_>>());
    assert_eq!(s.range(id(8, 0), id(3, 0), false).count(), 0);
    let e = s.get(id(4, 0)).expect("entry");
    assert_eq!(e.fields, vec![(StrRef::Bytes(b"f"), StrRef::Bytes(b"v"))]);
    assert_eq!(s.edge(true).map(|e| e.id), Some(id(10, 0)));
}

#[test]
fn nodes_split_at_the_byte_limit() {
    let limits = NodeLimits {
        max_bytes: 100,
        max_entries: 0,
    };
    let mut s = Stream::new();
    for i in 1..=10 {
        s.add(id(i, 0), &[(b"field", &[b'x'; 30])], limits);
    }
    assert!(s.node_count() >= 4, "{}", s.node_count());
    assert_eq!(ids(&s).len(), 10);
}

#[test]
fn delete_keeps_first_and_max_deleted() {
    let mut s = filled(6, small());
    assert!(s.delete(id(1, 0)));
    assert!(!s.delete(id(1, 0)));
    assert_eq!(s.first_id(), id(2, 0));
    assert_eq!(s.max_deleted_id(), id(1, 0));
    assert!(s.delete(id(5, 0)));
    assert_eq!(s.max_deleted_id(), id(5, 0));
    assert!(s.delete(id(2, 0)));
    assert!(s.delete(id(3, 0)));
    // The first node is gone once all its entries are.
    assert_eq!(s.node_count(), 1);
    assert_eq!(ids(&s), vec![id(4, 0), id(6, 0)]);
    assert_eq!(s.len(), 2);
    assert_eq!(s.entries_added(), 6);
    assert!(s.delete(id(4, 0)) && s.delete(id(6, 0)));
    assert_eq!(s.first_id(), StreamId::MIN);
    assert_eq!(s.node_count(), 0);
}

#[test]
fn approximate_trims_drop_whole_nodes_only() {
    let mut s = filled(10, small());
    assert_eq!(s.trim(Trim::MaxLen(5), true, 0), 3);
    assert_eq!(s.len(), 7);
    assert_eq!(s.trim(Trim::MaxLen(5), false, 0), 2);
    assert_eq!(ids(&s), (6..=10).map(|i| id(i, 0)).collect::<Vec<_>>());
    assert_eq!(s.first_id(), id(6, 0));
    let mut s = filled(10, small());
    assert_eq!(s.trim(Trim::MinId(id(5, 0)), true, 0), 3);
    assert_eq!(s.trim(Trim::MinId(id(5, 0)), false, 0), 1);
    assert_eq!(ids(&s).first(), Some(&id(5, 0)));
    // A limit stops before a node that would pass it.
    let mut s = filled(10, small());
    assert_eq!(s.trim(Trim::MaxLen(0), true, 5), 3);
    assert_eq!(s.trim(Trim::MaxLen(0), false, 0), 7);
    assert!(s.is_empty());
}

#[test]
fn groups_track_pending_entries() {
    let mut s = filled(3, small());
    assert!(s.create_group(b"g", StreamId::MIN, 0));
    assert!(!s.create_group(b"g", StreamId::MIN, 0));
    let g = s.group_mut(b"g").expect("group");
    assert!(g.create_consumer(b"alice", 10));
    assert!(g.create_consumer(b"bob", 10));
    g.deliver(id(1, 0), b"alice", 20);
    g.deliver(id(2, 0), b"alice", 20);
    assert_eq!(g.pending_count(), 2);
    g.claim(id(1, 0), b"bob", 30, 5);
    assert_eq!(
        g.pending(id(1, 0)).map(Pending::consumer),
        Some(&b"bob"[..])
    );
    assert_eq!(g.consumer(b"alice").map(Consumer::pending_count), Some(1));
    assert!(g.ack(id(2, 0)));
    assert!(!g.ack(id(2, 0)));
    assert_eq!(g.delete_consumer(b"bob"), Some(1));
    assert_eq!(g.pending_count(), 0);
    assert!(s.destroy_group(b"g"));
}

#[test]
fn lag_and_entries_read_follow_redis() {
    let mut s = filled(5, small());
    let v = s.view();
    assert_eq!(v.entries_before(id(5, 0)), 5);
    assert_eq!(v.entries_before(id(1, 0)), 1);
    assert_eq!(v.entries_before(id(0, 5)), 0);
    assert_eq!(v.entries_before(id(3, 0)), ENTRIES_READ_UNKNOWN);
    assert_eq!(v.entries_before(id(9, 0)), ENTRIES_READ_UNKNOWN);
    s.delete(id(3, 0));
    let v = s.view();
    assert!(v.has_tombstones(id(1, 0), None));
    assert!(!v.has_tombstones(id(4, 0), None));
    let g = Group::new(id(1, 0), 1);
    assert_eq!(v.lag(&g), None);
    let g = Group::new(id(4, 0), 4);
    assert_eq!(v.lag(&g), Some(1));
}

#[test]
fn dump_and_restore_keep_everything() {
    let mut s = filled(7, small());
    s.add(
        id(9, 0),
        &[(b"other", b"x"), (b"f", b"12345678901")],
        small(),
    );
    s.delete(id(2, 0));
    assert!(s.create_group(b"g1", id(3, 0), 3));
    assert!(s.create_group(b"12", StreamId::MIN, ENTRIES_READ_UNKNOWN));
    let g = s.group_mut(b"g1").expect("group");
    g.create_consumer(b"alice", 100);
    g.create_consumer(b"bob", 200);
    g.deliver(id(4, 0), b"alice", 300);
    g.deliver(id(5, 0), b"bob", 400);
    g.claim(id(5, 0), b"bob", 500, 7);
    let payload = crate::rdb::dump(&crate::Value::Stream(Box::new(s.clone())));
    // Version 10, type 19.
    assert_eq!(payload[0], crate::rdb::types::STREAM_LISTPACKS_2);
    assert_eq!(&payload[payload.len() - 10..payload.len() - 8], &[10, 0]);
    let Ok(crate::Value::Stream(back)) = crate::rdb::restore(&payload) else {
        panic!("restore")
    };
    assert_eq!(ids(&back), ids(&s));
    assert_eq!(
        (
            back.len(),
            back.last_id(),
            back.first_id(),
            back.max_deleted_id()
        ),
        (s.len(), s.last_id(), s.first_id(), s.max_deleted_id())
    );
    assert_eq!(back.entries_added(), 8);
    let e = back.get(id(9, 0)).expect("entry");
    assert_eq!(e.fields[1], (StrRef::Bytes(b"f"), StrRef::Int(12345678901)));
    let g = back.group(b"g1").expect("group");
    assert_eq!((g.last_id, g.entries_read), (id(3, 0), 3));
    let p = g.pending(id(5, 0)).expect("pending");
    assert_eq!(
        (p.consumer(), p.delivery_time, p.delivery_count),
        (&b"bob"[..], 500, 7)
    );
    assert_eq!(g.consumer(b"alice").map(|c| c.seen_time), Some(100));
    assert_eq!(
        back.group(b"12").map(|g| g.entries_read),
        Some(ENTRIES_READ_UNKNOWN)
    );

    // Every truncation fails cleanly.
    let body = crate::rdb::unseal(&payload).expect("body").to_vec();
    for cut in 1..body.len() {
        assert!(
            crate::rdb::decode::value(&body[..cut]).is_err(),
            "cut {cut}"
        );
    }
}

#[test]
fn older_and_newer_layouts_read_back() {
    let mut s = filled(5, small());
    s.delete(id(2, 0));
    assert!(s.create_group(b"g", id(3, 0), 2));
    let g = s.group_mut(b"g").expect("group");
    g.create_consumer(b"c", 100);
    g.deliver(id(3, 0), b"c", 150);
    if let Some(c) = g.consumer_mut(b"c") {
        c.active_time = 120;
    }
    let read = |ty: u8| {
        let mut body = vec![ty];
        crate::rdb::encode::stream(&s, ty, &mut body);
        match crate::rdb::decode::value(&body) {
            Ok(crate::Value::Stream(st)) => st,
            other => panic!("type {ty}: {:?}", other.map(|v| v.type_name())),
        }
    };
    // Redis 7.2's type 21 keeps the consumers' active time.
    let v3 = read(crate::rdb::types::STREAM_LISTPACKS_3);
    let c = v3
        .group(b"g")
        .and_then(|g| g.consumer(b"c"))
        .cloned()
        .expect("consumer");
    assert_eq!((c.seen_time, c.active_time), (100, 120));
    assert_eq!(v3.max_deleted_id(), id(2, 0));
    // Redis 6.2's type 15 has none of 7.0's counters: they are worked out
    // as Redis 7.0 does (the first entry, the length as entries added, a
    // group's entries read estimated, here unknown past a deletion).
    let v1 = read(crate::rdb::types::STREAM_LISTPACKS);
    assert_eq!(ids(&v1), ids(&s));
    assert_eq!(
        (v1.first_id(), v1.entries_added(), v1.max_deleted_id()),
        (id(1, 0), 4, StreamId::MIN)
    );
    let g = v1.group(b"g").expect("group");
    assert_eq!(g.pending(id(3, 0)).map(|p| p.delivery_time), Some(150));
    assert_eq!(g.entries_read, ENTRIES_READ_UNKNOWN);
}
