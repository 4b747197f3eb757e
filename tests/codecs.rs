//! Object container files in every codec Avro writers use (null, deflate, snappy, zstandard,
//! bzip2, xz), written by apache-avro, read with the same rows; damaged snappy blocks; and a
//! string that is not UTF-8, which no longer costs the rest of its block.

use crate::bad_input::{
    by_session, cir, clean_output, counts, dropping, events, ocf, run, zigzag, Scratch, PER_BLOCK,
};
use crate::specs::repo_root;
use apache_avro::{
    Bzip2Settings, Codec, DeflateSettings, Schema, Writer, XzSettings, ZstandardSettings,
};
use spanflow::generate::{encode_datums, Heartbeat, OcfCodec, HEARTBEAT_SCHEMA};
use spanflow_operators::spec::{BadRecordPolicy, LateEventPolicy};
use std::collections::BTreeSet;
use std::path::PathBuf;

fn codecs() -> [(&'static str, Codec); 6] {
    [
        ("null", Codec::Null),
        ("deflate", Codec::Deflate(DeflateSettings::default())),
        ("snappy", Codec::Snappy),
        ("zstandard", Codec::Zstandard(ZstandardSettings::default())),
        ("bzip2", Codec::Bzip2(Bzip2Settings::default())),
        ("xz", Codec::Xz(XzSettings::default())),
    ]
}

/// `events` as apache-avro writes them with `codec`, in blocks of about 2 kB.
fn written_by_apache_avro(events: &[Heartbeat], codec: Codec) -> Vec<u8> {
    let schema = Schema::parse_str(HEARTBEAT_SCHEMA).unwrap();
    let mut writer = Writer::builder()
        .schema(&schema)
        .writer(Vec::new())
        .codec(codec)
        .block_size(2000)
        .marker([7; 16])
        .build()
        .unwrap();
    for e in events {
        writer.append_ser(e).unwrap();
    }
    writer.into_inner().unwrap()
}

#[test]
fn every_avro_codec_is_read() {
    let scratch = Scratch::new("codecs");
    let events = events(true);
    let clean = clean_output(&scratch, &events);
    for (name, codec) in codecs() {
        let path = scratch.write(
            &format!("{name}.avro"),
            &written_by_apache_avro(&events, codec),
        );
        // Before: `unsupported Avro codec` for all but null and deflate.
        let (text, summary) =
            run(&dropping(), &path, None).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert!(summary.bad_records.is_empty(), "{name}: {summary:?}");
        assert_eq!(summary.records, events.len() as u64, "{name}");
        assert_eq!(by_session(&text), clean, "{name}");
    }
}

fn fixture(name: &str) -> PathBuf {
    repo_root().join("fixtures/bad_input").join(name)
}

/// The test events in snappy blocks, the CRC of block 1 wrong; and a snappy block claiming
/// 1 GiB. Regenerate with `cargo test --test integration codecs::write_snappy_fixtures -- --ignored`.
#[test]
#[ignore = "writes fixtures/bad_input/snappy_*.avro"]
fn write_snappy_fixtures() {
    let bytes = written_by_apache_avro(&events(true), Codec::Snappy);
    let marker = [7u8; 16];
    let ends: Vec<usize> = bytes
        .windows(16)
        .enumerate()
        .filter(|(_, w)| *w == marker)
        .map(|(i, _)| i)
        .collect();
    // ends[0] closes the header, ends[k + 1] block k; a block's CRC is the 4 bytes before it.
    let mut crc = bytes.clone();
    crc[ends[2] - 1] ^= 0x01;
    std::fs::write(fixture("snappy_crc_wrong.avro"), crc).unwrap();
    // A header, then one block of 1 record whose snappy data claims 1 GiB.
    let mut big = bytes[..ends[0] + 16].to_vec();
    let mut data = Vec::new();
    let mut n: u64 = 1 << 30;
    while n >= 0x80 {
        data.push(n as u8 | 0x80);
        n >>= 7;
    }
    data.push(n as u8);
    data.extend_from_slice(&[0, 0, 0, 0, 0]);
    zigzag(1, &mut big);
    zigzag(data.len() as i64, &mut big);
    big.extend_from_slice(&data);
    big.extend_from_slice(&marker);
    std::fs::write(fixture("snappy_too_large.avro"), big).unwrap();
}

#[test]
fn damaged_snappy_blocks_are_corrupt_blocks() {
    let prefix = format!("{}/", repo_root().display());
    for (file, says) in [
        ("snappy_crc_wrong.avro", "CRC-32"),
        (
            "snappy_too_large.avro",
            "inflates to more than 268435456 bytes",
        ),
    ] {
        let path = fixture(file);
        let (_, summary) = run(&dropping(), &path, None).unwrap();
        let reasons: Vec<&str> = summary.bad_records.keys().copied().collect();
        assert_eq!(reasons, ["corrupt_block"], "{file}");
        let e = run(
            &cir(BadRecordPolicy::Fail, LateEventPolicy::Drop),
            &path,
            None,
        )
        .unwrap_err();
        assert!(e.contains(says), "{file}: {e}");
        insta::assert_snapshot!(file, e.replace(&prefix, ""));
    }
    // Only the block with the wrong CRC is lost.
    let (_, summary) = run(&dropping(), &fixture("snappy_crc_wrong.avro"), None).unwrap();
    assert!(summary.records > 0 && summary.records < events(true).len() as u64);
}

#[test]
fn a_string_that_is_not_utf8_loses_only_its_record() {
    let scratch = Scratch::new("not-utf8");
    let events = events(false);
    let clean = clean_output(&scratch, &events);
    let (mut bytes, blocks) = ocf(&events, OcfCodec::Null);
    // Record 3 of block 12: its session id (length byte 72, then 36 bytes) gets an 0xff.
    let (block, k) = (12, 3);
    let datums = encode_datums(HEARTBEAT_SCHEMA, &events).unwrap();
    let first = block * PER_BLOCK;
    let mut header = Vec::new();
    zigzag(PER_BLOCK as i64, &mut header);
    zigzag(
        datums[first..first + PER_BLOCK].concat().len() as i64,
        &mut header,
    );
    let at = blocks[block].start + header.len() + datums[first..first + k].concat().len();
    assert_eq!(bytes[at], 72, "zigzag(36)");
    bytes[at + 4] = 0xff;
    let path = scratch.write("not-utf8.avro", &bytes);

    let (text, summary) = run(&dropping(), &path, None).unwrap();
    // Before: the record and the 6 after it in its block (`corrupt_block`).
    assert_eq!(summary.bad_records, counts(&[("invalid_utf8", 1)]));
    assert_eq!(summary.records, events.len() as u64 - 1);
    assert_eq!(summary.unknown_losses, 0);
    // Only the session of the damaged record can differ.
    let damaged: BTreeSet<&str> = [events[first + k].session_id.as_str()].into();
    let got = by_session(&text);
    for (session, rows) in &clean {
        if !damaged.contains(session.as_str()) {
            assert_eq!(got.get(session), Some(rows), "session {session} changed");
        }
    }

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
        )) && e.contains("invalid_utf8")
            && e.contains("sessionId"),
        "{e}"
    );
}
