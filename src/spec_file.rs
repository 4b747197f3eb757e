//! Loading a spec file: YAML text, the Avro schema it names, and the checked program.

use crate::decode::{resolve_path, FieldPath, InvalidSchema, Role, SchemaSource};
use spanflow_engine::ValueType;
use spanflow_operators::program::{parse_spec, InputRole, SchemaFields, SpecProblem};
use spanflow_operators::spec::{location, DagSpec};
use spanflow_operators::Program;
use std::path::{Path, PathBuf};

/// A spec file and what became of it.
pub struct LoadedSpec {
    /// The path as given.
    pub path: PathBuf,
    /// The YAML text.
    pub source: String,
    /// The schema the spec names, if any (resolved relative to the spec).
    pub schema: Option<SchemaSource>,
    /// The program, or every problem found.
    pub program: Result<Program, Vec<SpecProblem>>,
}

impl LoadedSpec {
    /// The program, or the problems rendered for people.
    pub fn program_or_report(&self) -> Result<&Program, String> {
        self.program
            .as_ref()
            .map_err(|problems| self.render(problems, "error"))
    }

    /// Renders problems against this spec's text.
    pub fn render(&self, problems: &[SpecProblem], severity: &str) -> String {
        let file = self.path.display().to_string();
        problems
            .iter()
            .map(|p| crate::diagnostics::render(&file, &self.source, p, severity))
            .collect()
    }
}

/// The most a spec's schema file may hold: real schemas are kilobytes.
const MAX_SCHEMA_FILE_BYTES: u64 = 4 << 20;

/// A spec may only make spanflow read Avro schema files: a name ending in `.avsc`
/// ([`avro_schema_name`]), a regular file, at most [`MAX_SCHEMA_FILE_BYTES`]. Specs come from
/// analysts and can never read other files (keys, configs) through error messages that quote
/// what they could not parse.
fn read_schema_file(file: &Path) -> Result<SchemaSource, InvalidSchema> {
    let invalid = |message: String| InvalidSchema {
        context: file.display().to_string(),
        message,
    };
    match std::fs::metadata(file) {
        Ok(m) if !m.is_file() => Err(invalid("not a regular file".into())),
        Ok(m) if m.len() > MAX_SCHEMA_FILE_BYTES => Err(invalid(format!(
            "{} bytes; an Avro schema file holds at most {MAX_SCHEMA_FILE_BYTES} bytes",
            m.len()
        ))),
        // A missing file is reported by the read itself.
        _ => SchemaSource::from_file(file),
    }
}

/// `input.schema` must name a `.avsc` file, whatever reads it.
fn avro_schema_name(file: &Path) -> Result<(), InvalidSchema> {
    if file
        .extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("avsc"))
    {
        Ok(())
    } else {
        Err(InvalidSchema {
            context: file.display().to_string(),
            message:
                "a spec may only name an Avro schema file ending in `.avsc` (JSON Avro schema)"
                    .into(),
        })
    }
}

/// Reads, parses and checks a spec file. I/O problems are reported as spec problems too.
pub fn load(path: &Path) -> LoadedSpec {
    match std::fs::read_to_string(path) {
        Ok(source) => load_source(path, source, &read_schema_file),
        Err(e) => {
            let problem = SpecProblem {
                at: None,
                message: format!("cannot read the spec: {e}"),
            };
            LoadedSpec {
                path: path.into(),
                source: String::new(),
                schema: None,
                program: Err(vec![problem]),
            }
        }
    }
}

/// Reads the Avro schema a spec names: called with `input.schema` resolved against the spec's
/// directory (after checking it names a `.avsc` file). [`load`] reads the file, a regular file
/// of at most 4 MiB.
pub type SchemaReader<'a> = &'a dyn Fn(&Path) -> Result<SchemaSource, InvalidSchema>;

/// Parses and checks spec text as if read from `path`: `input.schema` is resolved relative to
/// `path`'s directory and read with `read_schema`, which alone decides what, if anything, is
/// read from disk (the fuzz target serves schemas from memory).
pub fn load_source(path: &Path, source: String, read_schema: SchemaReader<'_>) -> LoadedSpec {
    let spec: DagSpec = match parse_spec(&source) {
        Ok(s) => s,
        Err(p) => {
            return LoadedSpec {
                path: path.into(),
                program: Err(vec![p]),
                source,
                schema: None,
            }
        }
    };
    let mut schema = None;
    if let Some(rel) = &spec.input.schema {
        let file = path.parent().unwrap_or(Path::new(".")).join(&rel.value);
        match avro_schema_name(&file).and_then(|()| read_schema(&file)) {
            Ok(s) => schema = Some(s),
            Err(e) => {
                let problem = SpecProblem {
                    at: location(rel),
                    message: format!("input.schema: {e}"),
                };
                return LoadedSpec {
                    path: path.into(),
                    source,
                    schema: None,
                    program: Err(vec![problem]),
                };
            }
        }
    }
    let fields = schema.as_ref().map(AvroFields);
    let output_names: Vec<_> = spec
        .outputs
        .iter()
        .map(|o| (o.name.value.clone(), location(&o.name)))
        .collect();
    let program = Program::from_spec(spec, fields.as_ref().map(|f| f as &dyn SchemaFields))
        .and_then(|p| {
            let problems = sink_problems(&p, &output_names);
            if problems.is_empty() {
                Ok(p)
            } else {
                Err(problems)
            }
        });
    LoadedSpec {
        path: path.into(),
        source,
        schema,
        program,
    }
}

/// What is wrong with the outputs' sinks (ScyllaDB table and column names), each at its
/// output's name.
fn sink_problems(
    program: &Program,
    output_names: &[(String, Option<spanflow_engine::Location>)],
) -> Vec<SpecProblem> {
    let meta = crate::sink::OutputsMeta::of(program);
    crate::sink::scylla_targets(program)
        .into_iter()
        .filter_map(|(output, spec)| {
            crate::sink::TableLayout::of(&meta, output, &spec)
                .err()
                .map(|e| SpecProblem {
                    at: output_names.get(output).and_then(|(_, at)| *at),
                    message: e.to_string(),
                })
        })
        .collect()
}

/// Field lookups against the spec's Avro schema, resolved by the decoder's own
/// [`resolve_path`] so validation and decoding agree on every path.
struct AvroFields<'a>(&'a SchemaSource);

impl AvroFields<'_> {
    fn check(&self, path: &str, role: Role) -> Result<ValueType, String> {
        let parsed: FieldPath = path
            .parse()
            .map_err(|e| format!("field path `{path}`: {e}"))?;
        resolve_path(self.0, &parsed, role).map_err(|e| e.to_string())
    }
}

impl SchemaFields for AvroFields<'_> {
    fn field_type(&self, path: &str) -> Result<ValueType, String> {
        self.check(path, Role::AnyField)
    }

    fn check_input(&self, role: InputRole, path: &str) -> Result<(), String> {
        let role = match role {
            InputRole::SessionKey => Role::SessionKey,
            InputRole::Time => Role::Time,
            InputRole::Sequence => Role::Sequence,
        };
        self.check(path, role).map(|_| ())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::decode::{DecodePlan, Projection};
    use crate::generate::HEARTBEAT_SCHEMA;

    fn heartbeat() -> SchemaSource {
        SchemaSource::parse(HEARTBEAT_SCHEMA, "test").unwrap()
    }

    fn path(p: &str) -> FieldPath {
        p.parse().unwrap()
    }

    /// What the decoder says when compiling `projection` against the heartbeat schema.
    fn compile_error(projection: &Projection) -> String {
        DecodePlan::compile(&heartbeat(), projection)
            .unwrap_err()
            .to_string()
    }

    #[test]
    fn validation_reports_what_the_decoder_reports() {
        let schema = heartbeat();
        let fields = AvroFields(&schema);
        // Unknown fields, at the top and nested.
        for p in ["playerstate", "device.oss"] {
            let mut projection = Projection::new(path("sessionId"), path("timestamp"));
            projection.push_field(path(p), ValueType::Str);
            assert_eq!(
                fields.field_type(p).unwrap_err(),
                compile_error(&projection),
                "{p}"
            );
        }
        // Input roles: a string is no time, a map no session key, a double no sequence.
        let time = Projection::new(path("sessionId"), path("playerState"));
        assert_eq!(
            fields
                .check_input(InputRole::Time, "playerState")
                .unwrap_err(),
            compile_error(&time)
        );
        let key = Projection::new(path("tags"), path("timestamp"));
        assert_eq!(
            fields
                .check_input(InputRole::SessionKey, "tags")
                .unwrap_err(),
            compile_error(&key)
        );
        let mut seq = Projection::new(path("sessionId"), path("timestamp"));
        seq.sequence = Some(path("bufferLengthSec"));
        assert_eq!(
            fields
                .check_input(InputRole::Sequence, "bufferLengthSec")
                .unwrap_err(),
            compile_error(&seq)
        );
        assert_eq!(fields.check_input(InputRole::Time, "timestamp"), Ok(()));
    }

    #[test]
    fn field_types_follow_the_decoder_conversions() {
        let schema = heartbeat();
        let fields = AvroFields(&schema);
        for (p, ty) in [
            ("bitrateKbps", ValueType::F64),
            ("bufferLengthSec", ValueType::F64),
            ("timestamp", ValueType::F64),
            ("userAction", ValueType::Str),
            ("device.os", ValueType::Str),
        ] {
            assert_eq!(fields.field_type(p), Ok(ty), "{p}");
        }
        let record = fields.field_type("device").unwrap_err();
        assert!(
            record.contains("`device.os`, `device.model`"),
            "a record names its fields: {record}"
        );
        let map = fields.field_type("tags").unwrap_err();
        assert!(map.contains("`tags`") && map.contains("map"), "{map}");
    }
}
