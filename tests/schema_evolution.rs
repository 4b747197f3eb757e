//! Writer schemas older or otherwise different from the spec's `input.schema`, resolved per the
//! Avro rules (issue 16 item 3): a field added with a default since the data was written reads
//! as its default in container files and framed (so Kafka) runs alike, and schemas that cannot
//! be resolved fail the run naming the field and both types.

use crate::bad_input::{by_session, clean_output, dropping, events, framed, message, run, Scratch};
use crate::specs::repo_root;
use serde::Serialize;
use spanflow::generate::{
    encode_datums, write_ocf, Device, Heartbeat, OcfCodec, UserAction, HEARTBEAT_SCHEMA,
};
use std::collections::BTreeMap;
use std::path::PathBuf;

const CDN: &str = r#"{"name": "cdn", "type": ["null", "string"], "default": null, "doc": "CDN1, CDN2 or CDN3."},"#;

/// The heartbeat schema from before `cdn` was added.
fn schema_without_cdn() -> String {
    assert!(HEARTBEAT_SCHEMA.contains(CDN));
    HEARTBEAT_SCHEMA.replace(CDN, "")
}

/// The heartbeat schema with `cdn` written as a number: no reader `["null","string"]` takes it.
fn schema_with_numeric_cdn() -> String {
    HEARTBEAT_SCHEMA.replace(
        CDN,
        r#"{"name": "cdn", "type": ["null", "long"], "default": null},"#,
    )
}

/// A heartbeat of an older writer: no `cdn`.
#[derive(Serialize)]
#[serde(rename = "Heartbeat", rename_all = "camelCase")]
struct OldHeartbeat {
    session_id: String,
    timestamp: i64,
    seq: i64,
    player_state: Option<String>,
    bitrate_kbps: Option<i32>,
    network: Option<String>,
    user_action: Option<UserAction>,
    device: Device,
    buffer_length_sec: Option<f64>,
    tags: BTreeMap<String, String>,
}

impl OldHeartbeat {
    fn from(h: &Heartbeat) -> Self {
        OldHeartbeat {
            session_id: h.session_id.clone(),
            timestamp: h.timestamp,
            seq: h.seq,
            player_state: h.player_state.clone(),
            bitrate_kbps: h.bitrate_kbps,
            network: h.network.clone(),
            user_action: h.user_action,
            device: h.device.clone(),
            buffer_length_sec: h.buffer_length_sec,
            tags: h.tags.clone(),
        }
    }
}

/// A heartbeat whose `cdn` is a number.
#[derive(Serialize)]
#[serde(rename = "Heartbeat", rename_all = "camelCase")]
struct NumericCdnHeartbeat {
    session_id: String,
    timestamp: i64,
    seq: i64,
    player_state: Option<String>,
    cdn: Option<i64>,
    bitrate_kbps: Option<i32>,
    network: Option<String>,
    user_action: Option<UserAction>,
    device: Device,
    buffer_length_sec: Option<f64>,
    tags: BTreeMap<String, String>,
}

/// The test events as an older writer had them: no CDN known.
fn events_without_cdn() -> (Vec<Heartbeat>, Vec<OldHeartbeat>) {
    let mut events = events(true);
    for e in &mut events {
        e.cdn = None;
    }
    let old = events.iter().map(OldHeartbeat::from).collect();
    (events, old)
}

#[test]
fn a_field_the_writer_lacks_reads_as_the_reader_default_in_container_files() {
    let scratch = Scratch::new("evolution-ocf");
    let (events, old) = events_without_cdn();
    // The same events written with today's schema, every `cdn` null.
    let expected = clean_output(&scratch, &events);
    let mut bytes = Vec::new();
    write_ocf(
        &schema_without_cdn(),
        &old,
        OcfCodec::Deflate,
        3,
        &mut bytes,
    )
    .unwrap();
    let path = scratch.write("old-writer.avro", &bytes);
    // Before: "the file's writer schema does not fit: record … has no field `cdn`".
    let (text, summary) = run(&dropping(), &path, None).unwrap();
    assert_eq!(summary.records, events.len() as u64);
    assert!(summary.bad_records.is_empty(), "{summary:?}");
    assert_eq!(by_session(&text), expected);
}

#[test]
fn a_field_the_writer_lacks_reads_as_the_reader_default_in_framed_runs() {
    let scratch = Scratch::new("evolution-framed");
    let (events, old) = events_without_cdn();
    let expected = clean_output(&scratch, &events);
    // Schema id 7 is the older writer schema; the registry serves Kafka runs the same way.
    let registry = scratch.path().join("registry");
    std::fs::create_dir_all(&registry).unwrap();
    std::fs::write(registry.join("7.avsc"), schema_without_cdn()).unwrap();
    let messages: Vec<Vec<u8>> = encode_datums(&schema_without_cdn(), &old)
        .unwrap()
        .iter()
        .map(|d| message(7, d))
        .collect();
    let path = scratch.write("old-writer.framed", &framed(&messages));
    // Before: every record dropped as `unknown_field`.
    let (text, summary) = run(&dropping(), &path, Some(&registry)).unwrap();
    assert!(summary.bad_records.is_empty(), "{summary:?}");
    assert_eq!(summary.records, events.len() as u64);
    assert_eq!(by_session(&text), expected);
}

fn fixture(name: &str) -> PathBuf {
    repo_root().join("fixtures/bad_input").join(name)
}

/// 20 of the test events with `cdn` written as a number.
fn numeric_cdn_events() -> Vec<NumericCdnHeartbeat> {
    events(true)
        .iter()
        .take(20)
        .enumerate()
        .map(|(i, h)| NumericCdnHeartbeat {
            session_id: h.session_id.clone(),
            timestamp: h.timestamp,
            seq: h.seq,
            player_state: h.player_state.clone(),
            cdn: Some(i as i64 % 3 + 1),
            bitrate_kbps: h.bitrate_kbps,
            network: h.network.clone(),
            user_action: h.user_action,
            device: h.device.clone(),
            buffer_length_sec: h.buffer_length_sec,
            tags: h.tags.clone(),
        })
        .collect()
}

/// Writes `fixtures/bad_input/cdn_is_a_long.avro`. Regenerate with
/// `cargo test --test integration schema_evolution::write_evolution_fixtures -- --ignored`.
#[test]
#[ignore = "writes fixtures/bad_input/cdn_is_a_long.avro"]
fn write_evolution_fixtures() {
    let events = numeric_cdn_events();
    let mut bytes = Vec::new();
    write_ocf(
        &schema_with_numeric_cdn(),
        &events,
        OcfCodec::Null,
        5,
        &mut bytes,
    )
    .unwrap();
    std::fs::write(fixture("cdn_is_a_long.avro"), bytes).unwrap();
}

#[test]
fn a_writer_schema_that_does_not_resolve_fails_the_run_naming_field_and_types() {
    let prefix = format!("{}/", repo_root().display());
    let input = fixture("cdn_is_a_long.avro");
    let e = run(&dropping(), &input, None).unwrap_err();
    assert!(
        e.contains("`cdn` has writer type [\"null\",\"long\"]"),
        "{e}"
    );
    insta::assert_snapshot!("cdn_is_a_long.avro", e.replace(&prefix, ""));

    // Framed: every message of that schema id is counted as lost, and a run that lost every
    // record fails instead of exiting 0 with no rows.
    let scratch = Scratch::new("evolution-unresolvable");
    let registry = scratch.path().join("registry");
    std::fs::create_dir_all(&registry).unwrap();
    std::fs::write(registry.join("3.avsc"), schema_with_numeric_cdn()).unwrap();
    let messages: Vec<Vec<u8>> = encode_datums(&schema_with_numeric_cdn(), &numeric_cdn_events())
        .unwrap()
        .iter()
        .map(|d| message(3, d))
        .collect();
    let path = scratch.write("numeric-cdn.framed", &framed(&messages));
    let (_, summary) = run(&dropping(), &path, Some(&registry)).unwrap();
    assert_eq!(summary.records, 0);
    assert_eq!(
        summary.bad_records,
        BTreeMap::from([("incompatible_types", messages.len() as u64)])
    );
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_spanflow"))
        .env_remove("SPANFLOW_CONFIG")
        .args([
            "run",
            &repo_root()
                .join("dag-specs/video/connection_induced_rebuffering.yaml")
                .display()
                .to_string(),
            "--input",
            &path.display().to_string(),
            "--schemas",
            &registry.display().to_string(),
        ])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(out.stdout.is_empty());
    assert!(stderr.contains("nothing could be read"), "{stderr}");
    assert!(stderr.contains("20 incompatible_types"), "{stderr}");
}
