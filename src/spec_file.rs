//! Loading a spec file: YAML text, the Avro schema it names, and the checked program.

use crate::decode::{FieldPath, SchemaSource};
use spanflow_engine::ValueType;
use spanflow_operators::program::{parse_spec, SchemaFields, SpecProblem};
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

/// Reads, parses and checks a spec file. I/O problems are reported as spec problems too.
pub fn load(path: &Path) -> LoadedSpec {
    let source = match std::fs::read_to_string(path) {
        Ok(s) => s,
        Err(e) => {
            let problem = SpecProblem {
                at: None,
                message: format!("cannot read the spec: {e}"),
            };
            return LoadedSpec {
                path: path.into(),
                source: String::new(),
                schema: None,
                program: Err(vec![problem]),
            };
        }
    };
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
        match SchemaSource::from_file(&file) {
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
    let fields = schema.as_ref().map(AvroFields::new);
    let program = Program::from_spec(spec, fields.as_ref().map(|f| f as &dyn SchemaFields));
    LoadedSpec {
        path: path.into(),
        source,
        schema,
        program,
    }
}

/// Field lookups against an Avro schema (apache-avro's parsed form).
struct AvroFields(Result<apache_avro::Schema, String>);

impl AvroFields {
    fn new(schema: &SchemaSource) -> Self {
        Self(apache_avro::Schema::parse_str(schema.json()).map_err(|e| e.to_string()))
    }
}

impl SchemaFields for AvroFields {
    fn field_type(&self, path: &str) -> Result<ValueType, String> {
        let schema = self
            .0
            .as_ref()
            .map_err(|e| format!("the schema cannot be read: {e}"))?;
        let path: FieldPath = path.parse().map_err(|e| format!("{e}"))?;
        let mut current = schema;
        let mut walked = Vec::new();
        for segment in path.segments() {
            let record = match non_null(current) {
                apache_avro::Schema::Record(r) => r,
                other => {
                    return Err(format!(
                        "`{}` is {}, not a record, so it has no field `{segment}`",
                        walked.join("."),
                        kind(other)
                    ))
                }
            };
            match record.fields.iter().find(|f| f.name == segment.as_str()) {
                Some(f) => current = &f.schema,
                None => {
                    let names: Vec<&str> = record.fields.iter().map(|f| f.name.as_str()).collect();
                    let hint = spanflow_engine::error::closest(segment, names.iter().copied())
                        .map(|s| format!("; did you mean `{s}`?"))
                        .unwrap_or_default();
                    let place = if walked.is_empty() {
                        format!("record `{}`", record.name.name())
                    } else {
                        format!("`{}`", walked.join("."))
                    };
                    return Err(format!(
                        "field `{path}`: {place} has no field `{segment}`{hint} (fields: {})",
                        names.join(", ")
                    ));
                }
            }
            walked.push(segment.to_string());
        }
        use apache_avro::Schema as S;
        match non_null(current) {
            S::Boolean => Ok(ValueType::Bool),
            S::Int | S::Long | S::Float | S::Double | S::Date | S::TimeMillis | S::TimeMicros | S::TimestampMillis | S::TimestampMicros
            | S::TimestampNanos | S::LocalTimestampMillis | S::LocalTimestampMicros | S::LocalTimestampNanos => Ok(ValueType::F64),
            S::String | S::Enum(_) | S::Uuid(_) => Ok(ValueType::Str),
            other => Err(format!("field `{path}` is {}, which no operator reads; use a string, number, boolean or enum field", kind(other))),
        }
    }
}

/// The non-null branch of a `["null", T]` union, or the schema itself.
fn non_null(s: &apache_avro::Schema) -> &apache_avro::Schema {
    match s {
        apache_avro::Schema::Union(u) => {
            let v = u.variants();
            match v
                .iter()
                .filter(|b| !matches!(b, apache_avro::Schema::Null))
                .collect::<Vec<_>>()
                .as_slice()
            {
                [one] => one,
                _ => s,
            }
        }
        other => other,
    }
}

fn kind(s: &apache_avro::Schema) -> String {
    let k = apache_avro::schema::SchemaKind::from(s);
    format!("{k:?}").to_lowercase()
}
