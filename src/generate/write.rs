//! Encoding generated events (with apache-avro) into OCF files, Confluent messages and the
//! checked-in fixtures.

use super::{device_telemetry, video_sessions, GenConfig, HEARTBEAT_SCHEMA, TELEMETRY_SCHEMA};
use crate::decode::{files::write_framed, write_confluent_header};
use apache_avro::{Codec, DeflateSettings, Schema, Writer};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::Serialize;
use std::io::Write;
use std::path::Path;

/// Generating or writing fixtures failed.
#[derive(Debug, thiserror::Error)]
pub enum GenerateError {
    /// Avro encoding failed (schema or value).
    #[error("Avro encoding failed: {0}")]
    Avro(#[from] Box<apache_avro::Error>),
    /// Writing the encoded output failed.
    #[error("writing the output failed: {0}")]
    Write(std::io::Error),
    /// Writing the file failed.
    #[error("writing {path} failed: {source}")]
    Io {
        /// The file.
        path: String,
        /// The I/O error.
        source: std::io::Error,
    },
}

impl From<apache_avro::Error> for GenerateError {
    fn from(e: apache_avro::Error) -> Self {
        GenerateError::Avro(Box::new(e))
    }
}

/// Block compression of generated object container files.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OcfCodec {
    /// Uncompressed.
    Null,
    /// Raw deflate.
    Deflate,
}

/// A fixture file to generate.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FixtureKind {
    /// Video heartbeats as an Avro object container file (deflate).
    HeartbeatsOcf,
    /// Video heartbeats as framed Confluent messages with this schema id.
    HeartbeatsFramed {
        /// Schema id in every message header.
        schema_id: u32,
    },
    /// Device telemetry as an Avro object container file (deflate).
    TelemetryOcf,
}

/// Encodes `items` as bare Avro datums of `schema_json` (no header).
pub fn encode_datums<T: Serialize>(
    schema_json: &str,
    items: &[T],
) -> Result<Vec<Vec<u8>>, GenerateError> {
    let schema = Schema::parse_str(schema_json)?;
    let writer = apache_avro::writer::datum::GenericDatumWriter::builder(&schema).build()?;
    items
        .iter()
        .map(|item| Ok(writer.write_ser_to_vec(item)?))
        .collect()
}

/// Writes `items` as an object container file; the sync marker comes from `seed`, so the same
/// input gives the same bytes. Returns the number of records.
pub fn write_ocf<T: Serialize, W: Write>(
    schema_json: &str,
    items: &[T],
    codec: OcfCodec,
    seed: u64,
    out: W,
) -> Result<usize, GenerateError> {
    let schema = Schema::parse_str(schema_json)?;
    let codec = match codec {
        OcfCodec::Null => Codec::Null,
        OcfCodec::Deflate => Codec::Deflate(DeflateSettings::default()),
    };
    let mut marker = [0u8; 16];
    ChaCha8Rng::seed_from_u64(seed).fill(&mut marker);
    // apache-avro writes header metadata in HashMap order, which differs between runs: write
    // the header here, with sorted keys, and let the writer add the blocks.
    let mut out = out;
    let codec_name: &[u8] = if codec == Codec::Null {
        b"null"
    } else {
        b"deflate"
    };
    let json = serde_json::to_string(&schema).map_err(|e| GenerateError::Write(e.into()))?;
    out.write_all(&ocf_header(
        &[
            (b"avro.codec", codec_name),
            (b"avro.schema", json.as_bytes()),
        ],
        &marker,
    ))
    .map_err(GenerateError::Write)?;
    let mut writer = Writer::builder()
        .schema(&schema)
        .writer(out)
        .codec(codec)
        .marker(marker)
        .has_header(true)
        .build()?;
    for item in items {
        writer.append_ser(item)?;
    }
    writer.flush()?;
    Ok(items.len())
}

/// Zigzag varint encoding of `v`, appended to `out`.
fn put_long(v: i64, out: &mut Vec<u8>) {
    let mut z = ((v << 1) ^ (v >> 63)) as u64;
    while z >= 0x80 {
        out.push((z as u8) | 0x80);
        z >>= 7;
    }
    out.push(z as u8);
}

/// An object container file header with `metadata` in the given order.
fn ocf_header(metadata: &[(&[u8], &[u8])], marker: &[u8; 16]) -> Vec<u8> {
    let mut h = crate::decode::files::OCF_MAGIC.to_vec();
    put_long(metadata.len() as i64, &mut h);
    for (k, v) in metadata {
        for bytes in [k, v] {
            put_long(bytes.len() as i64, &mut h);
            h.extend_from_slice(bytes);
        }
    }
    put_long(0, &mut h);
    h.extend_from_slice(marker);
    h
}

/// Generates the fixture `kind` for `config` into `path`; returns the number of records.
pub fn write_fixture(
    kind: FixtureKind,
    path: &Path,
    config: &GenConfig,
) -> Result<usize, GenerateError> {
    let io = |source| GenerateError::Io {
        path: path.display().to_string(),
        source,
    };
    let (buf, n) = fixture_bytes(kind, config)?;
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).map_err(io)?;
    }
    std::fs::write(path, buf).map_err(io)?;
    Ok(n)
}

/// The bytes of the fixture `kind` for `config`, and its number of records.
pub fn fixture_bytes(
    kind: FixtureKind,
    config: &GenConfig,
) -> Result<(Vec<u8>, usize), GenerateError> {
    let mut buf = Vec::new();
    let n = match kind {
        FixtureKind::HeartbeatsOcf => write_ocf(
            HEARTBEAT_SCHEMA,
            &video_sessions(config),
            OcfCodec::Deflate,
            config.seed,
            &mut buf,
        )?,
        FixtureKind::TelemetryOcf => write_ocf(
            TELEMETRY_SCHEMA,
            &device_telemetry(config),
            OcfCodec::Deflate,
            config.seed,
            &mut buf,
        )?,
        FixtureKind::HeartbeatsFramed { schema_id } => {
            let datums = encode_datums(HEARTBEAT_SCHEMA, &video_sessions(config))?;
            let messages = datums.iter().map(|d| {
                let mut m = Vec::with_capacity(d.len() + 5);
                write_confluent_header(schema_id, &mut m);
                m.extend_from_slice(d);
                m
            });
            write_framed(&mut buf, messages).map_err(GenerateError::Write)?;
            datums.len()
        }
    };
    Ok((buf, n))
}

/// Regenerates the checked-in fixtures under `fixtures_dir` (the repository's `fixtures/`):
/// `generated/heartbeats-small.{avro,framed}`, `generated/telemetry-small.avro` and the schema
/// registry directory `avro/registry/1.avsc` the framed file refers to. Heartbeats use
/// [`GenConfig::default`], telemetry [`GenConfig::telemetry_fixture`].
pub fn write_default_fixtures(fixtures_dir: &Path) -> Result<(), GenerateError> {
    let config = GenConfig::default();
    let generated = fixtures_dir.join("generated");
    write_fixture(
        FixtureKind::HeartbeatsOcf,
        &generated.join("heartbeats-small.avro"),
        &config,
    )?;
    write_fixture(
        FixtureKind::HeartbeatsFramed { schema_id: 1 },
        &generated.join("heartbeats-small.framed"),
        &config,
    )?;
    write_fixture(
        FixtureKind::TelemetryOcf,
        &generated.join("telemetry-small.avro"),
        &GenConfig::telemetry_fixture(),
    )?;
    let registry = fixtures_dir.join("avro").join("registry");
    let io = |source| GenerateError::Io {
        path: registry.display().to_string(),
        source,
    };
    std::fs::create_dir_all(&registry).map_err(io)?;
    std::fs::write(registry.join("1.avsc"), HEARTBEAT_SCHEMA).map_err(io)?;
    Ok(())
}
