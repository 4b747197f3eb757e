//! The bodies of the fuzz targets in `fuzz/` (cargo-fuzz), shared with the stable-toolchain
//! replay of their corpora (`tests/fuzz_corpus.rs`), so both run exactly the same code.
//!
//! Neither harness touches the filesystem per input: the decoder's writer schemas and the
//! schemas specs may name are loaded once, from the repository's fixtures, when a harness is
//! built.

use crate::app::{projection_of, validate_report};
use crate::decode::{DecodeError, DecodePlan, DecodedEvent, InvalidSchema, SchemaSource};
use crate::decode::{DirFetcher, SchemaStore};
use crate::spec_file::{load, load_source, LoadedSpec};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// The spec whose projection the decode target uses (relative to the repository root).
pub const CIR_SPEC: &str = "dag-specs/video/connection_induced_rebuffering.yaml";
/// The fixture Schema Registry: `<id>.avsc` writer schemas (relative to the repository root).
pub const REGISTRY_DIR: &str = "fixtures/avro/registry";
/// The schemas a fuzzed spec may name in `input.schema`, by file name (relative to the
/// repository root).
pub const SPEC_SCHEMA_DIR: &str = "fixtures/avro";
/// Where a fuzzed spec pretends to live; `input.schema` is resolved against its directory.
const VIRTUAL_SPEC: &str = "fuzz-input/spec.yaml";

/// The repository root (where the specs and fixtures are).
pub fn repo_root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// The `decode_message` target: Kafka message values through the decoder `spanflow run` builds
/// for the CIR spec, with the fixture registry's writer schemas.
pub struct DecodeTarget {
    store: SchemaStore,
    out: DecodedEvent,
}

impl DecodeTarget {
    /// Loads the CIR spec and the fixture registry (the only file reads).
    pub fn cir() -> Result<Self, String> {
        let spec = repo_root().join(CIR_SPEC);
        let projection = projection_of(load(&spec).program_or_report()?)?;
        let registry = repo_root().join(REGISTRY_DIR);
        let fetcher = DirFetcher::new(&registry).map_err(|e| e.to_string())?;
        Ok(DecodeTarget {
            store: SchemaStore::new(projection, fetcher),
            out: DecodedEvent::default(),
        })
    }

    /// Decodes one message value; returns its schema id. Any result is fine, a panic is not.
    pub fn decode(&mut self, msg: &[u8]) -> Result<u32, DecodeError> {
        self.store.decode(msg, &mut self.out)
    }

    /// The event the last successful [`decode`](Self::decode) produced.
    pub fn event(&self) -> &DecodedEvent {
        &self.out
    }
}

/// What the `spec_yaml` target made of one input.
pub struct SpecOutcome {
    /// The spec as `spanflow validate` loads it.
    pub loaded: LoadedSpec,
    /// Whether `spanflow validate` accepts it (warnings allowed).
    pub valid: bool,
    /// The rendered problems and warnings, as `spanflow validate` prints them.
    pub report: String,
}

/// The `spec_yaml` target: spec text through parsing, validation and problem rendering, as
/// `spanflow validate` does, with `input.schema` served from memory.
pub struct SpecTarget {
    schemas: BTreeMap<String, SchemaSource>,
}

impl SpecTarget {
    /// Loads every `.avsc` file of [`SPEC_SCHEMA_DIR`] (the only file reads).
    pub fn with_fixture_schemas() -> Result<Self, InvalidSchema> {
        let dir = repo_root().join(SPEC_SCHEMA_DIR);
        let io_err = |e: std::io::Error| InvalidSchema {
            context: dir.display().to_string(),
            message: e.to_string(),
        };
        let mut schemas = BTreeMap::new();
        for entry in std::fs::read_dir(&dir).map_err(io_err)? {
            let path = entry.map_err(io_err)?.path();
            let name = path.file_name().and_then(|n| n.to_str()).map(str::to_owned);
            if let Some(name) = name.filter(|n| n.ends_with(".avsc")) {
                schemas.insert(name, SchemaSource::from_file(&path)?);
            }
        }
        Ok(SpecTarget { schemas })
    }

    /// The schema `input.schema` names, by its file name alone (`../avro/heartbeat.avsc` and
    /// `heartbeat.avsc` are the same); nothing is read from disk.
    fn schema(&self, file: &Path) -> Result<SchemaSource, InvalidSchema> {
        file.file_name()
            .and_then(|n| n.to_str())
            .and_then(|n| self.schemas.get(n))
            .cloned()
            .ok_or_else(|| InvalidSchema {
                context: file.display().to_string(),
                message: format!(
                    "no such schema; the fuzz harness serves only {} (from {SPEC_SCHEMA_DIR})",
                    self.schemas.keys().cloned().collect::<Vec<_>>().join(", ")
                ),
            })
    }

    /// Validates `yaml` as `spanflow validate` does and renders its report. `Err` means a
    /// broken promise of validation: a valid spec whose decoder cannot be built (its projection,
    /// or the decode plan against the schema it names).
    pub fn validate(&self, yaml: &str) -> Result<SpecOutcome, String> {
        let read_schema = |file: &Path| self.schema(file);
        let loaded = load_source(&PathBuf::from(VIRTUAL_SPEC), yaml.to_owned(), &read_schema);
        let (valid, report) = validate_report(&loaded, false);
        if let Ok(program) = &loaded.program {
            let projection = projection_of(program)
                .map_err(|e| format!("a valid spec has no projection: {e}"))?;
            if let Some(schema) = &loaded.schema {
                DecodePlan::compile(schema, &projection).map_err(|e| {
                    format!("a spec valid against its schema does not compile against it: {e}")
                })?;
            }
        }
        Ok(SpecOutcome {
            loaded,
            valid,
            report,
        })
    }
}
