//! Object container files and framed files, intact and damaged.

use super::store::{framed, heartbeat_projection, temp_dir};
use super::*;
use crate::decode::files::{
    detect_format, write_framed, FileFormat, FramedReader, OcfReader, Position, ReadError,
    RecordReader,
};
use crate::decode::{MalformedKind, SchemaStore};
use crate::generate::{
    encode_datums, video_sessions, write_ocf, GenConfig, Heartbeat, OcfCodec, HEARTBEAT_SCHEMA,
};
use apache_avro::{Codec, DeflateSettings, Writer};
use std::cell::Cell;
use std::io::{self, BufReader, Read};
use std::path::Path;
use std::rc::Rc;

fn events(n_sessions: usize) -> Vec<Heartbeat> {
    video_sessions(&GenConfig {
        sessions: n_sessions,
        events_per_session: 30,
        ..GenConfig::default()
    })
}

/// An OCF with blocks of about `block_size` bytes.
fn ocf(items: &[Heartbeat], codec: Codec, block_size: usize) -> Vec<u8> {
    let schema = apache_avro::Schema::parse_str(HEARTBEAT_SCHEMA).unwrap();
    let mut w = Writer::builder()
        .schema(&schema)
        .writer(Vec::new())
        .codec(codec)
        .block_size(block_size)
        .build()
        .unwrap();
    for i in items {
        w.append_ser(i).unwrap();
    }
    w.into_inner().unwrap()
}

/// Collects (session key, time) of good records and the errors.
fn read_all(
    mut reader: impl Iterator<Item = Result<(Position, DecodedEvent), ReadError>>,
) -> (Vec<(String, i64)>, Vec<ReadError>) {
    let (mut good, mut bad) = (Vec::new(), Vec::new());
    for r in &mut reader {
        match r {
            Ok((_, e)) => good.push((e.session_key.to_string(), e.record.time)),
            Err(e) => bad.push(e),
        }
    }
    (good, bad)
}

fn keys(items: &[Heartbeat]) -> Vec<(String, i64)> {
    items
        .iter()
        .map(|h| (h.session_id.clone(), h.timestamp))
        .collect()
}

#[test]
fn object_container_files_read_with_null_and_deflate_codecs() {
    let items = events(6);
    for codec in [OcfCodec::Null, OcfCodec::Deflate] {
        let mut bytes = Vec::new();
        write_ocf(HEARTBEAT_SCHEMA, &items, codec, 1, &mut bytes).unwrap();
        assert_eq!(detect_format(&bytes), FileFormat::Ocf);
        let reader = OcfReader::new(&bytes[..], &heartbeat_projection()).unwrap();
        assert_eq!(
            reader.schema().root_name(),
            Some("io.spanflow.video.Heartbeat")
        );
        let (good, bad) = read_all(reader);
        assert!(bad.is_empty(), "{bad:?}");
        assert_eq!(good, keys(&items));
    }
}

#[test]
fn a_malformed_record_loses_only_the_rest_of_its_block() {
    let items = events(6);
    let mut bytes = ocf(&items, Codec::Null, 2000);
    // Make record 40's session id length negative.
    let datum = &encode_datums(HEARTBEAT_SCHEMA, &items[40..41]).unwrap()[0];
    let at = bytes
        .windows(datum.len())
        .position(|w| w == datum.as_slice())
        .expect("record 40 is stored raw");
    bytes[at] = 0x01;
    let (good, bad) = read_all(OcfReader::new(&bytes[..], &heartbeat_projection()).unwrap());
    let ReadError::Record {
        at:
            Position::Block {
                index,
                in_block,
                block,
                ..
            },
        error,
    } = &bad[0]
    else {
        panic!("{bad:?}")
    };
    assert_eq!((*index, error.reason()), (40, "invalid_length"));
    assert!(*block > 0, "the file has several blocks");
    let ReadError::CorruptBlock {
        lost: Some(lost), ..
    } = &bad[1]
    else {
        panic!("{bad:?}")
    };
    assert_eq!(bad.len(), 2);
    let block_start = 40 - *in_block as usize;
    let block_end = 41 + *lost as usize;
    let mut expected = keys(&items[..40]);
    expected.extend(keys(&items[block_end..]));
    assert_eq!(
        good, expected,
        "records before and after the damaged block survive"
    );
    assert!(block_start < 40 && block_end < items.len());
}

#[test]
fn corrupt_blocks_are_skipped_by_resyncing_on_the_marker() {
    let items = events(6);
    let clean = ocf(&items, Codec::Deflate(DeflateSettings::default()), 1500);
    let (all, _) = read_all(OcfReader::new(&clean[..], &heartbeat_projection()).unwrap());
    assert_eq!(all.len(), items.len());
    // Damage the middle of the file: deflate data, a block header, or a sync marker.
    for at in [clean.len() / 2, clean.len() / 3, clean.len() * 2 / 3] {
        let mut bytes = clean.clone();
        for b in &mut bytes[at..at + 8] {
            *b ^= 0x5a;
        }
        let (good, bad) = read_all(OcfReader::new(&bytes[..], &heartbeat_projection()).unwrap());
        assert!(!bad.is_empty(), "damage at {at} is reported");
        assert!(
            bad.iter()
                .all(|e| matches!(e, ReadError::CorruptBlock { .. } | ReadError::Record { .. })),
            "{bad:?}"
        );
        assert!(
            good.len() >= items.len() / 2,
            "only the damaged blocks are lost: {} of {}",
            good.len(),
            items.len()
        );
        assert!(good.iter().all(|g| all.contains(g)), "no invented records");
        assert_eq!(good.last(), all.last(), "reading resumed after the damage");
    }
}

#[test]
fn a_truncated_container_file_keeps_its_complete_blocks() {
    let items = events(4);
    let bytes = ocf(&items, Codec::Null, 1500);
    let cut = bytes.len() - 100;
    let (good, bad) = read_all(OcfReader::new(&bytes[..cut], &heartbeat_projection()).unwrap());
    assert_eq!(bad.len(), 1);
    assert_eq!(bad[0].reason(), "truncated_file", "{}", bad[0]);
    assert!(!good.is_empty() && good.len() < items.len());
    assert_eq!(good, keys(&items[..good.len()]));
    // A damaged header is a file error.
    let mut header = bytes.clone();
    header[3] = 2;
    assert!(OcfReader::new(&header[..], &heartbeat_projection()).is_err());
}

fn framed_file(items: &[Heartbeat]) -> Vec<Vec<u8>> {
    encode_datums(HEARTBEAT_SCHEMA, items)
        .unwrap()
        .iter()
        .map(|d| framed(1, d))
        .collect()
}

fn registry(name: &str) -> std::path::PathBuf {
    let dir = temp_dir(name);
    std::fs::write(dir.join("1.avsc"), HEARTBEAT_SCHEMA).unwrap();
    dir
}

#[test]
fn framed_files_lose_only_their_bad_messages() {
    let items = events(3);
    let mut messages = framed_file(&items);
    messages[5][0] = 9; // bad magic
    messages[10][1] = 0x7f; // unknown schema id
    messages[20].truncate(12); // truncated datum
    messages[30].clear(); // tombstone
    let mut bytes = Vec::new();
    assert_eq!(
        write_framed(&mut bytes, &messages).unwrap(),
        messages.len() as u64
    );
    assert_eq!(detect_format(&bytes), FileFormat::Framed);
    let dir = registry("framed");
    let store = SchemaStore::from_dir(&dir, heartbeat_projection()).unwrap();
    let (good, bad) = read_all(FramedReader::new(&bytes[..], store));
    let reasons: Vec<_> = bad.iter().map(|e| (e.position(), e.reason())).collect();
    let offset = |i: usize| {
        messages[..i]
            .iter()
            .map(|m| 4 + m.len() as u64)
            .sum::<u64>()
    };
    let pos = |i: usize| Position::Message {
        index: i as u64,
        offset: offset(i),
    };
    assert_eq!(
        reasons,
        [
            (pos(5), "bad_magic"),
            (pos(10), "unknown_schema_id"),
            (pos(20), "truncated"),
            (pos(30), "tombstone")
        ]
    );
    let expected: Vec<_> = keys(&items)
        .into_iter()
        .enumerate()
        .filter(|(i, _)| ![5, 10, 20, 30].contains(i))
        .map(|(_, k)| k)
        .collect();
    assert_eq!(good, expected);
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn a_broken_length_prefix_ends_a_framed_file() {
    let items = events(1);
    let messages = framed_file(&items);
    let mut bytes = Vec::new();
    write_framed(&mut bytes, &messages).unwrap();
    bytes.truncate(bytes.len() - 3);
    let dir = registry("framed-cut");
    let store = SchemaStore::from_dir(&dir, heartbeat_projection()).unwrap();
    let (good, bad) = read_all(FramedReader::new(&bytes[..], store));
    assert_eq!(good, keys(&items[..items.len() - 1]));
    assert_eq!(bad.len(), 1);
    assert_eq!(bad[0].reason(), "truncated_file");
    assert!(bad[0].to_string().contains("only"), "{}", bad[0]);
    std::fs::remove_dir_all(dir).unwrap();
}

/// A source handing out `bytes` at most `chunk` at a time, each read ending at a multiple of
/// `chunk` (so the buffers of a `BufReader` of that capacity end there), counting what was
/// pulled.
struct Trickle {
    bytes: Vec<u8>,
    pos: usize,
    chunk: usize,
    pulled: Rc<Cell<usize>>,
}

impl Trickle {
    /// A buffered reader of `chunk` bytes over `bytes`, and the count of bytes pulled.
    fn buffered(bytes: Vec<u8>, chunk: usize) -> (BufReader<Trickle>, Rc<Cell<usize>>) {
        let pulled = Rc::new(Cell::new(0));
        let source = Trickle {
            bytes,
            pos: 0,
            chunk,
            pulled: pulled.clone(),
        };
        (BufReader::with_capacity(chunk, source), pulled)
    }
}

impl Read for Trickle {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let boundary = (self.pos / self.chunk + 1) * self.chunk;
        let end = boundary.min(self.bytes.len()).min(self.pos + buf.len());
        let n = end - self.pos;
        buf[..n].copy_from_slice(&self.bytes[self.pos..end]);
        self.pos = end;
        self.pulled.set(end);
        Ok(n)
    }
}

/// Every item a reader yields: positions and keys of records, messages of errors.
fn transcript(
    reader: impl Iterator<Item = Result<(Position, DecodedEvent), ReadError>>,
) -> Vec<String> {
    reader
        .map(|r| match r {
            Ok((at, e)) => format!("{at:?} {} {}", e.session_key, e.record.time),
            Err(e) => format!("error: {e}"),
        })
        .collect()
}

#[test]
fn container_files_are_read_block_by_block() {
    let items = events(400);
    let bytes = ocf(&items, Codec::Null, 4000);
    let len = bytes.len();
    let (source, pulled) = Trickle::buffered(bytes, 8 << 10);
    let mut reader = OcfReader::new(source, &heartbeat_projection()).unwrap();
    let mut out = DecodedEvent::default();
    reader.read_next(&mut out).unwrap().unwrap();
    assert!(
        pulled.get() <= 16 << 10,
        "the first record pulled {} of the file's {len} bytes",
        pulled.get()
    );
    let (mut records, mut peak) = (1, 0);
    while let Some(r) = reader.read_next(&mut out) {
        r.unwrap();
        records += 1;
        peak = peak.max(reader.buffer_capacity());
    }
    assert_eq!(records, items.len());
    assert_eq!(pulled.get(), len);
    assert!(len > 1 << 20, "a file of {len} bytes is many blocks");
    assert!(peak <= 16 << 10, "{peak} bytes buffered for blocks of 4 kB");
}

#[test]
fn framed_files_are_read_message_by_message() {
    let items = events(400);
    let mut bytes = Vec::new();
    write_framed(&mut bytes, framed_file(&items)).unwrap();
    let len = bytes.len();
    let dir = registry("framed-incremental");
    let store = SchemaStore::from_dir(&dir, heartbeat_projection()).unwrap();
    let (source, pulled) = Trickle::buffered(bytes, 8 << 10);
    let mut reader = FramedReader::new(source, store);
    let mut out = DecodedEvent::default();
    reader.read_next(&mut out).unwrap().unwrap();
    assert!(
        pulled.get() <= 8 << 10,
        "the first message pulled {} of the file's {len} bytes",
        pulled.get()
    );
    let (mut records, mut peak) = (1, 0);
    while let Some(r) = reader.read_next(&mut out) {
        r.unwrap();
        records += 1;
        peak = peak.max(reader.buffer_capacity());
    }
    assert_eq!(records, items.len());
    assert_eq!(pulled.get(), len);
    assert!(peak <= 1 << 10, "{peak} bytes buffered for messages of 150");
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn resyncing_finds_sync_markers_across_buffer_boundaries() {
    let items = events(6);
    let clean = ocf(&items, Codec::Null, 600);
    let sync = clean[clean.len() - 16..].to_vec();
    let markers: Vec<usize> = clean
        .windows(16)
        .enumerate()
        .filter(|(_, w)| *w == sync.as_slice())
        .map(|(i, _)| i)
        .collect();
    assert!(markers.len() > 6, "{} markers", markers.len());
    // Block 3's header (a negative count: nothing past the header is read before the search
    // for its marker) and its marker (the search reads on to block 4's).
    let damages = [(markers[3] + 16, 0x01), (markers[4] + 5, 0xff)];
    for (at, byte) in damages {
        let mut bytes = clean.clone();
        bytes[at] = byte;
        let whole = transcript(OcfReader::new(&bytes[..], &heartbeat_projection()).unwrap());
        assert!(
            whole.iter().any(|t| t.contains("corrupt block")),
            "damage at {at}: {whole:?}"
        );
        assert!(whole.last().is_some_and(|t| !t.starts_with("error")));
        // Below 16 bytes every marker straddles buffers; the larger sizes put boundaries at
        // other places in the markers.
        for chunk in [1, 2, 3, 7, 15, 16, 17, 31, 64, 100, 997] {
            let (source, _) = Trickle::buffered(bytes.clone(), chunk);
            let read = transcript(OcfReader::new(source, &heartbeat_projection()).unwrap());
            assert_eq!(read, whole, "damage at {at}, buffers of {chunk} bytes");
        }
    }
}

fn fixtures() -> &'static Path {
    Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/fixtures"))
}

/// Regenerate the fixtures after an intended generator change with `SPANFLOW_BLESS=1 cargo
/// test --workspace` (this unit test runs before the golden tests, which then re-bless the
/// expected outputs), and review the diff.
#[test]
fn checked_in_fixtures_are_what_the_generator_writes() {
    if std::env::var("SPANFLOW_BLESS").is_ok_and(|v| v == "1") {
        crate::generate::write_default_fixtures(fixtures()).unwrap();
    }
    let dir = temp_dir("fixtures");
    crate::generate::write_default_fixtures(&dir).unwrap();
    for f in [
        "generated/heartbeats-small.avro",
        "generated/heartbeats-small.framed",
        "generated/telemetry-small.avro",
        "avro/registry/1.avsc",
    ] {
        let fresh = std::fs::read(dir.join(f)).unwrap();
        let checked_in = std::fs::read(fixtures().join(f)).unwrap_or_default();
        assert!(
            fresh == checked_in,
            "{f} differs from the generator output; regenerate the fixtures with SPANFLOW_BLESS=1"
        );
    }
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn record_reader_detects_the_format_of_the_fixtures() {
    let expected = keys(&video_sessions(&GenConfig::default()));
    let ocf = RecordReader::open(
        &fixtures().join("generated/heartbeats-small.avro"),
        heartbeat_projection(),
        None,
    )
    .unwrap();
    assert_eq!(ocf.format(), FileFormat::Ocf);
    let (good, bad) = read_all(ocf);
    assert!(bad.is_empty());
    assert_eq!(good, expected);
    let path = fixtures().join("generated/heartbeats-small.framed");
    let err = RecordReader::open(&path, heartbeat_projection(), None).unwrap_err();
    assert!(err.to_string().contains("schema directory"), "{err}");
    let framed = RecordReader::open(
        &path,
        heartbeat_projection(),
        Some(&fixtures().join("avro/registry")),
    )
    .unwrap();
    assert_eq!(framed.format(), FileFormat::Framed);
    let (good, bad) = read_all(framed);
    assert!(bad.is_empty());
    assert_eq!(good, expected);
    let telemetry = fixtures().join("generated/telemetry-small.avro");
    let p = projection(
        "deviceId",
        "timestamp",
        &[
            ("batteryTempC", ValueType::F64),
            ("firmware", ValueType::Str),
        ],
    );
    let (good, bad) = read_all(RecordReader::open(&telemetry, p, None).unwrap());
    assert!(bad.is_empty());
    assert_eq!(good.len(), 500);
    // A projection the file's schema cannot satisfy fails at open time.
    let err = RecordReader::open(&telemetry, heartbeat_projection(), None).unwrap_err();
    assert!(
        err.to_string().contains("has no field `sessionId`"),
        "{err}"
    );
}

#[test]
fn malformed_kind_labels_are_distinct() {
    use MalformedKind::*;
    let all = [
        Truncated,
        InvalidUnionIndex,
        InvalidEnumIndex,
        InvalidLength,
        InvalidUtf8,
        InvalidBool,
        InvalidVarint,
        TooManyItems,
        TooDeep,
        TrailingBytes,
        Other,
    ];
    let mut labels: Vec<_> = all.iter().map(|k| k.reason()).collect();
    labels.sort();
    labels.dedup();
    assert_eq!(labels.len(), all.len());
}
