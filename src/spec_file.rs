//! Loading a spec file: YAML text, the Avro schema it names, and the checked program.

use crate::decode::{
    logical_time_unit, resolve_path, FieldPath, InvalidSchema, ReaderSchema, Role, SchemaSource,
};
use spanflow_engine::{Location, TimeUnit, ValueType};
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
/// ([`avro_schema_name`]), also once links are resolved, a regular file, at most
/// [`MAX_SCHEMA_FILE_BYTES`]. Specs come from analysts and can never read other files (keys,
/// configs): errors never quote what the file holds ([`redact`]).
fn read_schema_file(file: &Path) -> Result<SchemaSource, InvalidSchema> {
    let context = file.display().to_string();
    let invalid = |message: String| InvalidSchema {
        context: context.clone(),
        message,
    };
    let read_error = |e: std::io::Error| invalid(e.to_string());
    // `x.avsc -> secret.json` passes the name check; what is read is the link's target.
    let real = std::fs::canonicalize(file).map_err(read_error)?;
    if avro_schema_name(&real).is_err() {
        return Err(invalid(
            "a link to a file whose name does not end in `.avsc`: a spec may only name an Avro \
             schema file ending in `.avsc` (JSON Avro schema), links included"
                .into(),
        ));
    }
    match std::fs::metadata(&real) {
        Ok(m) if !m.is_file() => return Err(invalid("not a regular file".into())),
        Ok(m) if m.len() > MAX_SCHEMA_FILE_BYTES => {
            return Err(invalid(format!(
                "{} bytes; an Avro schema file holds at most {MAX_SCHEMA_FILE_BYTES} bytes",
                m.len()
            )))
        }
        Ok(_) => {}
        Err(e) => return Err(read_error(e)),
    }
    let bytes = std::fs::read(&real).map_err(read_error)?;
    let text = String::from_utf8(bytes)
        .map_err(|_| invalid("not UTF-8 text, so not a JSON Avro schema".into()))?;
    SchemaSource::parse(&text, &context).map_err(|e| InvalidSchema {
        message: redact(&e.message, &text),
        ..e
    })
}

/// Words of Avro schemas that a parser's message may quote from the file.
const AVRO_WORDS: &[&str] = &[
    "null",
    "boolean",
    "int",
    "long",
    "float",
    "double",
    "bytes",
    "string",
    "array",
    "map",
    "record",
    "enum",
    "fixed",
    "type",
    "name",
    "namespace",
    "fields",
    "items",
    "values",
    "symbols",
    "size",
    "default",
    "doc",
    "aliases",
    "order",
    "logicalType",
    "precision",
    "scale",
    "error",
];

/// `message` with every word that the file's text holds (bar Avro's own keywords and small
/// numbers such as line and column) replaced by `…`: a parser quotes what it could not parse,
/// and the file may hold secrets.
fn redact(message: &str, text: &str) -> String {
    let token = |c: char| c.is_alphanumeric() || matches!(c, '_' | '-' | '.' | '/' | '$' | '@');
    let in_file: std::collections::HashSet<&str> = text
        .split(|c: char| !token(c))
        .filter(|w| !w.is_empty())
        .collect();
    let mut out = String::with_capacity(message.len());
    let mut word = String::new();
    let flush = |word: &mut String, out: &mut String| {
        let w = word.trim_end_matches('.');
        let quoted = |w: &str| {
            in_file.contains(w)
                && !AVRO_WORDS.contains(&w)
                && !(w.len() <= 4 && w.chars().all(|c| c.is_ascii_digit()))
        };
        // A parser may join words of the file, e.g. a namespace and a name into a full name.
        let safe = !quoted(w) && !w.split('.').any(quoted);
        if safe {
            out.push_str(word);
        } else {
            out.push('…');
            out.push_str(&word[w.len()..]);
        }
        word.clear();
    };
    for c in message.chars() {
        if token(c) {
            word.push(c);
        } else {
            flush(&mut word, &mut out);
            out.push(c);
        }
    }
    flush(&mut word, &mut out);
    out
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
                program: Err(vec![locate_yaml_mistake(&source, p)]),
                source,
                schema: None,
            }
        }
    };
    let mut schema = None;
    if let Some(rel) = &spec.input.schema {
        let file = path.parent().unwrap_or(Path::new(".")).join(&rel.value);
        // Parsed as a reader schema too: runs resolve writer schemas against it, so a default
        // that does not fit its field is a spec problem (redacted like every schema error).
        let as_reader = |s: SchemaSource| match ReaderSchema::parse(s.json(), "") {
            Ok(_) => Ok(s),
            Err(e) => Err(InvalidSchema {
                context: file.display().to_string(),
                message: redact(&e.message, s.json()),
            }),
        };
        match avro_schema_name(&file)
            .and_then(|()| read_schema(&file))
            .and_then(as_reader)
        {
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

/// The YAML parser reports two common mistakes where it gave up rather than where they are: a
/// tab starting a line is found while scanning the end of the line before, and an unclosed `[`
/// or `{` only when a later line cannot belong to the flow collection. This points at the tab
/// or the bracket instead, keeping the parser's words; other problems pass unchanged.
fn locate_yaml_mistake(source: &str, mut p: SpecProblem) -> SpecProblem {
    let Some(at) = p.at else {
        return p;
    };
    let lines: Vec<&str> = source.lines().collect();
    let reported = at.line as usize;
    if ["found a tab", "tabs disallowed", "tab character"]
        .iter()
        .any(|m| p.message.contains(m))
    {
        // The reported line, or the one after it, begins with a tab.
        for (i, line) in lines
            .iter()
            .enumerate()
            .skip(reported.saturating_sub(1))
            .take(2)
        {
            let indent = &line[..line.len() - line.trim_start_matches([' ', '\t']).len()];
            if let Some(col) = indent.find('\t') {
                p.at = Some(Location {
                    line: i as u32 + 1,
                    column: col as u32 + 1,
                });
                p.message = format!(
                    "{}: a tab in the indentation of this line; YAML indents with spaces only, \
                     so replace the tab with spaces",
                    p.message
                );
                return p;
            }
        }
        p.message
            .push_str(" (YAML allows no tabs here: replace them with spaces)");
        return p;
    }
    let flow = [
        "illegal placement of ':'",
        "did not find expected ','",
        "flow",
    ];
    if !flow.iter().any(|m| p.message.contains(m)) {
        return p;
    }
    let Some(open) = unclosed_bracket(&lines, reported, at.column as usize) else {
        return p;
    };
    if open.line >= at.line {
        return p;
    }
    let bracket = lines[open.line as usize - 1]
        .chars()
        .nth(open.column as usize - 1)
        .unwrap_or('[');
    let close = if bracket == '{' { '}' } else { ']' };
    p.message = format!(
        "{} (reported at line {}, column {}): the `{bracket}` here is never closed; add the \
         `{close}` at the end of the list",
        p.message, at.line, at.column
    );
    p.at = Some(open);
    p
}

/// The innermost `[` or `{` still open at `line`:`column` (1-based), skipping quoted strings
/// and comments.
fn unclosed_bracket(lines: &[&str], line: usize, column: usize) -> Option<Location> {
    let mut open: Vec<Location> = Vec::new();
    for (i, text) in lines.iter().enumerate().take(line) {
        let mut quote: Option<char> = None;
        let mut prev = ' ';
        for (j, c) in text.chars().enumerate() {
            if i + 1 == line && j + 1 >= column {
                break;
            }
            match (quote, c) {
                (Some(q), c) if c == q => quote = None,
                (Some(_), _) => {}
                (None, '"' | '\'') => quote = Some(c),
                (None, '#') if prev.is_whitespace() => break,
                (None, '[' | '{') => open.push(Location {
                    line: i as u32 + 1,
                    column: j as u32 + 1,
                }),
                (None, ']' | '}') => {
                    open.pop();
                }
                _ => {}
            }
            prev = c;
        }
    }
    open.pop()
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

    fn logical_time_unit(&self, path: &str) -> Option<(TimeUnit, String)> {
        logical_time_unit(self.0, &path.parse().ok()?)
    }

    fn json(&self) -> Option<&str> {
        Some(self.0.json())
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
