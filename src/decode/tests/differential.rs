//! Our reader against serde_avro_fast running the same plans: on valid, corrupted and random
//! bytes they must agree, except that ours also validates skipped enum indexes and booleans.

use super::*;
use crate::decode::seed;
use crate::generate::{encode_datums, video_sessions, GenConfig, HEARTBEAT_SCHEMA};
use proptest::prelude::*;

/// Decodes with both readers and checks they agree; returns our result.
fn both(json: &str, plan: &DecodePlan, datum: &[u8]) -> Result<DecodedEvent, String> {
    let source = schema(json);
    let (mut ours, mut theirs) = (DecodedEvent::default(), DecodedEvent::default());
    let (our_res, our_len) = plan.decode_prefix(datum, &mut ours);
    let (their_res, their_len) = seed::decode_prefix(source.frozen(), plan, datum, &mut theirs);
    match (&our_res, &their_res) {
        (Ok(()), Ok(())) => {
            assert_eq!(ours, theirs, "both readers accept {datum:?} but disagree");
            assert_eq!(our_len, their_len, "datum length of {datum:?}");
        }
        (Ok(()), Err(e)) => panic!("only serde_avro_fast rejects {datum:?}: {e}"),
        (Err(e), Ok(())) => {
            // Ours is stricter about values serde skips without looking at them.
            assert!(
                ["invalid_enum_index", "invalid_bool"].contains(&e.reason()),
                "only ours rejects {datum:?}: {e}"
            );
        }
        (Err(a), Err(b)) => {
            if a.reason() != b.reason() {
                // Both are malformed-datum errors; serde's are classified from messages and
                // may differ in kind (e.g. a long length: truncated vs too many items).
                assert!(
                    matches!(a, crate::decode::DecodeError::Malformed(_)),
                    "{a} / {b}"
                );
            }
        }
    }
    our_res.map(|()| ours).map_err(|e| e.to_string())
}

fn heartbeat_datums() -> Vec<Vec<u8>> {
    let events = video_sessions(&GenConfig {
        sessions: 4,
        events_per_session: 40,
        ..GenConfig::default()
    });
    encode_datums(HEARTBEAT_SCHEMA, &events).unwrap()
}

#[test]
fn readers_agree_on_generated_heartbeats() {
    let plan = super::oracle::heartbeat_plan();
    for d in heartbeat_datums() {
        both(HEARTBEAT_SCHEMA, &plan, &d).unwrap();
    }
}

proptest! {
    #[test]
    fn readers_agree_on_corrupted_heartbeats(
        i in 0usize..160,
        flips in proptest::collection::vec((any::<usize>(), any::<u8>()), 1..4),
        cut in any::<usize>(),
    ) {
        let mut datum = heartbeat_datums().swap_remove(i);
        for (at, byte) in flips {
            let n = datum.len();
            datum[at % n] = byte;
        }
        datum.truncate(datum.len() - cut % 3);
        let _ = both(HEARTBEAT_SCHEMA, &super::oracle::heartbeat_plan(), &datum);
    }

    #[test]
    fn readers_agree_on_random_bytes(bytes in proptest::collection::vec(any::<u8>(), 0..80)) {
        let _ = both(HEARTBEAT_SCHEMA, &super::oracle::heartbeat_plan(), &bytes);
    }
}
