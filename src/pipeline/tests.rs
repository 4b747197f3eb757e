use super::*;
use spanflow_engine::FieldValue;

/// Counts events per session and sums a field; one row per session end.
fn spec(extra_input: &str) -> Program {
    let yaml = format!(
        r#"
name: t
input:
  session_key: k
  time: t
  {extra_input}
nodes:
  - {{ id: events, op: event_source }}
  - {{ id: x, op: get, inputs: [events], with: {{ field: x, type: f64 }} }}
  - {{ id: n, op: count, inputs: [x] }}
  - {{ id: total, op: cumulative_sum, inputs: [x] }}
outputs:
  - {{ name: out, evaluate_at: session_end, columns: [n, total] }}
"#
    );
    Program::parse(&yaml, None).unwrap_or_else(|e| panic!("{e:?}"))
}

fn rec(t_secs: i64, x: f64) -> Record {
    Record {
        time: t_secs * 1000,
        sequence: None,
        fields: smallvec::smallvec![FieldValue::F64(x)],
    }
}

#[derive(Default, Debug)]
struct Collected {
    rows: Vec<(String, Time, Vec<String>)>,
    opened: Vec<(Offset, Option<Time>)>,
    closed: Vec<(String, Offset, Offset)>,
}

impl Emit for Collected {
    fn opened(&mut self, first: Offset, watermark_before: Option<Time>) {
        self.opened.push((first, watermark_before));
    }
    fn row(&mut self, session: SessionRef<'_>, row: &Row) {
        let values = row
            .values
            .iter()
            .map(|v| v.as_ref().map_or("null".into(), |v| v.to_string()))
            .collect();
        self.rows.push((session.key.to_string(), row.time, values));
    }
    fn closed(&mut self, session: SessionRef<'_>) {
        self.closed
            .push((session.key.to_string(), session.first, session.last));
    }
}

fn run(program: &Program, events: &[(&str, Record)]) -> (Collected, Stats) {
    let mut p = SessionProcessor::new(program);
    let mut out = Collected::default();
    for (k, r) in events {
        p.push(k, r.clone(), &mut out).unwrap();
    }
    p.finish(&mut out);
    (out, p.stats().clone())
}

#[test]
fn events_within_the_lateness_are_put_in_order() {
    let program = spec("lateness_secs: 5");
    let in_order = [("a", rec(1, 1.0)), ("a", rec(3, 2.0)), ("a", rec(6, 4.0))];
    let shuffled = [("a", rec(3, 2.0)), ("a", rec(1, 1.0)), ("a", rec(6, 4.0))];
    let (a, _) = run(&program, &in_order);
    let (b, stats) = run(&program, &shuffled);
    assert_eq!(a.rows, b.rows);
    assert_eq!(
        a.rows,
        vec![("a".into(), 6000, vec!["3".into(), "7".into()])]
    );
    assert_eq!(stats.late_dropped, 0);
}

#[test]
fn events_more_than_the_lateness_behind_are_late() {
    let program = spec("lateness_secs: 2");
    // 9 s trails 10 s by 1 s: reordered. 7 s trails 13 s by 6 s: late.
    let events = [
        ("a", rec(10, 1.0)),
        ("a", rec(9, 10.0)),
        ("a", rec(13, 100.0)),
        ("a", rec(7, 1000.0)),
    ];
    let (out, stats) = run(&program, &events);
    assert_eq!(stats.late_dropped, 1);
    assert_eq!(out.rows[0].2, vec!["3", "111"]);

    let failing = spec("lateness_secs: 2\n  on_late_event: fail");
    let mut p = SessionProcessor::new(&failing);
    let mut out = Collected::default();
    for (k, r) in &events[..3] {
        p.push(k, r.clone(), &mut out).unwrap();
    }
    let err = p.push("a", rec(7, 1.0), &mut out).unwrap_err();
    assert_eq!(
        err.to_string(),
        "session `a`: event at 7000 ms is more than input.lateness_secs (2 s) behind the \
         session's newest event at 13000 ms (input.on_late_event is `fail`; set it to `drop` \
         to skip late events or `dead_letter` to set them aside, or raise input.lateness_secs \
         to reorder them)"
    );
}

#[test]
fn events_a_whole_gap_behind_the_clock_are_late() {
    // b's event at 5 s comes when the clock is at 70 s: any session it belonged to has ended,
    // and a new one would share evaluation times with it.
    let program = spec("session_gap_secs: 60\n  on_late_event: fail");
    let mut p = SessionProcessor::new(&program);
    let mut out = Collected::default();
    p.push("a", rec(70, 1.0), &mut out).unwrap();
    let err = p.push("b", rec(10, 1.0), &mut out).unwrap_err();
    assert_eq!(
        err.to_string(),
        "session `b`: event at 10000 ms is more than input.session_gap_secs (60 s) behind the \
         input's newest event at 70000 ms, so its session has ended (input.on_late_event is \
         `fail`; set it to `drop` to skip late events or `dead_letter` to set them aside)"
    );
    p.push("b", rec(11, 1.0), &mut out).unwrap();
}

#[test]
fn an_idle_gap_of_event_time_ends_a_session() {
    let program = spec("session_gap_secs: 60");
    let events = [
        ("a", rec(0, 1.0)),
        ("b", rec(10, 1.0)),
        ("a", rec(30, 2.0)),
        ("b", rec(65, 1.0)),
        // The clock passes a's newest event (30 s) by 60 s: a ends before this event is done.
        ("b", rec(95, 1.0)),
        ("a", rec(100, 5.0)),
    ];
    let mut p = SessionProcessor::new(&program);
    let mut out = Collected::default();
    for (k, r) in &events[..5] {
        p.push(k, r.clone(), &mut out).unwrap();
    }
    assert_eq!(out.closed, vec![("a".into(), 0, 2)]);
    assert_eq!(
        out.rows,
        vec![("a".into(), 30_000, vec!["2".into(), "3".into()])]
    );
    p.push("a", events[5].1.clone(), &mut out).unwrap();
    p.finish(&mut out);
    assert_eq!(
        out.closed,
        vec![("a".into(), 0, 2), ("a".into(), 5, 5), ("b".into(), 1, 4)]
    );
    assert_eq!(p.stats().sessions, 3);
    assert_eq!(out.opened, vec![(0, None), (1, Some(0)), (5, Some(95_000))]);
}

#[test]
fn a_key_returning_after_its_gap_starts_a_new_session_even_before_a_sweep() {
    // Only a's own events: its next event is 61 s after its newest, so the old session ends
    // first even though no other event moved the clock in between.
    let program = spec("session_gap_secs: 60");
    let (out, stats) = run(&program, &[("a", rec(0, 1.0)), ("a", rec(61, 1.0))]);
    assert_eq!(stats.sessions, 2);
    assert_eq!(out.rows.len(), 2);
}

#[test]
fn completed_sessions_are_skipped_on_replay() {
    let program = spec("session_gap_secs: 60");
    let mut p = SessionProcessor::resume(&program, Some(7_000));
    p.skip_completed("a", 3, 5);
    let mut out = Collected::default();
    for (offset, key, t) in [(4, "a", 9), (5, "b", 5), (6, "a", 6)] {
        p.push_at(offset, key, rec(t, 1.0), &mut out).unwrap();
    }
    p.finish(&mut out);
    assert_eq!(p.stats().replay_skipped, 1);
    assert_eq!(out.closed, vec![("a".into(), 6, 6), ("b".into(), 5, 5)]);
    // The skipped event still moved the clock from the restored 7 s to 9 s.
    assert_eq!(out.opened, vec![(5, Some(9_000)), (6, Some(9_000))]);
}

#[test]
fn completed_ranges_behind_the_position_are_forgotten_at_the_next_sweep() {
    let program = spec("session_gap_secs: 60");
    let mut p = SessionProcessor::resume(&program, Some(0));
    p.skip_completed("a", 0, 2);
    p.skip_completed("b", 1, 9);
    let mut out = Collected::default();
    // Offset 3 is past a's range only: the sweep after it drops that range.
    p.push_at(3, "c", rec(0, 1.0), &mut out).unwrap();
    assert_eq!(p.skip.keys().map(|k| k.as_str()).collect::<Vec<_>>(), ["b"]);
    // b's range still holds: its event at 9 is skipped.
    p.push_at(9, "b", rec(21, 1.0), &mut out).unwrap();
    assert_eq!(p.stats().replay_skipped, 1);
}

/// A high-cardinality string field (a new value per event) over sessions that end: with a
/// small limit the dictionary is compacted again and again, keeps only what open sessions hold,
/// and every row is what an uncompacted run gives (the open sessions' strings and the waiting
/// events' strings are remapped, the spec's constant too).
#[test]
fn the_string_dictionary_drops_what_no_open_session_holds() {
    let yaml = r#"
name: t
input:
  session_key: k
  time: t
  session_gap_secs: 10
nodes:
  - { id: events, op: event_source }
  - { id: url, op: get, inputs: [events], with: { field: url, type: string } }
  - { id: last_url, op: latest_event_to_state, inputs: [url] }
  - { id: is_home, op: equals, inputs: [last_url], with: { value: home } }
  - { id: home_secs, op: duration_where, inputs: [is_home] }
  - { id: previous, op: prior_event, inputs: [url] }
  - { id: last_previous, op: latest_event_to_state, inputs: [previous] }
outputs:
  - { name: out, evaluate_at: session_end, columns: [last_url, home_secs, last_previous] }
"#;
    let program = Program::parse(yaml, None).unwrap_or_else(|e| panic!("{e:?}"));
    let url = |t: i64, v: &str| Record {
        time: t * 1000,
        sequence: None,
        fields: smallvec::smallvec![FieldValue::Str(v.into())],
    };
    // 400 sessions of 5 events, 4 at a time: each event a new string, some `home`.
    let mut events: Vec<(String, Record)> = Vec::new();
    for s in 0..400i64 {
        for i in 0..5i64 {
            let t = s / 4 * 20 + i;
            let v = if (s + i) % 3 == 0 {
                "home".to_string()
            } else {
                format!("/p/{s}/{i}")
            };
            events.push((format!("s{s}"), url(t, &v)));
        }
    }
    events.sort_by_key(|(_, r)| r.time);
    let run = |limit: Option<usize>| {
        let mut p = SessionProcessor::new(&program);
        if let Some(limit) = limit {
            p = p.with_string_limit(limit);
        }
        let mut out = Collected::default();
        let mut most = 0;
        for (k, r) in &events {
            p.push(k, r.clone(), &mut out).unwrap();
            most = most.max(p.runner.strings().len());
        }
        p.finish(&mut out);
        (out.rows, p.stats().clone(), most)
    };
    let (plain, plain_stats, plain_most) = run(None);
    let (compacted, stats, most) = run(Some(64));
    assert_eq!(plain_stats.string_compactions, 0);
    assert!(plain_most > 1300, "{plain_most}");
    assert!(stats.string_compactions > 10, "{stats:?}");
    assert!(most <= 200, "the dictionary grew to {most} strings");
    assert_eq!(compacted.len(), 400);
    assert_eq!(compacted, plain);
}
