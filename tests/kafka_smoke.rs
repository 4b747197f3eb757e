//! Smoke tests against real Kafka-compatible brokers: librdkafka's mock cluster and tansu
//! (see `support::kafka`). Each scenario runs on both, as `<scenario>::mock` and
//! `<scenario>::tansu`; the tansu variant is skipped when tansu is not installed (a failure with
//! `SPANFLOW_REQUIRE_TANSU=1`).
//!
//! Broker behaviour these tests pin down (tansu 0.6.0, librdkafka 2.12 mock cluster):
//! - Commit metadata: the mock cluster returns it intact. tansu 0.6.0 stores it but its
//!   OffsetFetch answers an empty string (`tansu-broker` `coordinator/group/administrator.rs`
//!   hardcodes `.metadata(Some(""))`, and `None` for v8+), so a watermark kept in the commit
//!   metadata is lost on tansu: [`MetadataSupport`].
//! - Topic configs: the mock cluster has no CreateTopics handler (the Admin request times out),
//!   so `cleanup.policy=compact` cannot be set there; topics come from the mock API. tansu accepts
//!   and describes `cleanup.policy=compact`, but its memory storage (dynostore) never compacts:
//!   only its SQL engines (postgres, sqlite) implement the policy.
//! - Group timing (2 cores, debug build): the mock cluster delays a group's first join by 3 s
//!   (librdkafka's `group_initial_rebalance_delay_ms`, not settable from Rust); a second member
//!   gets its share after ~5 s (eager) or ~10 s (cooperative-sticky). tansu joins in
//!   milliseconds and rebalances to two members in ~3 s with either protocol.

use crate::support::kafka::{
    consume_all, create_topic_with, describe_topic, group_consumer, group_consumer_with,
    heartbeat_messages, poll_messages, produce_framed, unique, Broker, Consumed, Keyed, MockKafka,
    Tansu, HEARTBEAT_SCHEMA_ID,
};
use rdkafka::consumer::{CommitMode, Consumer};
use rdkafka::{Offset, TopicPartitionList};
use spanflow::decode::split_confluent;
use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

/// Runs a scenario `fn(&dyn Broker)` as two tests, `mock` and `tansu`.
macro_rules! on_both_brokers {
    ($scenario:ident) => {
        mod $scenario {
            #[test]
            fn mock() {
                super::$scenario(&crate::support::kafka::MockKafka::start(1));
            }

            #[test]
            fn tansu() {
                if let Some(tansu) = crate::support::kafka::Tansu::start() {
                    super::$scenario(&tansu);
                }
            }
        }
    };
}

on_both_brokers!(keyed_heartbeats_keep_session_order);
on_both_brokers!(two_consumers_split_partitions);
on_both_brokers!(two_consumers_split_partitions_cooperative);

/// Groups messages by key, each key's values in the order given.
fn by_key<'a>(
    messages: impl IntoIterator<Item = (&'a [u8], &'a [u8])>,
) -> BTreeMap<&'a [u8], Vec<&'a [u8]>> {
    let mut out: BTreeMap<&[u8], Vec<&[u8]>> = BTreeMap::new();
    for (key, value) in messages {
        out.entry(key).or_default().push(value);
    }
    out
}

/// Framed heartbeats keyed by session go to a 4-partition topic; one group consumer reads all
/// of them back; each session's messages sit in one partition, in production order.
fn keyed_heartbeats_keep_session_order(broker: &dyn Broker) {
    let name = broker.name();
    let topic = unique("heartbeats");
    broker.create_topic(&topic, 4);
    let messages: Vec<Keyed> = heartbeat_messages(12, 10, 7);
    let delivered = produce_framed(broker.bootstrap(), &topic, &messages);
    let used: BTreeSet<i32> = delivered.iter().map(|(p, _)| *p).collect();
    assert!(
        used.len() > 1,
        "{name}: all sessions in partitions {used:?}"
    );

    let consumer = group_consumer(broker.bootstrap(), &unique("order"));
    consumer.subscribe(&[&topic]).expect("subscribe");
    let start = Instant::now();
    let got = poll_messages(&consumer, messages.len(), Duration::from_secs(20));
    eprintln!(
        "{name}: join + read of {} messages took {:?}",
        got.len(),
        start.elapsed()
    );
    assert_eq!(got.len(), messages.len(), "{name}: messages read back");

    // Every message came back once, where its delivery report said.
    let mut read: Vec<(i32, i64)> = got.iter().map(|c| (c.partition, c.offset)).collect();
    let mut expected = delivered.clone();
    read.sort_unstable();
    expected.sort_unstable();
    assert_eq!(
        read, expected,
        "{name}: (partition, offset) read vs delivered"
    );

    for c in &got {
        let (schema_id, datum) = split_confluent(&c.payload).expect("framed message");
        assert_eq!(schema_id, HEARTBEAT_SCHEMA_ID);
        assert!(!datum.is_empty());
    }

    // Per session: one partition, and the produced order.
    let mut partitions: BTreeMap<&[u8], BTreeSet<i32>> = BTreeMap::new();
    for c in &got {
        partitions.entry(&c.key).or_default().insert(c.partition);
    }
    assert_eq!(partitions.len(), 12, "{name}: sessions");
    for (key, parts) in &partitions {
        assert_eq!(
            parts.len(),
            1,
            "{name}: session {key:?} in partitions {parts:?}"
        );
    }
    let produced = by_key(messages.iter().map(|(k, v)| (&k[..], &v[..])));
    let consumed = by_key(got.iter().map(|c| (&c.key[..], &c.payload[..])));
    assert_eq!(consumed, produced, "{name}: per-session order");
}

/// Whether a broker returns the metadata string of a committed offset.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum MetadataSupport {
    /// Read back intact.
    Preserved,
    /// Read back as an empty string (the offset itself is kept).
    Dropped,
}

#[test]
fn commit_metadata_round_trip_mock() {
    commit_metadata_round_trip(&MockKafka::start(1), MetadataSupport::Preserved);
}

/// tansu 0.6.0 keeps committed offsets but answers OffsetFetch with empty metadata: the
/// watermark in the commit metadata does not survive there. Pinned, so an upgrade that fixes it
/// shows up here.
#[test]
fn commit_metadata_round_trip_tansu() {
    if let Some(tansu) = Tansu::start() {
        commit_metadata_round_trip(&tansu, MetadataSupport::Dropped);
    }
}

/// Offsets committed with metadata by a group member are read back by a new consumer of the same
/// group through `committed_offsets`: the offsets always, the metadata as `support` says.
fn commit_metadata_round_trip(broker: &dyn Broker, support: MetadataSupport) {
    let name = broker.name();
    let topic = unique("commits");
    let group = unique("commits");
    broker.create_topic(&topic, 2);
    let messages = heartbeat_messages(4, 3, 1);
    produce_framed(broker.bootstrap(), &topic, &messages);

    let first = group_consumer(broker.bootstrap(), &group);
    first.subscribe(&[&topic]).expect("subscribe");
    let got = poll_messages(&first, messages.len(), Duration::from_secs(20));
    assert_eq!(got.len(), messages.len(), "{name}: messages read");
    let mut next: BTreeMap<i32, i64> = (0..2).map(|p| (p, 0)).collect();
    for Consumed {
        partition, offset, ..
    } in &got
    {
        next.insert(*partition, offset + 1);
    }

    let watermark = |p: i32| {
        format!(
            "{{\"v\":1,\"watermark_ms\":{},\"p\":{p}}}",
            1_767_225_600_000i64 + i64::from(p)
        )
    };
    let mut commit = TopicPartitionList::new();
    for (&p, &offset) in &next {
        commit.add_partition(&topic, p);
        commit
            .set_partition_offset(&topic, p, Offset::Offset(offset))
            .expect("set offset");
        commit
            .find_partition(&topic, p)
            .expect("partition in list")
            .set_metadata(watermark(p));
    }
    first
        .commit(&commit, CommitMode::Sync)
        .unwrap_or_else(|e| panic!("{name}: commit: {e}"));
    drop(first);

    let second = group_consumer(broker.bootstrap(), &group);
    let mut query = TopicPartitionList::new();
    for p in 0..2 {
        query.add_partition(&topic, p);
    }
    let committed = second
        .committed_offsets(query, Duration::from_secs(10))
        .unwrap_or_else(|e| panic!("{name}: committed_offsets: {e}"));
    for (&p, &offset) in &next {
        let elem = committed
            .find_partition(&topic, p)
            .expect("partition in answer");
        elem.error()
            .unwrap_or_else(|e| panic!("{name}: partition {p}: {e}"));
        assert_eq!(
            elem.offset(),
            Offset::Offset(offset),
            "{name}: partition {p} offset"
        );
        match support {
            MetadataSupport::Preserved => {
                assert_eq!(
                    elem.metadata(),
                    watermark(p),
                    "{name}: partition {p} metadata"
                );
            }
            MetadataSupport::Dropped => {
                assert_eq!(elem.metadata(), "", "{name}: partition {p} metadata");
                eprintln!(
                    "{name}: commit metadata NOT preserved (committed {:?}, read back {:?})",
                    watermark(p),
                    elem.metadata()
                );
            }
        }
    }
}

/// Two consumers of one group share a 4-partition topic: each ends up with a non-empty
/// assignment, disjoint from the other's, together covering every partition.
fn two_consumers_split_partitions(broker: &dyn Broker) {
    split_partitions(broker, &[]);
}

/// [`two_consumers_split_partitions`] with the incremental (cooperative-sticky) protocol that
/// the design prefers.
fn two_consumers_split_partitions_cooperative(broker: &dyn Broker) {
    split_partitions(
        broker,
        &[("partition.assignment.strategy", "cooperative-sticky")],
    );
}

/// Two consumers configured with `extra` split a 4-partition topic; prints join and rebalance
/// times.
fn split_partitions(broker: &dyn Broker, extra: &[(&str, &str)]) {
    let name = broker.name();
    let topic = unique("split");
    let group = unique("split");
    broker.create_topic(&topic, 4);
    let all: BTreeSet<i32> = (0..4).collect();
    let assigned = |c: &rdkafka::consumer::BaseConsumer| -> BTreeSet<i32> {
        c.assignment()
            .expect("assignment")
            .elements()
            .iter()
            .map(|e| e.partition())
            .collect()
    };

    let start = Instant::now();
    let first = group_consumer_with(broker.bootstrap(), &group, extra);
    first.subscribe(&[&topic]).expect("subscribe");
    let deadline = start + Duration::from_secs(25);
    while assigned(&first) != all {
        assert!(
            Instant::now() < deadline,
            "{name}: first consumer never got all partitions"
        );
        assert!(
            first.poll(Duration::from_millis(100)).is_none(),
            "{name}: unexpected message"
        );
    }
    let joined = start.elapsed();

    let second = group_consumer_with(broker.bootstrap(), &group, extra);
    second.subscribe(&[&topic]).expect("subscribe");
    let (a, b) = loop {
        for c in [&first, &second] {
            assert!(
                c.poll(Duration::from_millis(50)).is_none(),
                "{name}: unexpected message"
            );
        }
        let (a, b) = (assigned(&first), assigned(&second));
        if !a.is_empty() && !b.is_empty() && a.is_disjoint(&b) && &a | &b == all {
            break (a, b);
        }
        assert!(
            Instant::now() < deadline,
            "{name}: no split after {:?}: first {a:?}, second {b:?}",
            start.elapsed()
        );
    };
    eprintln!(
        "{name} {extra:?}: first join {joined:?}, rebalance to two members {:?} ({a:?} / {b:?})",
        start.elapsed() - joined
    );
}

/// A topic created with `cleanup.policy=compact` through the Admin API on tansu: the creation
/// succeeds, keyed messages go in and come back.
#[test]
fn compacted_topic_tansu() {
    let Some(tansu) = Tansu::start() else {
        return;
    };
    let topic = unique("compacted");
    let compact = [("cleanup.policy", "compact")];
    create_topic_with(
        tansu.bootstrap(),
        &topic,
        1,
        &compact,
        Duration::from_secs(10),
    )
    .expect("create compacted topic");
    let described = describe_topic(tansu.bootstrap(), &topic).expect("describe topic");
    let policy = described
        .get("cleanup.policy")
        .and_then(|e| e.value.as_deref());
    assert_eq!(policy, Some("compact"), "cleanup.policy as described");
    let messages = heartbeat_messages(2, 3, 3);
    produce_framed(tansu.bootstrap(), &topic, &messages);
    let got = consume_all(
        tansu.bootstrap(),
        &topic,
        messages.len(),
        Duration::from_secs(15),
    );
    let got: Vec<Keyed> = got.into_iter().map(|c| (c.key, c.payload)).collect();
    assert_eq!(got, messages);
}

/// The mock cluster has no CreateTopics handler: creating a compacted topic through the Admin
/// API fails there (the request times out).
#[test]
fn compacted_topic_mock_is_rejected() {
    let mock = MockKafka::start(1);
    let compact = [("cleanup.policy", "compact")];
    let result = create_topic_with(
        mock.bootstrap(),
        "compacted",
        1,
        &compact,
        Duration::from_secs(3),
    );
    eprintln!("mock: CreateTopics with cleanup.policy=compact: {result:?}");
    assert!(
        result.is_err(),
        "the mock cluster created a topic through the Admin API"
    );
}
