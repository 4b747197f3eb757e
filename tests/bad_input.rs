//! Bad input never crashes a run and never costs good data: damaged files, bad messages and late
//! events, run through the CIR spec with each `on_bad_record` / `on_late_event` policy.
//!
//! Inputs are built here from the generator, then damaged at known places, so each test knows
//! exactly which records are lost and which sessions must come out as in a clean run.

use crate::specs::repo_root;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::Serialize;
use spanflow::app::{run_program_on_file_with_lookups, RunSummary};
use spanflow::decode::files::write_framed;
use spanflow::decode::write_confluent_header;
use spanflow::generate::{
    encode_datums, video_sessions, write_ocf, Device, GenConfig, Heartbeat, OcfCodec, UserAction,
    HEARTBEAT_SCHEMA,
};
use spanflow::lookup::{Enricher, StaticRows};
use spanflow::spec_file::load;
use spanflow_operators::spec::{BadRecordPolicy, LateEventPolicy};
use spanflow_operators::Program;
use std::collections::{BTreeMap, BTreeSet};
use std::ops::Range;
use std::panic::AssertUnwindSafe;
use std::path::{Path, PathBuf};

pub(crate) const SESSIONS: usize = 8;
const EVENTS_PER_SESSION: usize = 30;
/// Records per block of the hand-built container files.
pub(crate) const PER_BLOCK: usize = 10;

/// A scratch directory, removed when dropped.
pub(crate) struct Scratch(PathBuf);

impl Scratch {
    pub(crate) fn new(test: &str) -> Self {
        let dir =
            std::env::temp_dir().join(format!("spanflow-bad-input-{}-{test}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        Scratch(dir)
    }

    pub(crate) fn write(&self, name: &str, bytes: &[u8]) -> PathBuf {
        let path = self.0.join(name);
        std::fs::write(&path, bytes).unwrap();
        path
    }

    /// A schema directory: id 1 is the heartbeat schema, id 2 a variant whose session key and
    /// time are nullable (so records lacking them can be written at all), id 4 a newer one
    /// whose `UserAction` has a symbol the spec's schema lacks.
    pub(crate) fn registry(&self) -> PathBuf {
        let dir = self.0.join("registry");
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("1.avsc"), HEARTBEAT_SCHEMA).unwrap();
        std::fs::write(dir.join("2-nullable.avsc"), nullable_schema()).unwrap();
        std::fs::write(dir.join("4-newer-symbol.avsc"), newer_symbol_schema()).unwrap();
        dir
    }
}

impl Scratch {
    /// The directory.
    pub(crate) fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn nullable_schema() -> String {
    let key = r#"{"name": "sessionId", "type": "string""#;
    let time = r#""type": {"type": "long", "logicalType": "timestamp-millis"}"#;
    assert!(HEARTBEAT_SCHEMA.contains(key) && HEARTBEAT_SCHEMA.contains(time));
    HEARTBEAT_SCHEMA
        .replace(key, r#"{"name": "sessionId", "type": ["null", "string"]"#)
        .replace(
            time,
            r#""type": ["null", {"type": "long", "logicalType": "timestamp-millis"}]"#,
        )
}

const USER_ACTIONS: &str = r#""symbols": ["seek", "click", "skip"]"#;

fn newer_symbol_schema() -> String {
    assert!(HEARTBEAT_SCHEMA.contains(USER_ACTIONS));
    HEARTBEAT_SCHEMA.replace(
        USER_ACTIONS,
        r#""symbols": ["seek", "click", "skip", "rewind"]"#,
    )
}

/// `UserAction` of a newer writer (schema id 4).
#[derive(Clone, Copy, Serialize)]
#[serde(rename = "UserAction", rename_all = "lowercase")]
enum NewerUserAction {
    #[allow(dead_code)]
    Seek,
    #[allow(dead_code)]
    Click,
    #[allow(dead_code)]
    Skip,
    Rewind,
}

/// A heartbeat of the newer writer schema (id 4).
#[derive(Serialize)]
#[serde(rename = "Heartbeat", rename_all = "camelCase")]
struct NewerHeartbeat {
    session_id: String,
    timestamp: i64,
    seq: i64,
    player_state: Option<String>,
    cdn: Option<String>,
    bitrate_kbps: Option<i32>,
    network: Option<String>,
    user_action: Option<NewerUserAction>,
    device: Device,
    buffer_length_sec: Option<f64>,
    tags: BTreeMap<String, String>,
}

impl NewerHeartbeat {
    /// `h` with the symbol the spec's schema lacks, as a message of schema id 4.
    fn rewind(h: &Heartbeat) -> Vec<u8> {
        let newer = NewerHeartbeat {
            session_id: h.session_id.clone(),
            timestamp: h.timestamp,
            seq: h.seq,
            player_state: h.player_state.clone(),
            cdn: h.cdn.clone(),
            bitrate_kbps: h.bitrate_kbps,
            network: h.network.clone(),
            user_action: Some(NewerUserAction::Rewind),
            device: h.device.clone(),
            buffer_length_sec: h.buffer_length_sec,
            tags: h.tags.clone(),
        };
        let datum = encode_datums(&newer_symbol_schema(), &[newer]).unwrap();
        message(4, &datum[0])
    }
}

/// A heartbeat of the nullable variant schema (id 2).
#[derive(Serialize)]
#[serde(rename = "Heartbeat", rename_all = "camelCase")]
struct LooseHeartbeat {
    session_id: Option<String>,
    timestamp: Option<i64>,
    seq: i64,
    player_state: Option<String>,
    cdn: Option<String>,
    bitrate_kbps: Option<i32>,
    network: Option<String>,
    user_action: Option<UserAction>,
    device: Device,
    buffer_length_sec: Option<f64>,
    tags: BTreeMap<String, String>,
}

impl LooseHeartbeat {
    fn from(h: &Heartbeat) -> Self {
        LooseHeartbeat {
            session_id: Some(h.session_id.clone()),
            timestamp: Some(h.timestamp),
            seq: h.seq,
            player_state: h.player_state.clone(),
            cdn: h.cdn.clone(),
            bitrate_kbps: h.bitrate_kbps,
            network: h.network.clone(),
            user_action: h.user_action,
            device: h.device.clone(),
            buffer_length_sec: h.buffer_length_sec,
            tags: h.tags.clone(),
        }
    }

    fn message(&self) -> Vec<u8> {
        let datum = encode_datums(&nullable_schema(), std::slice::from_ref(self)).unwrap();
        message(2, &datum[0])
    }
}

/// The CIR spec with the given policies.
pub(crate) fn cir(bad: BadRecordPolicy, late: LateEventPolicy) -> Program {
    let path = repo_root().join("dag-specs/video/connection_induced_rebuffering.yaml");
    let mut program = load(&path).program.expect("the shipped CIR spec is valid");
    program.input.on_bad_record = bad;
    program.input.on_late_event = late;
    program
}

pub(crate) fn dropping() -> Program {
    cir(BadRecordPolicy::Drop, LateEventPolicy::Drop)
}

/// Sessions one after the other (`interleave: false`), so blocks of a container file map to
/// known sessions; or interleaved in time like a Kafka topic.
pub(crate) fn events(interleave: bool) -> Vec<Heartbeat> {
    video_sessions(&GenConfig {
        sessions: SESSIONS,
        events_per_session: EVENTS_PER_SESSION,
        interleave,
        ..GenConfig::default()
    })
}

pub(crate) fn message(schema_id: u32, datum: &[u8]) -> Vec<u8> {
    let mut m = Vec::with_capacity(datum.len() + 5);
    write_confluent_header(schema_id, &mut m);
    m.extend_from_slice(datum);
    m
}

pub(crate) fn messages(events: &[Heartbeat]) -> Vec<Vec<u8>> {
    encode_datums(HEARTBEAT_SCHEMA, events)
        .unwrap()
        .iter()
        .map(|d| message(1, d))
        .collect()
}

pub(crate) fn framed(messages: &[Vec<u8>]) -> Vec<u8> {
    let mut out = Vec::new();
    write_framed(&mut out, messages).unwrap();
    out
}

/// Byte offset of each message's length prefix in a framed file.
fn offsets(messages: &[Vec<u8>]) -> Vec<usize> {
    messages
        .iter()
        .scan(0, |at, m| {
            let here = *at;
            *at += 4 + m.len();
            Some(here)
        })
        .collect()
}

pub(crate) fn zigzag(v: i64, out: &mut Vec<u8>) {
    let mut z = ((v << 1) ^ (v >> 63)) as u64;
    while z >= 0x80 {
        out.push((z as u8) | 0x80);
        z >>= 7;
    }
    out.push(z as u8);
}

/// An object container file of `events` in blocks of [`PER_BLOCK`] records, built by hand so
/// the test knows where each block is; returns the bytes and each block's byte range (from its
/// record count to the end of its sync marker).
pub(crate) fn ocf(events: &[Heartbeat], codec: OcfCodec) -> (Vec<u8>, Vec<Range<usize>>) {
    let mut bytes = Vec::new();
    write_ocf::<Heartbeat, _>(HEARTBEAT_SCHEMA, &[], codec, 7, &mut bytes).unwrap();
    let sync = bytes[bytes.len() - 16..].to_vec();
    let datums = encode_datums(HEARTBEAT_SCHEMA, events).unwrap();
    let mut blocks = Vec::new();
    for chunk in datums.chunks(PER_BLOCK) {
        let mut data = chunk.concat();
        if codec == OcfCodec::Deflate {
            data = miniz_oxide::deflate::compress_to_vec(&data, 6);
        }
        let start = bytes.len();
        zigzag(chunk.len() as i64, &mut bytes);
        zigzag(data.len() as i64, &mut bytes);
        bytes.extend_from_slice(&data);
        bytes.extend_from_slice(&sync);
        blocks.push(start..bytes.len());
    }
    (bytes, blocks)
}

pub(crate) fn run(
    program: &Program,
    input: &Path,
    schemas: Option<&Path>,
) -> Result<(String, RunSummary), String> {
    let mut out = Vec::new();
    // Specs with lookups join the rows of their first test (no cluster here).
    let mut lookups = (!program.input.lookups.is_empty()).then(|| {
        let rows = &program.tests[0].lookups;
        let rows = StaticRows::from_spec_rows(&program.input.lookups, rows);
        Enricher::new(program, Box::new(rows.unwrap()))
    });
    let summary =
        run_program_on_file_with_lookups(program, input, schemas, &mut out, lookups.as_mut())?;
    Ok((String::from_utf8(out).unwrap(), summary))
}

/// Output lines by session.
pub(crate) fn by_session(text: &str) -> BTreeMap<String, Vec<String>> {
    let mut m: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for line in text.lines() {
        let row: serde_json::Value = serde_json::from_str(line).unwrap();
        let key = row["session"].as_str().unwrap().to_owned();
        m.entry(key).or_default().push(line.to_owned());
    }
    m
}

/// The output of a clean run over `events`.
pub(crate) fn clean_output(
    scratch: &Scratch,
    events: &[Heartbeat],
) -> BTreeMap<String, Vec<String>> {
    let (bytes, _) = ocf(events, OcfCodec::Null);
    let path = scratch.write("clean.avro", &bytes);
    let (text, summary) = run(&dropping(), &path, None).unwrap();
    assert!(summary.bad_records.is_empty(), "{summary:?}");
    let out = by_session(&text);
    assert_eq!(out.len(), SESSIONS, "one row per session:\n{text}");
    out
}

/// Every session not in `damaged` has exactly its clean rows; damaged ones may differ.
fn assert_intact_sessions_unchanged(
    clean: &BTreeMap<String, Vec<String>>,
    got: &str,
    damaged: &BTreeSet<&str>,
) {
    let got = by_session(got);
    let mut checked = 0;
    for (session, rows) in clean {
        if damaged.contains(session.as_str()) {
            continue;
        }
        assert_eq!(got.get(session), Some(rows), "session {session} changed");
        checked += 1;
    }
    assert!(checked > 0, "no intact session left to compare");
    assert!(
        got.keys().all(|k| clean.contains_key(k)),
        "new sessions appeared"
    );
}

fn sessions_of(events: &[Heartbeat]) -> BTreeSet<&str> {
    events.iter().map(|e| e.session_id.as_str()).collect()
}

pub(crate) fn counts(pairs: &[(&'static str, u64)]) -> BTreeMap<&'static str, u64> {
    pairs.iter().copied().collect()
}

#[test]
fn hand_built_container_files_read_like_generated_ones() {
    // Guards the helpers below: a clean hand-built file gives the same rows in both codecs.
    let scratch = Scratch::new("hand-built");
    let events = events(false);
    let clean = clean_output(&scratch, &events);
    let (bytes, blocks) = ocf(&events, OcfCodec::Deflate);
    assert_eq!(blocks.len(), SESSIONS * EVENTS_PER_SESSION / PER_BLOCK);
    let (text, summary) = run(&dropping(), &scratch.write("d.avro", &bytes), None).unwrap();
    assert!(summary.bad_records.is_empty());
    assert_eq!(by_session(&text), clean);
}

#[test]
fn truncated_container_file_keeps_every_record_before_the_cut() {
    let scratch = Scratch::new("truncated-ocf");
    let events = events(false);
    let clean = clean_output(&scratch, &events);
    let (bytes, blocks) = ocf(&events, OcfCodec::Null);
    // Cut in the middle of block 19: blocks 19.. (sessions 6 and 7) are lost.
    let cut = 19;
    let path = scratch.write("cut.avro", &bytes[..blocks[cut].start + 25]);

    let (text, summary) = run(&dropping(), &path, None).unwrap();
    assert_eq!(summary.records, (cut * PER_BLOCK) as u64);
    // How many records the cut-off part held is unknown: one loss, flagged as a lower bound.
    assert_eq!(summary.bad_records, counts(&[("truncated_file", 1)]));
    assert_eq!(summary.unknown_losses, 1);
    let lost = sessions_of(&events[cut * PER_BLOCK..]);
    assert_eq!(lost.len(), 2);
    assert_intact_sessions_unchanged(&clean, &text, &lost);

    let e = run(
        &cir(BadRecordPolicy::Fail, LateEventPolicy::Drop),
        &path,
        None,
    )
    .unwrap_err();
    let at = format!(
        "record {} (record 0 of block {cut} at byte {})",
        cut * PER_BLOCK,
        blocks[cut].start
    );
    assert!(e.contains(&at), "{e}");
    assert!(e.contains("unreadable from here on"), "{e}");
    assert!(e.contains("on_bad_record is `fail`"), "{e}");
}

#[test]
fn corrupt_container_block_loses_only_that_block() {
    let scratch = Scratch::new("corrupt-block");
    let events = events(false);
    let clean = clean_output(&scratch, &events);
    let (mut bytes, blocks) = ocf(&events, OcfCodec::Deflate);
    // Overwrite block 4's deflate data (not its header or sync marker): 0xff starts a deflate
    // block of the reserved type 3, which no inflater accepts.
    let bad = 4;
    let data = blocks[bad].start + 3..blocks[bad].end - 16;
    bytes[data].fill(0xff);
    let path = scratch.write("corrupt.avro", &bytes);

    let (text, summary) = run(&dropping(), &path, None).unwrap();
    assert_eq!(summary.records, (events.len() - PER_BLOCK) as u64);
    // One error, but every record of the block is counted (the block header gives the number).
    assert_eq!(
        summary.bad_records,
        counts(&[("corrupt_block", PER_BLOCK as u64)])
    );
    assert_eq!(summary.unknown_losses, 0);
    let lost = sessions_of(&events[bad * PER_BLOCK..(bad + 1) * PER_BLOCK]);
    assert_intact_sessions_unchanged(&clean, &text, &lost);

    let e = run(
        &cir(BadRecordPolicy::Fail, LateEventPolicy::Drop),
        &path,
        None,
    )
    .unwrap_err();
    assert!(
        e.contains(&format!("block {bad} at byte {}", blocks[bad].start)),
        "{e}"
    );
    assert!(e.contains("corrupt block, 10 records skipped"), "{e}");
    assert!(e.contains("cannot be inflated"), "{e}");
}

/// The `fail` policy's error for `path`: the first problem the reader found.
fn first_error(path: &Path) -> String {
    run(
        &cir(BadRecordPolicy::Fail, LateEventPolicy::Drop),
        path,
        None,
    )
    .unwrap_err()
}

#[test]
fn damaged_sync_markers_lose_only_their_own_blocks() {
    let scratch = Scratch::new("corrupt-sync");
    let events = events(false);
    let clean = clean_output(&scratch, &events);
    for codec in [OcfCodec::Null, OcfCodec::Deflate] {
        let (bytes, blocks) = ocf(&events, codec);
        let garble_marker = |bytes: &mut Vec<u8>, block: usize| {
            for b in &mut bytes[blocks[block].end - 16..blocks[block].end] {
                *b ^= 0xa5;
            }
        };
        // One damaged marker: the block before it is lost (its records are counted from its
        // header), the intact block after it is read.
        let mut one = bytes.clone();
        garble_marker(&mut one, 4);
        let path = scratch.write("one-marker.avro", &one);
        let (text, summary) = run(&dropping(), &path, None).unwrap();
        assert_eq!(
            summary.records,
            (events.len() - PER_BLOCK) as u64,
            "{codec:?}: {summary:?}"
        );
        assert_eq!(
            summary.bad_records,
            counts(&[("corrupt_block", PER_BLOCK as u64)])
        );
        assert_eq!(summary.unknown_losses, 0);
        let lost = sessions_of(&events[4 * PER_BLOCK..5 * PER_BLOCK]);
        assert_intact_sessions_unchanged(&clean, &text, &lost);
        let e = first_error(&path);
        assert!(
            e.contains(&format!("block 4 at byte {}", blocks[4].start))
                && e.contains("corrupt block, 10 records skipped")
                && e.contains("no sync marker")
                && e.contains(&format!("resuming at byte {}", blocks[5].start)),
            "{codec:?}: {e}"
        );

        // Two damaged markers in a row: both blocks are lost, the third is read.
        let mut two = bytes.clone();
        garble_marker(&mut two, 4);
        garble_marker(&mut two, 5);
        let path = scratch.write("two-markers.avro", &two);
        let (text, summary) = run(&dropping(), &path, None).unwrap();
        assert_eq!(summary.records, (events.len() - 2 * PER_BLOCK) as u64);
        assert_eq!(
            summary.bad_records,
            counts(&[("corrupt_block", 2 * PER_BLOCK as u64)])
        );
        assert_eq!(summary.unknown_losses, 0);
        let lost = sessions_of(&events[4 * PER_BLOCK..6 * PER_BLOCK]);
        assert_intact_sessions_unchanged(&clean, &text, &lost);
        let e = first_error(&path);
        assert!(
            e.contains("corrupt block, 20 records skipped")
                && e.contains(&format!("resuming at byte {}", blocks[6].start)),
            "{codec:?}: {e}"
        );

        // A damaged byte size: the block's own (intact) marker is found and reading resumes
        // right after it; how many records the header really meant is unknown.
        let mut size = bytes.clone();
        let at = blocks[4].start + 1; // after the 1-byte count (zigzag(10))
        assert_eq!(size[at] & 0x80, 0x80, "the size is a multi-byte varint");
        size[at] ^= 0x10;
        let path = scratch.write("size.avro", &size);
        let (text, summary) = run(&dropping(), &path, None).unwrap();
        assert_eq!(summary.records, (events.len() - PER_BLOCK) as u64);
        assert_eq!(summary.bad_records, counts(&[("corrupt_block", 1)]));
        assert_eq!(summary.unknown_losses, 1);
        let lost = sessions_of(&events[4 * PER_BLOCK..5 * PER_BLOCK]);
        assert_intact_sessions_unchanged(&clean, &text, &lost);
        let e = first_error(&path);
        assert!(
            e.contains("an unknown number of records")
                && e.contains(&format!("resuming at byte {}", blocks[5].start)),
            "{codec:?}: {e}"
        );

        // An unreadable header (a varint of over 10 bytes) mid-file is corruption, not the end.
        let mut header = bytes.clone();
        header[blocks[4].start..blocks[4].start + 11].fill(0xff);
        let path = scratch.write("header.avro", &header);
        let (_, summary) = run(&dropping(), &path, None).unwrap();
        assert_eq!(summary.records, (events.len() - PER_BLOCK) as u64);
        let e = first_error(&path);
        assert!(
            e.contains("the block header is unreadable")
                && e.contains(&format!("resuming at byte {}", blocks[5].start)),
            "{codec:?}: {e}"
        );
    }
}

#[test]
fn malformed_record_in_a_block_loses_only_the_rest_of_the_block() {
    let scratch = Scratch::new("malformed-record");
    let events = events(false);
    let clean = clean_output(&scratch, &events);
    let (mut bytes, blocks) = ocf(&events, OcfCodec::Null);
    // Record 3 of block 12: after its session id (length byte + 36 bytes), timestamp and seq
    // comes the `playerState` union index; branch 5 of a 2-branch union is malformed.
    let (block, k) = (12, 3);
    let datums = encode_datums(HEARTBEAT_SCHEMA, &events).unwrap();
    let first = block * PER_BLOCK;
    let mut at = blocks[block].start;
    let mut header = Vec::new();
    zigzag(PER_BLOCK as i64, &mut header);
    zigzag(
        datums[first..first + PER_BLOCK].concat().len() as i64,
        &mut header,
    );
    at += header.len() + datums[first..first + k].concat().len();
    let e = &events[first + k];
    let mut prefix = vec![72u8]; // zigzag(36)
    prefix.extend_from_slice(e.session_id.as_bytes());
    zigzag(e.timestamp, &mut prefix);
    zigzag(e.seq, &mut prefix);
    assert_eq!(&bytes[at..at + prefix.len()], &prefix[..]);
    bytes[at + prefix.len()] = 10; // zigzag(5)
    let path = scratch.write("malformed.avro", &bytes);

    let (text, summary) = run(&dropping(), &path, None).unwrap();
    assert_eq!(summary.records, (events.len() - (PER_BLOCK - k)) as u64);
    // The malformed record, then the rest of its block, which can no longer be delimited.
    assert_eq!(
        summary.bad_records,
        counts(&[
            ("invalid_union_index", 1),
            ("corrupt_block", (PER_BLOCK - k - 1) as u64)
        ])
    );
    assert_eq!(summary.unknown_losses, 0);
    let lost = sessions_of(&events[first + k..first + PER_BLOCK]);
    assert_intact_sessions_unchanged(&clean, &text, &lost);

    let e = run(
        &cir(BadRecordPolicy::Fail, LateEventPolicy::Drop),
        &path,
        None,
    )
    .unwrap_err();
    assert!(
        e.contains(&format!(
            "record {} (record {k} of block {block}",
            first + k
        )),
        "{e}"
    );
    assert!(
        e.contains("invalid_union_index") && e.contains("playerState"),
        "{e}"
    );
}

/// The kinds of bad message a framed file (a Kafka topic dump) can hold.
pub(crate) struct BadMessage {
    pub(crate) reason: &'static str,
    /// Text the `fail` policy's error must contain besides the position.
    pub(crate) says: &'static str,
    pub(crate) bytes: Vec<u8>,
}

/// Bad messages made from good ones, one or more per kind of damage. The first ones are the
/// classes every policy is proven on (file and Kafka runs); [`more_bad_messages`] adds the
/// damage inside a datum.
pub(crate) fn bad_messages(events: &[Heartbeat]) -> Vec<BadMessage> {
    let good = messages(&events[..1]).remove(0);
    let mut wrong_magic = good.clone();
    wrong_magic[0] = 1;
    let mut unknown_id = good.clone();
    unknown_id[1..5].copy_from_slice(&99u32.to_be_bytes());
    let truncated = good[..good.len() / 2].to_vec();
    let mut garbage = message(1, &[]);
    garbage.extend_from_slice(&[0xff; 12]);
    let mut null_key = LooseHeartbeat::from(&events[3]);
    null_key.session_id = None;
    let mut null_time = LooseHeartbeat::from(&events[3]);
    null_time.timestamp = None;
    vec![
        BadMessage {
            reason: "bad_magic",
            says: "bad magic byte 0x01",
            bytes: wrong_magic,
        },
        BadMessage {
            reason: "unknown_schema_id",
            says: "unknown schema id 99",
            bytes: unknown_id,
        },
        BadMessage {
            reason: "truncated",
            says: "malformed Avro datum (truncated)",
            bytes: truncated,
        },
        BadMessage {
            reason: "invalid_varint",
            says: "malformed Avro datum (invalid_varint) at byte 10 in field `sessionId`",
            bytes: garbage,
        },
        BadMessage {
            reason: "bad_magic",
            says: "bad magic byte 0x7b",
            bytes: br#"{"sessionId": "json by mistake"}"#.to_vec(),
        },
        BadMessage {
            reason: "missing_session_key",
            says: "the session key `sessionId` is null",
            bytes: null_key.message(),
        },
        BadMessage {
            reason: "missing_time",
            says: "the event time `timestamp` is null",
            bytes: null_time.message(),
        },
    ]
}

/// Damage inside the datum of `events[0]`'s message, at known fields: a union branch that does
/// not exist, a negative and a huge (2^40) string length, a session key that is not UTF-8; and
/// a value the spec's schema cannot read: an enum symbol it lacks (no `default`).
pub(crate) fn more_bad_messages(events: &[Heartbeat]) -> Vec<BadMessage> {
    let good = messages(&events[..1]).remove(0);
    let e = &events[0];
    // The datum: sessionId (length, bytes), timestamp, seq, then the `playerState` union index.
    assert_eq!(e.session_id.len(), 36, "one-byte string length");
    let key_at = 5; // after the Confluent header
    let mut prefix = Vec::new();
    zigzag(e.timestamp, &mut prefix);
    zigzag(e.seq, &mut prefix);
    let union_at = key_at + 1 + 36 + prefix.len();
    assert_eq!(good[key_at], 72, "zigzag(36)");
    assert_eq!(&good[key_at + 37..union_at], &prefix[..]);

    let mut bad_union = good.clone();
    bad_union[union_at] = 10; // zigzag(5): branch 5 of ["null", "string"]
    let mut negative = good.clone();
    negative[key_at] = 5; // zigzag(-3)
    let mut huge = good[..key_at].to_vec();
    zigzag(1 << 40, &mut huge);
    huge.extend_from_slice(&good[key_at + 1..]);
    let mut not_utf8 = good.clone();
    not_utf8[key_at + 1 + 3] = 0xff;
    vec![
        BadMessage {
            reason: "invalid_union_index",
            says:
                "in field `playerState`: union branch 5 does not exist (the union has 2 branches)",
            bytes: bad_union,
        },
        BadMessage {
            reason: "invalid_length",
            says: "in field `sessionId`: negative length or block size -3",
            bytes: negative,
        },
        BadMessage {
            reason: "truncated",
            says: "in field `sessionId`: 1099511627776 more bytes needed",
            bytes: huge,
        },
        BadMessage {
            reason: "invalid_utf8",
            says: "in field `sessionId`: string of 36 bytes is not UTF-8 (first bad byte at 3)",
            bytes: not_utf8,
        },
        BadMessage {
            reason: "unknown_enum_symbol",
            says: "`userAction` cannot be read with the reader schema (input.schema): the \
                   writer's symbol `rewind` is not in the reader enum",
            bytes: NewerHeartbeat::rewind(e),
        },
    ]
}

#[test]
fn bad_messages_in_a_framed_file_are_dropped_and_counted_by_reason() {
    let scratch = Scratch::new("framed-drop");
    let schemas = scratch.registry();
    let events = events(true);
    let clean = clean_output(&scratch, &events);
    // Bad messages between the good ones (every 25th slot), plus stray bytes at the end.
    let mut all = messages(&events);
    let mut bad = bad_messages(&events);
    bad.extend(more_bad_messages(&events));
    for (i, b) in bad.iter().enumerate().rev() {
        all.insert((i + 1) * 20, b.bytes.clone());
    }
    let mut bytes = framed(&all);
    bytes.extend_from_slice(&[0, 0, 1]);
    let path = scratch.write("bad.framed", &bytes);

    let (text, summary) = run(&dropping(), &path, Some(&schemas)).unwrap();
    assert_eq!(summary.records, events.len() as u64);
    assert_eq!(
        summary.bad_records,
        counts(&[
            ("bad_magic", 2),
            ("invalid_length", 1),
            ("invalid_union_index", 1),
            ("invalid_utf8", 1),
            ("invalid_varint", 1),
            ("missing_session_key", 1),
            ("missing_time", 1),
            ("truncated", 2),
            ("truncated_file", 1),
            ("unknown_enum_symbol", 1),
            ("unknown_schema_id", 1),
        ])
    );
    // Only the stray bytes' loss is of unknown size.
    assert_eq!(summary.unknown_losses, 1);
    // No good record was damaged, so every session comes out exactly as in a clean run.
    assert_eq!(by_session(&text), clean);
}

#[test]
fn a_file_run_with_dead_letter_policies_counts_and_skips_like_drop() {
    // A file run produces no dead letters (its records come from no Kafka partition; the file
    // keeps them): bad records and late events are counted and skipped, never a crash.
    let scratch = Scratch::new("framed-dead-letter");
    let schemas = scratch.registry();
    let events = events(true);
    let clean = clean_output(&scratch, &events);
    let (late, _, _, _) = with_late_event(&events);
    let mut all = messages(&late);
    let mut bad = bad_messages(&events);
    bad.extend(more_bad_messages(&events));
    for (i, b) in bad.iter().enumerate().rev() {
        all.insert((i + 1) * 20, b.bytes.clone());
    }
    let path = scratch.write("dead-letter.framed", &framed(&all));
    let mut program = cir(BadRecordPolicy::DeadLetter, LateEventPolicy::DeadLetter);
    program.input.dead_letter = Some(spanflow_operators::program::DeadLetterPlan {
        topic: "heartbeats.dead-letters".into(),
    });
    let (text, summary) = run(&program, &path, Some(&schemas)).unwrap();
    assert_eq!(summary.bad_records.values().sum::<u64>(), bad.len() as u64);
    assert_eq!(summary.stats.late_dead_lettered, 1);
    assert_eq!(by_session(&text), clean);
}

#[test]
fn a_damaged_message_loses_only_its_own_record() {
    let scratch = Scratch::new("framed-replace");
    let schemas = scratch.registry();
    let events = events(true);
    let clean = clean_output(&scratch, &events);
    let mut all = messages(&events);
    // Cut the datum of message 100 short: its record is lost, nothing else.
    let m = &mut all[100];
    m.truncate(m.len() - 3);
    let path = scratch.write("damaged.framed", &framed(&all));
    let (text, summary) = run(&dropping(), &path, Some(&schemas)).unwrap();
    assert_eq!(summary.records, events.len() as u64 - 1);
    assert_eq!(summary.bad_records, counts(&[("truncated", 1)]));
    let damaged = BTreeSet::from([events[100].session_id.as_str()]);
    assert_intact_sessions_unchanged(&clean, &text, &damaged);
}

#[test]
fn with_on_bad_record_fail_the_error_names_the_message_and_the_reason() {
    let scratch = Scratch::new("framed-fail");
    let schemas = scratch.registry();
    let events = events(true);
    let good = messages(&events[..40]);
    let at = offsets(&good)[17];
    let program = cir(BadRecordPolicy::Fail, LateEventPolicy::Drop);
    for b in bad_messages(&events)
        .into_iter()
        .chain(more_bad_messages(&events))
    {
        let mut all = good.clone();
        all.insert(17, b.bytes);
        let path = scratch.write("one-bad.framed", &framed(&all));
        let e = run(&program, &path, Some(&schemas)).unwrap_err();
        let position = format!("message 17 (byte {at})");
        assert!(
            e.contains(&position) && e.contains(b.says) && e.contains("on_bad_record is `fail`"),
            "{}: {e}",
            b.reason
        );
    }
    // Stray bytes after the last message.
    let mut bytes = framed(&good);
    let end = bytes.len();
    bytes.extend_from_slice(&[0, 0, 1]);
    let path = scratch.write("stray.framed", &bytes);
    let e = run(&program, &path, Some(&schemas)).unwrap_err();
    assert!(e.contains(&format!("message 40 (byte {end})")), "{e}");
    assert!(e.contains("3 stray bytes"), "{e}");
}

/// The events with a late event of one session inserted: a `buffer` change stamped 1 ms after
/// the session's 5th event, placed after its 12th. Returns the events, the session, the late
/// time and the session's newest time when the late event arrives.
pub(crate) fn with_late_event(events: &[Heartbeat]) -> (Vec<Heartbeat>, String, i64, i64) {
    let session = events[0].session_id.clone();
    let own: Vec<usize> = (0..events.len())
        .filter(|&i| events[i].session_id == session)
        .collect();
    let mut late = events[own[4]].clone();
    late.timestamp += 1;
    late.player_state = Some("buffer".into());
    assert!(late.timestamp < events[own[5]].timestamp);
    let newest = events[own[11]].timestamp;
    let mut out = events.to_vec();
    out.insert(own[11] + 1, late.clone());
    (out, session, late.timestamp, newest)
}

#[test]
fn late_events_are_dropped_and_counted() {
    let scratch = Scratch::new("late-drop");
    let events = events(true);
    let clean = clean_output(&scratch, &events);
    let (late, _, _, _) = with_late_event(&events);
    let (bytes, _) = ocf(&late, OcfCodec::Null);
    let path = scratch.write("late.avro", &bytes);
    let (text, summary) = run(&dropping(), &path, None).unwrap();
    assert_eq!(summary.stats.late_dropped, 1);
    assert_eq!(summary.stats.events, events.len() as u64);
    assert!(summary.bad_records.is_empty());
    // The late `buffer` change leaves no trace in its session's rows.
    assert_eq!(by_session(&text), clean);
}

#[test]
fn late_events_with_fail_name_the_session_and_both_times() {
    let scratch = Scratch::new("late-fail");
    let (late, session, time, newest) = with_late_event(&events(true));
    let (bytes, _) = ocf(&late, OcfCodec::Null);
    let path = scratch.write("late.avro", &bytes);
    let program = cir(BadRecordPolicy::Drop, LateEventPolicy::Fail);
    let e = run(&program, &path, None).unwrap_err();
    let want = format!(
        "session `{session}`: event at {time} ms is more than input.lateness_secs (0 s) behind the session's newest event at {newest} ms"
    );
    assert!(e.contains(&want), "{e}");
    assert!(e.contains("on_late_event is `fail`"), "{e}");
}

#[test]
fn cutting_a_file_anywhere_keeps_every_complete_record_before_the_cut() {
    let scratch = Scratch::new("cut-anywhere");
    let schemas = scratch.registry();
    let events = events(true);
    let program = dropping();

    let all = messages(&events);
    let starts = offsets(&all);
    let bytes = framed(&all);
    for cut in (1..bytes.len()).step_by(211) {
        let path = scratch.write("cut.framed", &bytes[..cut]);
        let (_, s) = run(&program, &path, Some(&schemas)).unwrap();
        let complete = starts
            .iter()
            .zip(&all)
            .filter(|(o, m)| *o + 4 + m.len() <= cut);
        assert_eq!(s.records, complete.count() as u64, "framed cut at {cut}");
    }

    let (bytes, blocks) = ocf(&events, OcfCodec::Deflate);
    for cut in (blocks[0].start..bytes.len()).step_by(97) {
        let path = scratch.write("cut.avro", &bytes[..cut]);
        let (_, s) = run(&program, &path, None).unwrap();
        let complete = blocks.iter().filter(|b| b.end <= cut).count();
        assert_eq!(s.records, (complete * PER_BLOCK) as u64, "OCF cut at {cut}");
    }
}

#[test]
fn random_damage_never_crashes_a_run() {
    let scratch = Scratch::new("random-damage");
    let schemas = scratch.registry();
    let events = events(true);
    let framed_bytes = framed(&messages(&events));
    let (null_ocf, null_blocks) = ocf(&events, OcfCodec::Null);
    let (deflate_ocf, deflate_blocks) = ocf(&events, OcfCodec::Deflate);
    let program = dropping();
    let mut rng = ChaCha8Rng::seed_from_u64(2024);
    let (mut panics, mut dropped) = (Vec::new(), 0);
    for round in 0..60 {
        // Damage starts past a container's header: a damaged header is a file-level error.
        for (name, clean, from, schemas) in [
            ("framed", &framed_bytes, 0, Some(schemas.as_path())),
            ("null.avro", &null_ocf, null_blocks[0].start, None),
            ("deflate.avro", &deflate_ocf, deflate_blocks[0].start, None),
        ] {
            let mut bytes = clean.clone();
            for _ in 0..rng.random_range(1..6) {
                let i = rng.random_range(from..bytes.len());
                bytes[i] = rng.random();
            }
            let path = scratch.write(name, &bytes);
            let outcome =
                std::panic::catch_unwind(AssertUnwindSafe(|| run(&program, &path, schemas)));
            match outcome {
                Err(_) => panics.push(format!("{name}, round {round}")),
                // With both policies `drop`, damage costs records, never the run.
                Ok(Err(e)) => panic!("{name}, round {round}: {e}"),
                Ok(Ok((_, s))) => dropped += s.bad_records.values().sum::<u64>(),
            }
        }
    }
    assert!(panics.is_empty(), "runs panicked: {panics:?}");
    // The damage was real: most of it is detected and dropped (a changed byte inside a string
    // or a number is valid Avro and cannot be).
    assert!(
        dropped > 60,
        "only {dropped} bad records in 180 damaged files"
    );
}

#[test]
fn extreme_event_times_never_crash_a_run() {
    // Any Avro long is a valid `timestamp-millis`, up to `i64::MAX` (which the engine also uses
    // as the open end of a span). Operators add windows (`t + 5 s`) and evaluation grids
    // (multiples of 60 s) to times: such records must be rejected as bad records or handled,
    // never overflow. Times within ±9e15 ms (285,000 years, the range float times accept) are
    // ordinary and must give rows.
    let scratch = Scratch::new("extreme-times");
    let schemas = scratch.registry();
    let base = events(false);
    let edge = 9_000_000_000_000_000 - 1;
    let sessions: [[i64; 3]; 5] = [
        [-1, 0, 1],
        [edge - 7000, edge - 1, edge],
        [-edge, -edge + 1, -edge + 6000],
        [i64::MAX - 7000, i64::MAX - 1, i64::MAX],
        [i64::MIN, i64::MIN + 1, i64::MIN + 6000],
    ];
    let mut extreme = Vec::new();
    for (k, times) in sessions.iter().enumerate() {
        for (i, &t) in times.iter().enumerate() {
            let mut e = base[i].clone();
            e.session_id = format!("extreme-{k}");
            e.timestamp = t;
            e.seq = i as i64;
            e.player_state = Some(["play", "buffer", "play"][i].into());
            e.user_action = (i == 1).then_some(UserAction::Seek);
            extreme.push(e);
        }
    }
    let path = scratch.write("extreme.framed", &framed(&messages(&extreme)));
    for spec in shipped_specs_on_heartbeats() {
        let program = load(&spec).program.unwrap();
        let outcome =
            std::panic::catch_unwind(AssertUnwindSafe(|| run(&program, &path, Some(&schemas))));
        let (text, summary) = outcome
            .unwrap_or_else(|_| panic!("{}: a run over extreme times panicked", spec.display()))
            .unwrap_or_else(|e| panic!("{}: {e}", spec.display()));
        let dropped: u64 = summary.bad_records.values().sum();
        assert_eq!(summary.records + dropped, 15, "{}", spec.display());
        assert!(summary
            .bad_records
            .keys()
            .all(|r| *r == "time_out_of_range"));
        let sessions: BTreeSet<String> = by_session(&text).into_keys().collect();
        for ordinary in ["extreme-0", "extreme-1", "extreme-2"] {
            assert!(
                sessions.contains(ordinary),
                "{}: no rows for {ordinary}",
                spec.display()
            );
        }
    }
}

fn shipped_specs_on_heartbeats() -> Vec<PathBuf> {
    let specs: Vec<PathBuf> = crate::specs::shipped_specs()
        .into_iter()
        .filter(|p| {
            std::fs::read_to_string(p)
                .unwrap()
                .contains("heartbeat.avsc")
        })
        .collect();
    assert!(specs.len() >= 2);
    specs
}

#[test]
fn records_of_other_types_on_a_shared_topic_are_skipped_not_bad() {
    // TopicRecordNameStrategy: heartbeats (id 1) and device telemetry (id 3) interleaved; the
    // spec selects heartbeats by record name, so telemetry is neither read nor a bad record,
    // even with on_bad_record: fail.
    use spanflow::generate::{device_telemetry, TELEMETRY_SCHEMA};
    let scratch = Scratch::new("record-name");
    let schemas = scratch.registry();
    std::fs::write(schemas.join("3-telemetry.avsc"), TELEMETRY_SCHEMA).unwrap();
    let beats = events(true);
    let readings = device_telemetry(&GenConfig::telemetry_fixture());
    let telemetry: Vec<Vec<u8>> = encode_datums(TELEMETRY_SCHEMA, &readings)
        .unwrap()
        .iter()
        .map(|d| message(3, d))
        .collect();
    let mut mixed = Vec::new();
    let mut other = telemetry.iter();
    for m in messages(&beats) {
        mixed.push(m);
        mixed.extend(other.next().cloned());
    }
    let path = scratch.write("mixed.framed", &framed(&mixed));
    let mut program = cir(BadRecordPolicy::Fail, LateEventPolicy::Drop);
    program.input.record_name = Some("io.spanflow.video.Heartbeat".into());
    let (text, summary) = run(&program, &path, Some(&schemas)).unwrap();
    assert_eq!(
        summary.other_records,
        telemetry.len().min(beats.len()) as u64
    );
    assert_eq!(summary.records as usize, beats.len());
    assert_eq!(by_session(&text), clean_output(&scratch, &beats));
}
