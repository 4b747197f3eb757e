//! The enricher and its caches against a fake source that counts fetches.

use super::*;
use spanflow_operators::Program;
use std::collections::HashMap;
use std::sync::atomic::{AtomicU32, AtomicU64};
use std::time::Instant;

/// A spec joining `cdn_info` (tier, max_bitrate) onto heartbeats by their `cdn` field.
fn spec(extra: &str) -> String {
    format!(
        r#"
name: lookup unit test
input:
  session_key: sessionId
  time: timestamp
  lookups:
    - name: cdn_info
      key: cdn
      keyspace: ref
      table: cdns
      key_column: name
      columns: {{ tier: text, max_bitrate: double }}
{extra}
nodes:
  - {{ id: events, op: event_source }}
  - {{ id: tier, op: get, inputs: [events], with: {{ field: cdn_info.tier }} }}
  - {{ id: max, op: get, inputs: [events], with: {{ field: cdn_info.max_bitrate }} }}
  - {{ id: cdn, op: get, inputs: [events], with: {{ field: cdn, type: string }} }}
outputs:
  - {{ name: o, evaluate_at: every_event, columns: [tier, max, cdn] }}
"#
    )
}

fn program(extra: &str) -> Program {
    Program::parse(&spec(extra), None).unwrap_or_else(|e| panic!("{e:?}"))
}

/// Rows by CDN name; counts fetches; fails the first `failures` fetches.
#[derive(Clone, Default)]
struct Fake {
    rows: HashMap<String, (String, f64)>,
    fetches: Arc<AtomicU64>,
    failures: Arc<AtomicU32>,
    retryable: bool,
}

impl Fake {
    fn new() -> Self {
        let mut rows = HashMap::new();
        rows.insert("CDN1".to_string(), ("premium".to_string(), 8000.0));
        rows.insert("CDN2".to_string(), ("standard".to_string(), 4000.0));
        rows.insert("CDN3".to_string(), ("budget".to_string(), 2000.0));
        Fake {
            rows,
            retryable: true,
            ..Fake::default()
        }
    }

    fn fetches(&self) -> u64 {
        self.fetches.load(Ordering::SeqCst)
    }
}

impl LookupSource for Fake {
    fn fetch(&self, lookup: usize, key: &KeyValue) -> Result<Fetched, LookupError> {
        assert_eq!(lookup, 0);
        if self
            .failures
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
            .is_ok()
        {
            return Err(LookupError {
                lookup: "cdn_info".into(),
                message: "no connection".into(),
                retryable: self.retryable,
                stopped: false,
            });
        }
        self.fetches.fetch_add(1, Ordering::SeqCst);
        let KeyValue::Str(k) = key else {
            panic!("a string key, got {key:?}")
        };
        Ok(Fetched {
            row: self.rows.get(k.as_str()).map(|(tier, max)| {
                // In the plan's column order: by name.
                [FieldValue::F64(*max), FieldValue::Str(tier.as_str().into())]
                    .into_iter()
                    .collect()
            }),
            rows_read: u64::from(self.rows.contains_key(k.as_str())),
        })
    }
}

/// A decoded record with `cdn` in its decoder slot (the lookup's key).
fn record(program: &Program, cdn: Option<&str>) -> Record {
    let slot = program
        .input
        .fields
        .iter()
        .position(|(p, _)| p == "cdn")
        .unwrap();
    let mut r = Record::default();
    r.fields
        .resize(program.input.fields.len(), FieldValue::Null);
    r.fields[slot] = cdn.map_or(FieldValue::Null, |c| FieldValue::Str(c.into()));
    r
}

/// The values of `cdn_info.tier` and `cdn_info.max_bitrate` in an enriched record.
fn joined(program: &Program, r: &Record) -> (FieldValue, FieldValue) {
    let l = &program.input.lookups[0];
    (
        r.field(l.column("tier").unwrap().slot).clone(),
        r.field(l.column("max_bitrate").unwrap().slot).clone(),
    )
}

fn fast_retry() -> RetryPolicy {
    RetryPolicy {
        initial: Duration::from_millis(1),
        max: Duration::from_millis(4),
    }
}

#[test]
fn rows_are_joined_into_the_lookup_slots_and_cached() {
    let program = program("");
    let fake = Fake::new();
    let mut e = Enricher::new(&program, Box::new(fake.clone()));
    for cdn in ["CDN1", "CDN2", "CDN1", "CDN1", "CDN2"] {
        let mut r = record(&program, Some(cdn));
        assert_eq!(e.enrich("s1", &mut r).unwrap(), Joined::Keep);
        let (tier, max) = joined(&program, &r);
        let (want_tier, want_max) = &fake.rows[cdn];
        assert_eq!(tier, FieldValue::Str(want_tier.as_str().into()), "{cdn}");
        assert_eq!(max, FieldValue::F64(*want_max), "{cdn}");
        assert_eq!(r.fields.len(), program.input.slots());
    }
    assert_eq!(fake.fetches(), 2, "one fetch per key");
    assert_eq!(e.stats().cache_hits, 3);
    assert_eq!(e.stats().lookups, 5);
}

#[test]
fn missing_keys_get_nulls_and_are_cached_too() {
    let program = program("");
    let fake = Fake::new();
    let mut e = Enricher::new(&program, Box::new(fake.clone()));
    for _ in 0..3 {
        let mut r = record(&program, Some("CDN9"));
        assert_eq!(e.enrich("s1", &mut r).unwrap(), Joined::Keep);
        assert_eq!(joined(&program, &r), (FieldValue::Null, FieldValue::Null));
    }
    assert_eq!(fake.fetches(), 1, "the absence is cached");
    // A null key never reaches the source.
    let mut r = record(&program, None);
    assert_eq!(e.enrich("s1", &mut r).unwrap(), Joined::Keep);
    assert_eq!(joined(&program, &r), (FieldValue::Null, FieldValue::Null));
    assert_eq!(fake.fetches(), 1);
    assert_eq!(e.stats().missing, 4);
    assert_eq!(e.stats().dropped, 0);
}

#[test]
fn drop_event_drops_events_without_a_row() {
    let program = program("      on_missing: drop_event");
    let mut e = Enricher::new(&program, Box::new(Fake::new()));
    let mut r = record(&program, Some("CDN9"));
    assert_eq!(e.enrich("s1", &mut r).unwrap(), Joined::Drop);
    let mut r = record(&program, None);
    assert_eq!(e.enrich("s1", &mut r).unwrap(), Joined::Drop);
    let mut r = record(&program, Some("CDN3"));
    assert_eq!(e.enrich("s1", &mut r).unwrap(), Joined::Keep);
    assert_eq!(e.stats().dropped, 2);
}

#[test]
fn the_cache_holds_at_most_capacity_keys_evicting_the_least_recently_used() {
    let program = program("      cache: { capacity: 2, ttl_secs: 3600 }");
    let fake = Fake::new();
    let mut e = Enricher::new(&program, Box::new(fake.clone()));
    let mut look = |cdn: &str| {
        let mut r = record(&program, Some(cdn));
        e.enrich("s1", &mut r).unwrap();
        assert!(e.cache(0).unwrap().len() <= 2, "bounded");
    };
    look("CDN1");
    look("CDN2");
    look("CDN1"); // CDN2 is now the least recently used
    assert_eq!(fake.fetches(), 2);
    look("CDN3"); // evicts CDN2
    assert_eq!(fake.fetches(), 3);
    look("CDN1");
    assert_eq!(fake.fetches(), 3, "CDN1 stayed");
    look("CDN2");
    assert_eq!(fake.fetches(), 4, "CDN2 was evicted and is fetched again");
    for i in 0..50 {
        look(&format!("X{i}"));
    }
    assert!(e.cache(0).unwrap().len() <= 2);
}

#[test]
fn entries_expire_after_their_ttl() {
    let program = program("      cache: { capacity: 100, ttl_secs: 0.3 }");
    let fake = Fake::new();
    let mut e = Enricher::new(&program, Box::new(fake.clone()));
    let start = Instant::now();
    let mut r = record(&program, Some("CDN1"));
    e.enrich("s1", &mut r).unwrap();
    let mut r = record(&program, Some("CDN1"));
    e.enrich("s1", &mut r).unwrap();
    let before = fake.fetches();
    if start.elapsed() < Duration::from_millis(250) {
        assert_eq!(before, 1, "fresh entries are used");
    }
    std::thread::sleep(Duration::from_millis(400));
    let mut r = record(&program, Some("CDN1"));
    e.enrich("s1", &mut r).unwrap();
    assert_eq!(
        fake.fetches(),
        before + 1,
        "an expired entry is fetched again"
    );
    assert_eq!(
        joined(&program, &r),
        (FieldValue::Str("premium".into()), FieldValue::F64(8000.0))
    );
}

#[test]
fn retryable_failures_are_retried_until_the_source_answers() {
    let program = program("");
    let fake = Fake::new();
    fake.failures.store(5, Ordering::SeqCst);
    let mut e = Enricher::new(&program, Box::new(fake.clone())).with_retry(fast_retry());
    let mut r = record(&program, Some("CDN2"));
    assert_eq!(e.enrich("s1", &mut r).unwrap(), Joined::Keep);
    assert_eq!(
        joined(&program, &r),
        (FieldValue::Str("standard".into()), FieldValue::F64(4000.0)),
        "joined, not nulls, after the outage"
    );
    assert_eq!(e.stats().retries, 5);
    assert_eq!(fake.fetches(), 1);
    // Failures are never cached.
    assert_eq!(e.stats().missing, 0);
}

#[test]
fn permanent_failures_stop_at_once() {
    let program = program("");
    let mut fake = Fake::new();
    fake.retryable = false;
    fake.failures.store(1, Ordering::SeqCst);
    let mut e = Enricher::new(&program, Box::new(fake.clone())).with_retry(fast_retry());
    let mut r = record(&program, Some("CDN2"));
    let err = e.enrich("s1", &mut r).unwrap_err();
    assert!(!err.retryable && !err.stopped, "{err:?}");
    assert_eq!(err.to_string(), "lookup `cdn_info`: no connection");
    assert_eq!(e.stats().retries, 0);
}

#[test]
fn a_stop_request_ends_the_wait_for_an_unreachable_cluster() {
    let program = program("");
    let fake = Fake::new();
    fake.failures.store(u32::MAX, Ordering::SeqCst);
    let stop = Arc::new(AtomicBool::new(false));
    let mut e = Enricher::new(&program, Box::new(fake.clone()))
        .with_retry(RetryPolicy {
            initial: Duration::from_millis(20),
            max: Duration::from_millis(200),
        })
        .with_stop(stop.clone());
    let stopper = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(150));
        stop.store(true, Ordering::SeqCst);
    });
    let mut r = record(&program, Some("CDN2"));
    let err = e.enrich("s1", &mut r).unwrap_err();
    stopper.join().unwrap();
    assert!(err.stopped && err.retryable, "{err:?}");
    assert!(e.stats().retries >= 2);
    assert_eq!(fake.fetches(), 0);
}

#[test]
fn the_session_key_can_be_the_key() {
    let yaml = spec("").replace("key: cdn\n", "key: $session\n");
    let program = Program::parse(&yaml, None).unwrap_or_else(|e| panic!("{e:?}"));
    let fake = Fake::new();
    let mut e = Enricher::new(&program, Box::new(fake.clone()));
    let mut r = record(&program, Some("ignored"));
    e.enrich("CDN3", &mut r).unwrap();
    assert_eq!(
        joined(&program, &r),
        (FieldValue::Str("budget".into()), FieldValue::F64(2000.0))
    );
}

#[test]
fn number_keys_compare_by_value() {
    assert_eq!(KeyValue::number(0.0), KeyValue::number(-0.0));
    assert_eq!(
        KeyValue::of(&FieldValue::F64(3.0)),
        Some(KeyValue::number(3.0))
    );
    assert_ne!(KeyValue::number(3.0), KeyValue::number(3.5));
    assert_eq!(KeyValue::of(&FieldValue::Null), None);
}

#[test]
fn a_run_of_a_spec_with_lookups_needs_an_enricher() {
    let program = program("");
    let e = check_enricher(&program, false).unwrap_err();
    assert!(e.contains("cdn_info") && e.contains("scylla:"), "{e}");
    assert!(check_enricher(&program, true).is_ok());
}
