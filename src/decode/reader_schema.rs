//! The spec's reader schema (`input.schema`): what writer schemas are resolved against, per the
//! Avro specification's schema resolution rules.
//!
//! The navigable graph comes from serde_avro_fast like the writer's, so both sides are walked
//! alike; it drops field and enum defaults, so apache-avro's parse supplies those.

use super::error::InvalidSchema;
use super::schema::SchemaSource;
use apache_avro::Schema;
use std::collections::HashMap;

/// A parsed reader schema with the defaults of its record fields and enums.
pub struct ReaderSchema {
    source: SchemaSource,
    /// Field defaults by (record full name, field name).
    field_defaults: HashMap<(String, String), serde_json::Value>,
    /// Enum defaults by enum full name.
    enum_defaults: HashMap<String, String>,
    /// Field aliases (earlier names a writer may use) by (record full name, field name).
    field_aliases: HashMap<(String, String), Vec<String>>,
}

impl std::fmt::Debug for ReaderSchema {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ReaderSchema")
            .field("json", &self.source.json())
            .finish()
    }
}

impl PartialEq for ReaderSchema {
    fn eq(&self, other: &Self) -> bool {
        self.source.json() == other.source.json()
    }
}

impl ReaderSchema {
    /// Parses a reader schema from its JSON text. `context` names the source in errors.
    pub fn parse(json: &str, context: &str) -> Result<Self, InvalidSchema> {
        let source = SchemaSource::parse(json, context)?;
        let parsed = Schema::parse_str(json).map_err(|e| InvalidSchema {
            context: context.to_owned(),
            message: e.to_string(),
        })?;
        let mut reader = ReaderSchema {
            source,
            field_defaults: HashMap::new(),
            enum_defaults: HashMap::new(),
            field_aliases: HashMap::new(),
        };
        reader.collect(&parsed);
        Ok(reader)
    }

    fn collect(&mut self, schema: &Schema) {
        match schema {
            Schema::Record(r) => {
                let name = r.name.fullname(None);
                for f in &r.fields {
                    if let Some(d) = &f.default {
                        self.field_defaults
                            .insert((name.clone(), f.name.clone()), d.clone());
                    }
                    if !f.aliases.is_empty() {
                        self.field_aliases
                            .insert((name.clone(), f.name.clone()), f.aliases.clone());
                    }
                    self.collect(&f.schema);
                }
            }
            Schema::Enum(e) => {
                if let Some(d) = &e.default {
                    self.enum_defaults.insert(e.name.fullname(None), d.clone());
                }
            }
            Schema::Array(a) => self.collect(&a.items),
            Schema::Map(m) => self.collect(&m.types),
            Schema::Union(u) => u.variants().iter().for_each(|v| self.collect(v)),
            _ => {}
        }
    }

    /// The schema as parsed for navigation.
    pub fn source(&self) -> &SchemaSource {
        &self.source
    }

    /// The default of field `field` of record `record` (full name), if it has one.
    pub(crate) fn field_default(&self, record: &str, field: &str) -> Option<&serde_json::Value> {
        self.field_defaults
            .get(&(record.to_owned(), field.to_owned()))
    }

    /// The aliases of field `field` of record `record` (full name).
    pub(crate) fn field_aliases(&self, record: &str, field: &str) -> &[String] {
        self.field_aliases
            .get(&(record.to_owned(), field.to_owned()))
            .map_or(&[], Vec::as_slice)
    }

    /// The default symbol of enum `name` (full name), if it has one.
    pub(crate) fn enum_default(&self, name: &str) -> Option<&str> {
        self.enum_defaults.get(name).map(String::as_str)
    }
}
