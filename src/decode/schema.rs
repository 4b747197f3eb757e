//! A parsed writer schema, kept in two forms: the navigable graph used to compile decode plans
//! and the frozen, validated form (which also keeps the JSON).

use super::error::InvalidSchema;
use serde_avro_fast::schema::{RegularType, SchemaKey, SchemaMut};
use std::fmt::Write as _;
use std::path::Path;
use std::sync::Arc;

/// A parsed Avro writer schema (with any referenced named types already inlined).
#[derive(Clone)]
pub struct SchemaSource {
    graph: SchemaMut,
    frozen: Arc<serde_avro_fast::Schema>,
}

impl std::fmt::Debug for SchemaSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SchemaSource")
            .field("json", &self.json())
            .finish()
    }
}

impl SchemaSource {
    /// Parses a schema from its JSON text. `context` names the source in errors.
    pub fn parse(json: &str, context: &str) -> Result<Self, InvalidSchema> {
        Self::parse_with_references(json, std::iter::empty::<&str>(), context)
    }

    /// Parses a schema whose named-type references are defined in `references` (the Schema
    /// Registry's `references`, already fetched).
    pub fn parse_with_references(
        json: &str,
        references: impl IntoIterator<Item = impl AsRef<str>>,
        context: &str,
    ) -> Result<Self, InvalidSchema> {
        let invalid = |e: &dyn std::fmt::Display| InvalidSchema {
            context: context.to_owned(),
            message: e.to_string(),
        };
        let graph = SchemaMut::from_schemata(json, references).map_err(|e| invalid(&e))?;
        let frozen = graph.clone().freeze().map_err(|e| invalid(&e))?;
        Ok(SchemaSource {
            graph,
            frozen: Arc::new(frozen),
        })
    }

    /// Reads and parses an `.avsc` file.
    pub fn from_file(path: &Path) -> Result<Self, InvalidSchema> {
        let context = path.display().to_string();
        let json = std::fs::read_to_string(path).map_err(|e| InvalidSchema {
            context: context.clone(),
            message: e.to_string(),
        })?;
        Self::parse(&json, &context)
    }

    /// The schema as JSON.
    pub fn json(&self) -> &str {
        self.frozen.json()
    }

    /// Full name of the top-level type, if it is a named type.
    pub fn root_name(&self) -> Option<&str> {
        self.graph
            .root()
            .type_
            .name()
            .map(|n| n.fully_qualified_name())
    }

    /// The navigable graph (nodes addressed by [`SchemaKey`]).
    pub(crate) fn graph(&self) -> &SchemaMut {
        &self.graph
    }

    /// The frozen schema (what serde_avro_fast deserializes with).
    #[cfg(test)]
    pub(crate) fn frozen(&self) -> &Arc<serde_avro_fast::Schema> {
        &self.frozen
    }

    /// A short human-readable type of `key`, e.g. `["null","string"]` or `long (timestamp-millis)`.
    pub(crate) fn describe(&self, key: SchemaKey) -> String {
        let mut s = String::new();
        self.describe_into(key, &mut s, 0);
        s
    }

    fn describe_into(&self, key: SchemaKey, out: &mut String, depth: usize) {
        let Some(node) = self.graph.get(key) else {
            out.push_str("<invalid>");
            return;
        };
        if depth > 3 {
            out.push('…');
            return;
        }
        match &node.type_ {
            RegularType::Null => out.push_str("null"),
            RegularType::Boolean => out.push_str("boolean"),
            RegularType::Int => out.push_str("int"),
            RegularType::Long => out.push_str("long"),
            RegularType::Float => out.push_str("float"),
            RegularType::Double => out.push_str("double"),
            RegularType::Bytes => out.push_str("bytes"),
            RegularType::String => out.push_str("string"),
            RegularType::Array(a) => {
                out.push_str("array<");
                self.describe_into(a.items, out, depth + 1);
                out.push('>');
            }
            RegularType::Map(m) => {
                out.push_str("map<");
                self.describe_into(m.values, out, depth + 1);
                out.push('>');
            }
            RegularType::Union(u) => {
                out.push('[');
                for (i, v) in u.variants.iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    let quote = is_primitive(&self.graph[*v].type_);
                    if quote {
                        out.push('"');
                    }
                    self.describe_into(*v, out, depth + 1);
                    if quote {
                        out.push('"');
                    }
                }
                out.push(']');
            }
            RegularType::Record(r) => {
                let _ = write!(out, "record {}", r.name.fully_qualified_name());
            }
            RegularType::Enum(e) => {
                let _ = write!(out, "enum {}", e.name.fully_qualified_name());
            }
            RegularType::Fixed(f) => {
                let _ = write!(out, "fixed {}[{}]", f.name.fully_qualified_name(), f.size);
            }
        }
        if let Some(logical) = &node.logical_type {
            let _ = write!(out, " ({})", logical.as_str());
        }
    }
}

fn is_primitive(t: &RegularType) -> bool {
    matches!(
        t,
        RegularType::Null
            | RegularType::Boolean
            | RegularType::Int
            | RegularType::Long
            | RegularType::Float
            | RegularType::Double
            | RegularType::Bytes
            | RegularType::String
    )
}

/// The time unit an Avro logical type implies, if it is a timestamp.
pub(crate) fn timestamp_unit(logical: Option<&str>) -> Option<spanflow_engine::TimeUnit> {
    use spanflow_engine::TimeUnit;
    match logical? {
        "timestamp-millis" | "local-timestamp-millis" => Some(TimeUnit::Milliseconds),
        "timestamp-micros" | "local-timestamp-micros" => Some(TimeUnit::Microseconds),
        "timestamp-nanos" | "local-timestamp-nanos" => Some(TimeUnit::Nanoseconds),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn describes_types_for_error_messages() {
        let s = SchemaSource::parse(
            r#"{"type":"record","name":"R","namespace":"n","fields":[
                {"name":"a","type":["null","string"]},
                {"name":"t","type":{"type":"long","logicalType":"timestamp-micros"}},
                {"name":"m","type":{"type":"map","values":"int"}}]}"#,
            "test",
        )
        .unwrap();
        assert_eq!(s.root_name(), Some("n.R"));
        let RegularType::Record(r) = &s.graph().root().type_ else {
            panic!("record")
        };
        let d: Vec<_> = r.fields.iter().map(|f| s.describe(f.type_)).collect();
        assert_eq!(
            d,
            [
                r#"["null","string"]"#,
                "long (timestamp-micros)",
                "map<int>"
            ]
        );
        assert_eq!(s.describe(SchemaKey::root()), "record n.R");
    }

    #[test]
    fn invalid_schemas_name_their_source() {
        let e = SchemaSource::parse(
            r#"{"type":"record","name":"R","fields":[{"name":"a"}]}"#,
            "x.avsc",
        )
        .unwrap_err();
        assert_eq!(e.context, "x.avsc");
        assert!(!e.message.is_empty());
    }
}
