//! Schema ids, Confluent framing and the plan cache.

use super::*;
use crate::decode::{
    write_confluent_header, DecodeError, FetchError, FrameError, SchemaFetcher, SchemaGuid,
    SchemaRef, SchemaStore, MAGIC_GUID, MAX_UNKNOWN_SCHEMA_IDS,
};
use crate::generate::{
    encode_datums, video_sessions, GenConfig, HEARTBEAT_SCHEMA, TELEMETRY_SCHEMA,
};
use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

/// A fresh directory under the system temp dir.
pub(super) fn temp_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("spanflow-decode-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

pub(super) fn heartbeat_projection() -> Projection {
    projection(
        "sessionId",
        "timestamp",
        &[
            ("playerState", ValueType::Str),
            ("device.os", ValueType::Str),
        ],
    )
}

pub(super) fn framed(id: u32, datum: &[u8]) -> Vec<u8> {
    let mut m = Vec::new();
    write_confluent_header(id, &mut m);
    m.extend_from_slice(datum);
    m
}

#[test]
fn decodes_by_schema_id_from_a_directory() {
    let dir = temp_dir("store");
    std::fs::write(dir.join("1.avsc"), HEARTBEAT_SCHEMA).unwrap();
    std::fs::write(dir.join("7-telemetry.avsc"), TELEMETRY_SCHEMA).unwrap();
    std::fs::write(dir.join("README.md"), "not a schema").unwrap();
    let mut store = SchemaStore::from_dir(&dir, heartbeat_projection()).unwrap();
    let events = video_sessions(&GenConfig {
        sessions: 2,
        events_per_session: 5,
        ..GenConfig::default()
    });
    let datums = encode_datums(HEARTBEAT_SCHEMA, &events).unwrap();
    let mut out = DecodedEvent::default();
    for (e, d) in events.iter().zip(&datums) {
        assert_eq!(store.decode(&framed(1, d), &mut out).unwrap(), 1);
        assert_eq!(out.session_key.as_str(), e.session_id);
        assert_eq!(
            out.record.field(1),
            &FieldValue::Str(e.device.os.as_str().into())
        );
    }
    let err = store.decode(&framed(99, &datums[0]), &mut out).unwrap_err();
    assert!(
        matches!(&err, DecodeError::UnknownSchemaId(r) if **r == SchemaRef::Id(99)),
        "{err}"
    );
    assert_eq!(err.reason(), "unknown_schema_id");
    // Telemetry has no playerState: the id is known but unusable for this projection.
    let err = store.decode(&framed(7, &datums[0]), &mut out).unwrap_err();
    assert_eq!(err.reason(), "unknown_field", "{err}");
    assert!(err.to_string().starts_with("schema id 7:"), "{err}");
    assert!(matches!(
        store.decode(&[], &mut out),
        Err(DecodeError::Frame(FrameError::Tombstone))
    ));
    let mut bad = framed(1, &datums[0]);
    bad[0] = 0x7b;
    let err = store.decode(&bad, &mut out).unwrap_err();
    assert_eq!((err.reason(), err.is_retriable()), ("bad_magic", false));
    let mut long = framed(1, &datums[0]);
    long.push(0);
    assert_eq!(
        store.decode(&long, &mut out).unwrap_err().reason(),
        "trailing_bytes"
    );
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn duplicate_ids_and_invalid_files_fail_at_startup() {
    let dir = temp_dir("dup");
    std::fs::write(dir.join("1.avsc"), HEARTBEAT_SCHEMA).unwrap();
    std::fs::write(dir.join("1-again.avsc"), HEARTBEAT_SCHEMA).unwrap();
    let e = SchemaStore::from_dir(&dir, heartbeat_projection()).unwrap_err();
    assert!(e.message.contains("also has schema id 1"), "{e}");
    std::fs::remove_file(dir.join("1-again.avsc")).unwrap();
    std::fs::write(dir.join("2.avsc"), "{not json").unwrap();
    let e = SchemaStore::from_dir(&dir, heartbeat_projection()).unwrap_err();
    assert!(e.context.ends_with("2.avsc"), "{e}");
    std::fs::remove_dir_all(dir).unwrap();
}

struct Counting {
    calls: Arc<AtomicUsize>,
}

impl SchemaFetcher for Counting {
    fn fetch(&self, id: u32) -> Result<SchemaSource, FetchError> {
        self.calls.fetch_add(1, Ordering::SeqCst);
        match id {
            1 => Ok(schema(HEARTBEAT_SCHEMA)),
            2 => Err(FetchError::Unavailable("registry timed out".into())),
            _ => Err(FetchError::NotFound),
        }
    }
}

#[test]
fn plans_and_permanent_failures_are_cached_but_outages_are_retried() {
    let calls = Arc::new(AtomicUsize::new(0));
    let mut store = SchemaStore::new(
        heartbeat_projection(),
        Counting {
            calls: calls.clone(),
        },
    );
    let datum = &encode_datums(
        HEARTBEAT_SCHEMA,
        &video_sessions(&GenConfig::default())[..1],
    )
    .unwrap()[0];
    let mut out = DecodedEvent::default();
    for _ in 0..3 {
        store.decode(&framed(1, datum), &mut out).unwrap();
        assert!(store.decode(&framed(3, datum), &mut out).is_err());
    }
    assert_eq!(
        calls.load(Ordering::SeqCst),
        2,
        "ids 1 and 3 fetched once each"
    );
    for _ in 0..2 {
        let err = store.decode(&framed(2, datum), &mut out).unwrap_err();
        assert!(err.is_retriable(), "{err}");
    }
    assert_eq!(
        calls.load(Ordering::SeqCst),
        4,
        "an unavailable source is asked again"
    );
    let first = store.plan(1).unwrap().clone();
    assert!(Arc::ptr_eq(&first, store.plan(1).unwrap()), "compiled once");
}

/// Schema ids are message input: ever new unknown ids must not grow the cache without bound
/// (the decode fuzz target's random ids would, and every lookup scans it).
#[test]
fn unknown_ids_are_remembered_up_to_a_bound() {
    let calls = Arc::new(AtomicUsize::new(0));
    let mut store = SchemaStore::new(
        heartbeat_projection(),
        Counting {
            calls: calls.clone(),
        },
    );
    let datum = &encode_datums(
        HEARTBEAT_SCHEMA,
        &video_sessions(&GenConfig::default())[..1],
    )
    .unwrap()[0];
    let mut out = DecodedEvent::default();
    store.decode(&framed(1, datum), &mut out).unwrap();
    let unknown = 3..3 + 5 * MAX_UNKNOWN_SCHEMA_IDS as u32;
    for id in unknown.clone() {
        let err = store.decode(&framed(id, datum), &mut out).unwrap_err();
        assert!(
            matches!(&err, DecodeError::UnknownSchemaId(r) if **r == SchemaRef::Id(id)),
            "{err}"
        );
        assert!(store.cached_ids() <= MAX_UNKNOWN_SCHEMA_IDS + 1);
    }
    // The plan outlives the forgotten ids; the latest unknown ids are still remembered.
    let fetched = calls.load(Ordering::SeqCst);
    store.decode(&framed(1, datum), &mut out).unwrap();
    assert!(store
        .decode(&framed(unknown.end - 1, datum), &mut out)
        .is_err());
    assert_eq!(calls.load(Ordering::SeqCst), fetched, "no new fetches");
}

/// A source knowing the heartbeat schema by GUID only.
struct ByGuid(SchemaGuid);

impl SchemaFetcher for ByGuid {
    fn fetch(&self, _id: u32) -> Result<SchemaSource, FetchError> {
        Err(FetchError::NotFound)
    }
    fn fetch_guid(&self, guid: &SchemaGuid) -> Result<SchemaSource, FetchError> {
        if *guid == self.0 {
            Ok(schema(HEARTBEAT_SCHEMA))
        } else {
            Err(FetchError::NotFound)
        }
    }
}

#[test]
fn a_header_guid_names_the_schema_of_a_bare_datum() {
    let guid = SchemaGuid([7; 16]);
    let mut store = SchemaStore::new(heartbeat_projection(), ByGuid(guid));
    let events = video_sessions(&GenConfig {
        sessions: 1,
        events_per_session: 2,
        ..GenConfig::default()
    });
    let datums = encode_datums(HEARTBEAT_SCHEMA, &events).unwrap();
    let mut header = vec![MAGIC_GUID];
    header.extend_from_slice(&guid.0);
    let mut out = DecodedEvent::default();
    for (e, d) in events.iter().zip(&datums) {
        let got = store.decode_framed(d, Some(&header), &mut out).unwrap();
        assert_eq!(got, SchemaRef::Guid(guid));
        assert_eq!(out.session_key.as_str(), e.session_id);
    }
    // Another GUID: unknown, named in the error.
    header[1] = 8;
    let err = store
        .decode_framed(&datums[0], Some(&header), &mut out)
        .unwrap_err();
    assert_eq!(err.reason(), "unknown_schema_id");
    assert!(
        err.to_string()
            .contains("unknown schema GUID 08070707-0707-0707-0707-070707070707"),
        "{err}"
    );
    // The same bare datum without the header: the prefix is expected, and the error names
    // the header it lacks.
    let err = store.decode_framed(&datums[0], None, &mut out).unwrap_err();
    assert!(err.to_string().contains("__value_schema_id"), "{err}");
    // Local files know schemas by id only.
    let dir = temp_dir("guid");
    std::fs::write(dir.join("1.avsc"), HEARTBEAT_SCHEMA).unwrap();
    let mut files = SchemaStore::from_dir(&dir, heartbeat_projection()).unwrap();
    let err = files
        .decode_framed(&datums[0], Some(&header), &mut out)
        .unwrap_err();
    assert!(
        matches!(&err, DecodeError::UnknownSchemaId(r) if matches!(**r, SchemaRef::Guid(_))),
        "{err}"
    );
    std::fs::remove_dir_all(dir).unwrap();
}
