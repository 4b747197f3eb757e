//! The delivery rules checked by simulation: a pipeline crashes at a random point with random
//! acknowledgements in flight, restarts from its last commit, and must leave the sink exactly as
//! a run that never crashed.

use super::*;
use crate::pipeline::{Emit, SessionProcessor, SessionRef};
use proptest::prelude::*;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use spanflow_engine::{FieldValue, Record};
use spanflow_operators::evaluate_at::Row;
use spanflow_operators::Program;
use std::collections::BTreeMap;
use std::sync::OnceLock;

fn program() -> &'static Program {
    static P: OnceLock<Program> = OnceLock::new();
    P.get_or_init(|| {
        let yaml = r#"
name: t
input:
  session_key: k
  time: t
  lateness_secs: 2
  session_gap_secs: 30
nodes:
  - { id: events, op: event_source }
  - { id: x, op: get, inputs: [events], with: { field: x, type: f64 } }
  - { id: n, op: count, inputs: [x] }
  - { id: total, op: cumulative_sum, inputs: [x] }
outputs:
  - { name: per_event, evaluate_at: every_event, columns: [n, total] }
  - { name: at_end, evaluate_at: session_end, columns: [n, total] }
"#;
        Program::parse(yaml, None).unwrap_or_else(|e| panic!("{e:?}"))
    })
}

/// One message of the partition: its key and its record (the value is its offset, so a
/// session replayed in part would give different sums).
fn messages(spec: &[(u8, u8, u8)]) -> Vec<(String, Record)> {
    let mut clock = 0i64;
    spec.iter()
        .enumerate()
        .map(|(offset, &(key, step, jitter))| {
            clock += i64::from(step) * 1000;
            let record = Record {
                time: clock - i64::from(jitter) * 1000,
                sequence: None,
                fields: smallvec::smallvec![FieldValue::F64(offset as f64)],
            };
            (format!("key-{key}"), record)
        })
        .collect()
}

type SinkKey = (usize, String, Time);
type Sink = BTreeMap<SinkKey, String>;

enum Item {
    Row(Offset, SinkKey, String),
    Marker(CompletionMarker),
}

/// The first run: acknowledgements arrive after random delays (in messages).
struct Run<'a> {
    tracker: CommitTracker,
    in_flight: Vec<(usize, Item)>,
    sink: Sink,
    log: Vec<CompletionMarker>,
    now: usize,
    rng: &'a mut ChaCha8Rng,
    max_delay: usize,
}

impl Run<'_> {
    fn send(&mut self, item: Item) {
        let due = self.now + self.rng.random_range(0..=self.max_delay);
        self.in_flight.push((due, item));
    }

    fn deliver_due(&mut self) {
        let mut i = 0;
        while i < self.in_flight.len() {
            if self.in_flight[i].0 > self.now {
                i += 1;
                continue;
            }
            match self.in_flight.remove(i).1 {
                Item::Row(first, key, value) => {
                    self.sink.insert(key, value);
                    if let Some(m) = self.tracker.row_acked(first) {
                        self.send(Item::Marker(m));
                    }
                }
                Item::Marker(m) => {
                    self.tracker.marker_acked(m.first);
                    self.log.push(m);
                }
            }
        }
    }
}

fn row_key(session: SessionRef<'_>, row: &Row) -> (SinkKey, String) {
    (
        (row.output, session.key.to_string(), row.time),
        format!("{:?}", row.values),
    )
}

impl Emit for Run<'_> {
    fn opened(&mut self, first: Offset, watermark_before: Option<Time>) {
        self.tracker.opened(first, watermark_before);
    }
    fn row(&mut self, session: SessionRef<'_>, row: &Row) {
        let (key, value) = row_key(session, row);
        self.tracker.row_sent(session.first);
        self.send(Item::Row(session.first, key, value));
    }
    fn closed(&mut self, session: SessionRef<'_>) {
        let marker = CompletionMarker {
            key: session.key.into(),
            first: session.first,
            last: session.last,
        };
        if let Some(m) = self.tracker.ended(marker) {
            self.send(Item::Marker(m));
        }
    }
}

/// A run whose writes are acknowledged at once: the reference, and every replay.
struct Direct<'s>(&'s mut Sink);

impl Emit for Direct<'_> {
    fn row(&mut self, session: SessionRef<'_>, row: &Row) {
        let (key, value) = row_key(session, row);
        self.0.insert(key, value);
    }
}

fn clean_run(msgs: &[(String, Record)]) -> Sink {
    let mut sink = Sink::new();
    let mut p = SessionProcessor::new(program());
    for (offset, (key, record)) in msgs.iter().enumerate() {
        p.push_at(
            offset as Offset,
            key,
            record.clone(),
            &mut Direct(&mut sink),
        )
        .unwrap();
    }
    p.finish(&mut Direct(&mut sink));
    sink
}

/// Runs until `crash`, committing now and then; returns the sink, the session log and the
/// last commit as they survive the crash.
fn run_until_crash(
    msgs: &[(String, Record)],
    start: Checkpoint,
    log: &[CompletionMarker],
    crash: usize,
    rng: &mut ChaCha8Rng,
) -> (Sink, Vec<CompletionMarker>, Checkpoint) {
    let mut p = SessionProcessor::resume(program(), start.watermark);
    for m in log {
        p.skip_completed(&m.key, m.first, m.last);
    }
    let mut run = Run {
        tracker: CommitTracker::new(start),
        in_flight: Vec::new(),
        sink: Sink::new(),
        log: log.to_vec(),
        now: start.offset as usize,
        rng,
        max_delay: 6,
    };
    let mut committed = start;
    for (offset, (key, record)) in msgs
        .iter()
        .enumerate()
        .take(crash)
        .skip(start.offset as usize)
    {
        run.now = offset;
        run.deliver_due();
        p.push_at(offset as Offset, key, record.clone(), &mut run)
            .unwrap();
        run.tracker.consumed(offset as Offset, p.watermark());
        let now = run.tracker.committable();
        assert!(now.offset >= committed.offset, "the commit went backwards");
        if run.rng.random_bool(0.3) {
            committed = now;
        }
    }
    // Writes in flight at the crash may or may not have landed.
    for (_, item) in std::mem::take(&mut run.in_flight) {
        if run.rng.random_bool(0.5) {
            match item {
                Item::Row(_, key, value) => {
                    run.sink.insert(key, value);
                }
                Item::Marker(m) => run.log.push(m),
            }
        }
    }
    (run.sink, run.log, committed)
}

fn replay_to_end(
    msgs: &[(String, Record)],
    from: Checkpoint,
    log: &[CompletionMarker],
    sink: &mut Sink,
) {
    let mut p = SessionProcessor::resume(program(), from.watermark);
    for m in log {
        p.skip_completed(&m.key, m.first, m.last);
    }
    for (offset, (key, record)) in msgs.iter().enumerate().skip(from.offset as usize) {
        p.push_at(offset as Offset, key, record.clone(), &mut Direct(sink))
            .unwrap();
    }
    p.finish(&mut Direct(sink));
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 5000, ..ProptestConfig::default() })]

    /// Crash twice at random points; the sink ends up equal to the clean run's.
    #[test]
    fn crashes_and_replays_leave_the_sink_of_a_clean_run(
        // Mostly small jitter (reordered within the lateness); now and then an event far
        // behind the clock, whose expiry decisions depend on the restored watermark.
        spec in prop::collection::vec(
            (0u8..5, 0u8..12, prop_oneof![8 => 0u8..3, 1 => 0u8..45]),
            1..120,
        ),
        crashes in (0.0f64..1.0, 0.0f64..1.0),
        seed in any::<u64>(),
    ) {
        let msgs = messages(&spec);
        let clean = clean_run(&msgs);
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let first_crash = (crashes.0 * msgs.len() as f64) as usize;
        let start = Checkpoint { offset: 0, watermark: None };
        let (mut sink, log, committed) = run_until_crash(&msgs, start, &[], first_crash, &mut rng);
        let second_crash = committed.offset as usize
            + (crashes.1 * (msgs.len() - committed.offset as usize) as f64) as usize;
        let (sink2, log, committed) = run_until_crash(&msgs, committed, &log, second_crash, &mut rng);
        // Later writes replace earlier ones under the same key (upserts).
        sink.extend(sink2);
        replay_to_end(&msgs, committed, &log, &mut sink);
        prop_assert_eq!(sink, clean);
    }
}

#[test]
fn without_the_markers_a_session_straddling_the_commit_would_be_replayed_in_part() {
    // a: offsets 0 and 2 (0 s, 2 s); b opens at offset 1 and stays active (20 s, 33 s), so
    // when the clock passes a's gap at 33 s and a ends, b still holds the commit at 1.
    let msgs = messages(&[(0, 0, 0), (1, 1, 0), (0, 1, 0), (1, 18, 0), (1, 13, 0)]);
    let clean = clean_run(&msgs);
    let start = Checkpoint {
        offset: 0,
        watermark: None,
    };
    let mut run_rng = ChaCha8Rng::seed_from_u64(2);
    let (mut sink, log, committed) = {
        let mut p = SessionProcessor::new(program());
        let mut run = Run {
            tracker: CommitTracker::new(start),
            in_flight: Vec::new(),
            sink: Sink::new(),
            log: Vec::new(),
            now: 0,
            rng: &mut run_rng,
            max_delay: 0,
        };
        for (offset, (key, record)) in msgs.iter().enumerate() {
            run.now = offset;
            run.deliver_due();
            p.push_at(offset as Offset, key, record.clone(), &mut run)
                .unwrap();
            run.tracker.consumed(offset as Offset, p.watermark());
            run.deliver_due();
        }
        let committed = run.tracker.committable();
        (run.sink, run.log, committed)
    };
    assert_eq!(committed.offset, 1, "b holds the commit");
    assert_eq!(log.len(), 1, "a ended when the clock passed its gap");
    let mut without_markers = sink.clone();
    replay_to_end(&msgs, committed, &[], &mut without_markers);
    assert_ne!(
        without_markers, clean,
        "a replayed from offset 2 alone changes a's rows"
    );
    replay_to_end(&msgs, committed, &log, &mut sink);
    assert_eq!(sink, clean);
}

#[test]
fn checkpoint_metadata_round_trips() {
    let cp = Checkpoint {
        offset: 5,
        watermark: Some(-17),
    };
    assert_eq!(cp.metadata(), "spanflow/1 watermark=-17");
    assert_eq!(
        Checkpoint::watermark_from_metadata(&cp.metadata()),
        Some(-17)
    );
    let none = Checkpoint {
        offset: 5,
        watermark: None,
    };
    assert_eq!(Checkpoint::watermark_from_metadata(&none.metadata()), None);
    assert_eq!(
        Checkpoint::watermark_from_metadata("written by someone else"),
        None
    );
}

#[test]
fn a_dead_letter_holds_the_commit_at_its_offset_until_acknowledged() {
    let mut t = CommitTracker::new(Checkpoint {
        offset: 10,
        watermark: Some(5),
    });
    t.consumed(10, Some(7));
    // Message 11 is rejected: the commit may not pass it before the dead letter is durable.
    t.dead_letter_sent(11, Some(7));
    t.consumed(11, Some(7));
    t.consumed(12, Some(9));
    assert_eq!(
        t.committable(),
        Checkpoint {
            offset: 11,
            watermark: Some(7)
        }
    );
    // A session opened later does not move the commit past the older dead letter.
    t.opened(13, Some(9));
    t.consumed(13, Some(9));
    assert_eq!(t.committable().offset, 11);
    t.dead_letter_acked(11);
    assert_eq!(t.committable().offset, 13);
    assert_eq!(t.holds(), 1);
}

#[test]
fn a_late_event_dead_letter_holds_its_session_marker_like_a_row() {
    let mut t = CommitTracker::new(Checkpoint {
        offset: 0,
        watermark: None,
    });
    t.opened(0, None);
    t.consumed(0, Some(1));
    // The late event at 1 joined session 0: it is sent like a row of that session.
    t.row_sent(0);
    t.consumed(1, Some(1));
    let marker = CompletionMarker {
        key: "s".into(),
        first: 0,
        last: 1,
    };
    assert_eq!(t.ended(marker.clone()), None, "waits for the dead letter");
    assert_eq!(t.row_acked(0), Some(marker));
    t.marker_acked(0);
    assert_eq!(t.committable().offset, 2);
}
