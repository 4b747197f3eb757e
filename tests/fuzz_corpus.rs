//! The fuzz corpora replayed on the stable toolchain, through the fuzz targets' own code
//! ([`spanflow::fuzzing`]): every input of `fuzz/corpus/<target>/`, `fuzz/seeds/<target>/` and
//! `fuzz/regressions/<target>/` must run without a panic, the named seeds must decode as their
//! names say, and the shipped specs must validate (the invalid fixtures must not) with the
//! schemas the harness serves from memory.
//!
//! The decode seeds are generated: `cargo test --test integration
//! fuzz_corpus::write_decode_seeds -- --ignored` rewrites `fuzz/seeds/decode_message/`.

use crate::specs::{repo_root, shipped_specs, yaml_files};
use spanflow::decode::write_confluent_header;
use spanflow::fuzzing::{DecodeTarget, SpecTarget};
use spanflow::generate::{encode_datums, video_sessions, GenConfig, HEARTBEAT_SCHEMA};
use std::path::{Path, PathBuf};

/// The schema id of the fixture registry's heartbeat schema (`fixtures/avro/registry/1.avsc`).
const HEARTBEAT_ID: u32 = 1;

/// The files of `fuzz/<kind>/<target>/` (none if the directory does not exist), sorted.
fn inputs(kind: &str, target: &str) -> Vec<PathBuf> {
    let dir = repo_root().join("fuzz").join(kind).join(target);
    let Ok(entries) = std::fs::read_dir(&dir) else {
        return Vec::new();
    };
    let mut files: Vec<PathBuf> = entries
        .map(|e| e.unwrap().path())
        .filter(|p| p.is_file())
        .collect();
    files.sort();
    files
}

/// Every input of `target`'s corpus, seeds and regressions.
fn all_inputs(target: &str) -> Vec<PathBuf> {
    ["corpus", "seeds", "regressions"]
        .iter()
        .flat_map(|kind| inputs(kind, target))
        .collect()
}

fn read(path: &Path) -> Vec<u8> {
    std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn decode_target() -> DecodeTarget {
    DecodeTarget::cir().unwrap_or_else(|e| panic!("the decode target does not build: {e}"))
}

fn spec_target() -> SpecTarget {
    SpecTarget::with_fixture_schemas()
        .unwrap_or_else(|e| panic!("the spec target does not build: {e}"))
}

#[test]
fn decode_corpus_replays_without_panics() {
    let files = all_inputs("decode_message");
    assert!(files.len() >= 20, "too few decode inputs: {}", files.len());
    let mut target = decode_target();
    let decoded = files
        .iter()
        .filter(|f| target.decode(&read(f)).is_ok())
        .count();
    // The corpus keeps real heartbeats: if none decodes any more, the decoder broke.
    assert!(decoded > 0, "none of {} decode inputs decodes", files.len());
}

#[test]
fn decode_seeds_decode_as_their_names_say() {
    let seeds = inputs("seeds", "decode_message");
    assert!(seeds.len() >= 30, "too few decode seeds: {}", seeds.len());
    let mut target = decode_target();
    for path in &seeds {
        let name = path
            .file_stem()
            .and_then(|n| n.to_str())
            .unwrap_or_default();
        let result = target.decode(&read(path));
        if name.starts_with("ok-") {
            let id = result.unwrap_or_else(|e| panic!("{name}: {e}"));
            assert_eq!(id, HEARTBEAT_ID, "{name}");
            assert!(!target.event().session_key.is_empty(), "{name}: no key");
        } else {
            // `err-<reason>-<n>`: the decode error's metrics label.
            let reason = name.strip_prefix("err-").and_then(|r| r.rsplit_once('-'));
            let Some((reason, _)) = reason else {
                panic!("{name}: seeds are named ok-<n> or err-<reason>-<n>");
            };
            let err = result.expect_err(name);
            assert_eq!(err.reason(), reason, "{name}: {err}");
        }
    }
}

#[test]
fn spec_corpus_replays_without_panics() {
    let files = all_inputs("spec_yaml");
    assert!(files.len() >= 20, "too few spec inputs: {}", files.len());
    let target = spec_target();
    let mut valid = 0;
    for path in &files {
        // The fuzz target skips inputs that are not UTF-8.
        let Ok(yaml) = String::from_utf8(read(path)) else {
            continue;
        };
        let outcome = target
            .validate(&yaml)
            .unwrap_or_else(|broken| panic!("{}: {broken}", path.display()));
        valid += usize::from(outcome.valid);
    }
    assert!(valid > 0, "none of {} spec inputs validates", files.len());
}

#[test]
fn shipped_specs_validate_in_the_harness_and_invalid_fixtures_do_not() {
    let target = spec_target();
    let mut specs = shipped_specs();
    specs.extend(yaml_files(&repo_root().join("deploy/specs")));
    for path in &specs {
        let yaml = String::from_utf8(read(path)).unwrap();
        let outcome = target.validate(&yaml).unwrap();
        assert!(outcome.valid, "{}: {}", path.display(), outcome.report);
        assert!(outcome.loaded.schema.is_some(), "{}", path.display());
    }
    let invalid = yaml_files(&repo_root().join("fixtures/invalid"));
    assert!(!invalid.is_empty());
    for path in &invalid {
        let yaml = String::from_utf8(read(path)).unwrap();
        let outcome = target.validate(&yaml).unwrap();
        assert!(!outcome.valid, "{} validates", path.display());
        assert!(!outcome.report.is_empty(), "{}", path.display());
    }
}

/// Rewrites `fuzz/seeds/decode_message/`: generated heartbeats framed as on Kafka, and broken
/// frames named by the error they must give.
#[test]
#[ignore = "writes the decode seeds; run on purpose"]
fn write_decode_seeds() {
    let dir = repo_root().join("fuzz/seeds/decode_message");
    std::fs::create_dir_all(&dir).unwrap();
    for old in inputs("seeds", "decode_message") {
        std::fs::remove_file(old).unwrap();
    }
    let config = GenConfig {
        seed: 17,
        sessions: 4,
        events_per_session: 8,
        interleave: true,
        ..GenConfig::default()
    };
    let datums = encode_datums(HEARTBEAT_SCHEMA, &video_sessions(&config)).unwrap();
    let frame = |id: u32, datum: &[u8]| {
        let mut framed = Vec::new();
        write_confluent_header(id, &mut framed);
        framed.extend_from_slice(datum);
        framed
    };
    let mut seeds: Vec<(String, Vec<u8>)> = datums
        .iter()
        .enumerate()
        .map(|(i, d)| (format!("ok-{i:02}"), frame(HEARTBEAT_ID, d)))
        .collect();
    let good = frame(HEARTBEAT_ID, &datums[0]);
    let mut bad_magic = good.clone();
    bad_magic[0] = 1;
    let mut trailing = good.clone();
    trailing.push(0);
    seeds.extend([
        ("err-tombstone-0".to_owned(), Vec::new()),
        ("err-bad_magic-0".to_owned(), bad_magic),
        (
            "err-bad_magic-1".to_owned(),
            b"{\"sessionId\":\"s1\"}".to_vec(),
        ),
        ("err-truncated_header-0".to_owned(), good[..3].to_vec()),
        (
            "err-unknown_schema_id-0".to_owned(),
            frame(HEARTBEAT_ID + 1, &datums[0]),
        ),
        (
            "err-truncated-0".to_owned(),
            good[..good.len() - 1].to_vec(),
        ),
        (
            "err-truncated-1".to_owned(),
            good[..good.len() / 2].to_vec(),
        ),
        ("err-truncated-2".to_owned(), good[..5].to_vec()),
        ("err-trailing_bytes-0".to_owned(), trailing),
    ]);
    for (name, bytes) in seeds {
        std::fs::write(dir.join(format!("{name}.bin")), bytes).unwrap();
    }
}
