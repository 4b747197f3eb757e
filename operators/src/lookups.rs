//! Lookups checked and resolved: the validated side of `input.lookups` (see
//! [`crate::spec::LookupSpec`]). Each lookup's columns become record slots after the decoder's
//! slots; the runtime that fills them (a cache in front of ScyllaDB) lives outside this crate,
//! which does no I/O.

use crate::program::{SchemaFields, SpecProblem};
use crate::spec::{location, CqlType, LookupSpec, OnMissing, OnMultipleRows};
use spanflow_engine::error::closest;
use spanflow_engine::{Location, ValueType};
use std::collections::HashMap;

/// The key of a lookup, as the events give it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum LookupKey {
    /// The event's session key (`key: $session`), a string.
    Session,
    /// A field of the event, read by the decoder into `slot`.
    Field {
        /// The field path.
        path: String,
        /// The record slot holding it.
        slot: usize,
        /// Its type.
        ty: ValueType,
    },
}

impl LookupKey {
    /// The type of the key's values.
    pub fn value_type(&self) -> ValueType {
        match self {
            LookupKey::Session => ValueType::Str,
            LookupKey::Field { ty, .. } => *ty,
        }
    }
}

/// The key written for the session key.
pub const SESSION_KEY: &str = "$session";

/// One fetched column of a lookup.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LookupColumn {
    /// The column name.
    pub name: String,
    /// Its declared CQL type.
    pub cql_type: CqlType,
    /// The record slot its value is joined into.
    pub slot: usize,
}

/// A validated lookup.
#[derive(Clone, Debug, PartialEq)]
pub struct LookupPlan {
    /// The lookup's name (`get` nodes read `<name>.<column>`).
    pub name: String,
    /// Where the key comes from.
    pub key: LookupKey,
    /// The keyspace.
    pub keyspace: String,
    /// The table.
    pub table: String,
    /// The column matched against the key.
    pub key_column: String,
    /// The fetched columns, in name order, with their slots.
    pub columns: Vec<LookupColumn>,
    /// At most this many keys are cached.
    pub cache_capacity: u64,
    /// A cached row (or absence) is used this long (ms).
    pub cache_ttl_ms: i64,
    /// What events whose key has no row get.
    pub on_missing: OnMissing,
    /// Which of several rows is joined.
    pub on_multiple_rows: OnMultipleRows,
}

impl LookupPlan {
    /// `SELECT <columns> FROM <keyspace>.<table> WHERE <key_column> = ?`.
    pub fn select(&self) -> String {
        let columns: Vec<&str> = self.columns.iter().map(|c| c.name.as_str()).collect();
        format!(
            "SELECT {} FROM {}.{} WHERE {} = ?",
            columns.join(", "),
            self.keyspace,
            self.table,
            self.key_column
        )
    }

    /// The column named `name`.
    pub fn column(&self, name: &str) -> Option<&LookupColumn> {
        self.columns.iter().find(|c| c.name == name)
    }
}

/// `[A-Za-z][A-Za-z0-9_]*`: a name that needs no quoting in CQL (nor a dot-separated path).
pub fn is_plain_name(s: &str) -> bool {
    s.starts_with(|c: char| c.is_ascii_alphabetic())
        && s.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// Lookups being resolved while the program is checked; slots are given at the end.
pub(crate) struct Resolver {
    plans: Vec<LookupPlan>,
    at: Vec<Option<Location>>,
    read: Vec<bool>,
    /// `get` nodes reading lookup columns: (declaration index, lookup, column).
    gets: Vec<(usize, usize, usize)>,
}

impl Resolver {
    /// Checks `specs`; lookup keys read from events are added to `fields` (the decoder's slots).
    pub(crate) fn new(
        specs: Vec<LookupSpec>,
        schema: Option<&dyn SchemaFields>,
        fields: &mut Vec<(String, ValueType)>,
        problems: &mut Vec<SpecProblem>,
    ) -> Self {
        let mut resolver = Resolver {
            plans: Vec::new(),
            at: Vec::new(),
            read: Vec::new(),
            gets: Vec::new(),
        };
        let mut seen: HashMap<String, Option<Location>> = HashMap::new();
        let names: Vec<String> = specs.iter().map(|s| s.name.value.clone()).collect();
        for (i, spec) in specs.into_iter().enumerate() {
            let name = spec.name.value.clone();
            let what = format!("input.lookups[{i}] (`{name}`)");
            let mut problem = |at, message: String| {
                problems.push(SpecProblem {
                    at,
                    message: format!("{what}: {message}"),
                })
            };
            if !is_plain_name(&name) {
                problem(
                    location(&spec.name),
                    format!("the name `{name}` must be a letter followed by letters, digits or `_` (it is read as `{name}.<column>`)"),
                );
            }
            if let Some(first) = seen.insert(name.to_lowercase(), location(&spec.name)) {
                problem(
                    location(&spec.name),
                    format!(
                        "duplicate lookup name `{name}` (first at line {})",
                        first.map_or(0, |l| l.line)
                    ),
                );
            }
            for (field, value) in [
                ("keyspace", &spec.keyspace),
                ("table", &spec.table),
                ("key_column", &spec.key_column),
            ] {
                if !is_plain_name(&value.value) || value.value.len() > 48 {
                    problem(
                        location(value),
                        format!(
                            "{field} `{}` is not a plain CQL name (a letter, then up to 47 letters, digits or `_`)",
                            value.value
                        ),
                    );
                }
            }
            if spec.columns.is_empty() {
                problem(
                    location(&spec.name),
                    "`columns` is empty: list the columns to fetch with their CQL types, e.g. `{ tier: text }`".into(),
                );
            }
            let mut columns = Vec::new();
            for (column, ty) in &spec.columns {
                if !is_plain_name(column) {
                    problem(
                        location(&spec.name),
                        format!("column `{column}` is not a plain CQL name (a letter, then letters, digits or `_`)"),
                    );
                } else if column.eq_ignore_ascii_case(&spec.key_column.value) {
                    problem(
                        location(&spec.key_column),
                        format!("column `{column}` is the key column; read the key from the event instead"),
                    );
                }
                columns.push(LookupColumn {
                    name: column.clone(),
                    cql_type: *ty,
                    slot: 0,
                });
            }
            if spec.cache.capacity == 0 {
                problem(
                    location(&spec.name),
                    "cache.capacity is 0: cache at least one key".into(),
                );
            }
            let key = if spec.key.value == SESSION_KEY {
                LookupKey::Session
            } else {
                let path = spec.key.value.clone();
                let first = path.split('.').next().unwrap_or_default();
                let declared = spec.key_type.map(ValueType::from);
                let ty = if names.iter().any(|n| n == first) {
                    problem(
                        location(&spec.key),
                        format!("key `{path}` is a lookup's column; a key must be a field of the input records or `{SESSION_KEY}`"),
                    );
                    ValueType::Str
                } else {
                    match (declared, schema.map(|s| s.field_type(&path))) {
                        (declared, Some(Err(m))) => {
                            problem(location(&spec.key), format!("key: {m}"));
                            declared.unwrap_or(ValueType::Str)
                        }
                        (Some(d), Some(Ok(f))) if d != f => {
                            problem(
                                location(&spec.key),
                                format!("key field `{path}` is {f} in the schema, but `key_type` says {d}"),
                            );
                            d
                        }
                        (Some(d), _) => d,
                        (None, Some(Ok(f))) => f,
                        (None, None) => ValueType::Str,
                    }
                };
                let slot = match fields.iter().position(|(p, t)| *p == path && *t == ty) {
                    Some(s) => s,
                    None => {
                        fields.push((path.clone(), ty));
                        fields.len() - 1
                    }
                };
                LookupKey::Field { path, slot, ty }
            };
            resolver.at.push(location(&spec.name));
            resolver.read.push(false);
            resolver.plans.push(LookupPlan {
                name,
                key,
                keyspace: spec.keyspace.value,
                table: spec.table.value,
                key_column: spec.key_column.value,
                columns,
                cache_capacity: spec.cache.capacity,
                cache_ttl_ms: spec.cache.ttl_secs.millis().max(1),
                on_missing: spec.on_missing,
                on_multiple_rows: spec.on_multiple_rows,
            });
        }
        resolver
    }

    /// If `field` (a `get` node's path) names a lookup, resolves it: `None` when it does not,
    /// else the column's type or what is wrong. `decl` is the node's declaration index.
    pub(crate) fn get(&mut self, decl: usize, field: &str) -> Option<Result<ValueType, String>> {
        let (name, column) = match field.split_once('.') {
            Some((n, c)) => (n, Some(c)),
            None => (field, None),
        };
        let l = self.plans.iter().position(|p| p.name == name)?;
        let plan = &self.plans[l];
        let valid = || {
            plan.columns
                .iter()
                .map(|c| format!("`{}.{}`", plan.name, c.name))
                .collect::<Vec<_>>()
                .join(", ")
        };
        let Some(column) = column else {
            return Some(Err(format!(
                "`{name}` is a lookup, not a value: read one of its columns ({})",
                valid()
            )));
        };
        let Some(c) = plan.columns.iter().position(|c| c.name == column) else {
            let hint = closest(column, plan.columns.iter().map(|c| c.name.as_str()))
                .map(|s| format!("did you mean `{name}.{s}`? "))
                .unwrap_or_default();
            return Some(Err(format!(
                "lookup `{name}` has no column `{column}`; {hint}(its columns: {})",
                valid()
            )));
        };
        self.read[l] = true;
        self.gets.push((decl, l, c));
        Some(Ok(plan.columns[c].cql_type.value_type()))
    }

    /// Gives the lookup columns the slots after the decoder's `decoded` slots. Returns the
    /// plans, the slot of each resolved `get` (declaration index, slot), and a warning per
    /// lookup no `get` reads.
    pub(crate) fn finish(
        mut self,
        decoded: usize,
    ) -> (Vec<LookupPlan>, Vec<(usize, usize)>, Vec<SpecProblem>) {
        let mut next = decoded;
        for plan in &mut self.plans {
            for c in &mut plan.columns {
                c.slot = next;
                next += 1;
            }
        }
        let slots = self
            .gets
            .iter()
            .map(|&(decl, l, c)| (decl, self.plans[l].columns[c].slot))
            .collect();
        let warnings = self
            .plans
            .iter()
            .zip(&self.read)
            .zip(&self.at)
            .filter(|((_, read), _)| !**read)
            .map(|((p, _), at)| SpecProblem {
                at: *at,
                message: format!(
                    "lookup `{}` is fetched but no `get` node reads its columns",
                    p.name
                ),
            })
            .collect();
        (self.plans, slots, warnings)
    }
}

#[cfg(test)]
mod tests {
    use crate::program::Program;
    use crate::AnyOperator;
    use spanflow_engine::ValueType;

    const SPEC: &str = r#"
name: t
input:
  session_key: k
  time: t
  lookups:
    - name: cdn_info
      key: cdn
      keyspace: ref
      table: cdns
      key_column: name
      columns: { tier: text, max_bitrate: double, live: boolean }
    - name: owner
      key: $session
      keyspace: ref
      table: owners
      key_column: session
      columns: { team: text }
      cache: { capacity: 5, ttl_secs: 2 }
      on_missing: drop_event
      on_multiple_rows: last
nodes:
  - { id: events, op: event_source }
  - { id: x, op: get, inputs: [events], with: { field: x, type: f64 } }
  - { id: tier, op: get, inputs: [events], with: { field: cdn_info.tier } }
  - { id: live, op: get, inputs: [events], with: { field: cdn_info.live, type: bool } }
  - { id: team, op: get, inputs: [events], with: { field: owner.team } }
outputs:
  - { name: o, evaluate_at: every_event, columns: [x, tier, live, team] }
"#;

    fn messages(yaml: &str) -> Vec<String> {
        Program::parse(yaml, None)
            .unwrap_err()
            .into_iter()
            .map(|p| p.to_string())
            .collect()
    }

    #[test]
    fn lookup_columns_get_slots_after_the_decoded_fields() {
        let p = Program::parse(SPEC, None).unwrap_or_else(|e| panic!("{e:?}"));
        // The key `cdn` is decoded (first: lookups are resolved before nodes), then `x`.
        assert_eq!(
            p.input.fields,
            [
                ("cdn".to_string(), ValueType::Str),
                ("x".into(), ValueType::F64)
            ]
        );
        let cdn = &p.input.lookups[0];
        assert_eq!(
            cdn.key,
            super::LookupKey::Field {
                path: "cdn".into(),
                slot: 0,
                ty: ValueType::Str
            }
        );
        let slots: Vec<(&str, usize)> = cdn
            .columns
            .iter()
            .map(|c| (c.name.as_str(), c.slot))
            .collect();
        assert_eq!(slots, [("live", 2), ("max_bitrate", 3), ("tier", 4)]);
        let owner = &p.input.lookups[1];
        assert_eq!(owner.key, super::LookupKey::Session);
        assert_eq!(owner.columns[0].slot, 5);
        assert_eq!(owner.cache_capacity, 5);
        assert_eq!(owner.cache_ttl_ms, 2000);
        assert_eq!(p.input.slots(), 6);
        assert_eq!(
            cdn.select(),
            "SELECT live, max_bitrate, tier FROM ref.cdns WHERE name = ?"
        );
        let get_slot = |id: &str| match &p.plan.node(id).unwrap().op {
            AnyOperator::Get(g) => (g.slot, g.field_type.map(ValueType::from)),
            _ => panic!("{id} is a get"),
        };
        assert_eq!(get_slot("x"), (1, Some(ValueType::F64)));
        assert_eq!(get_slot("tier"), (4, Some(ValueType::Str)));
        assert_eq!(get_slot("live"), (2, Some(ValueType::Bool)));
        assert_eq!(get_slot("team"), (5, Some(ValueType::Str)));
        // max_bitrate is fetched though no node reads it: no warning, the lookup is read.
        assert!(p.warnings.is_empty(), "{:?}", p.warnings);
        let explain = p.explain();
        assert!(
            explain.contains("lookup cdn_info: ref.cdns where name = cdn: [2] cdn_info.live: boolean, [3] cdn_info.max_bitrate: double, [4] cdn_info.tier: text"),
            "{explain}"
        );
        assert!(
            explain.contains(
                "lookup owner: ref.owners where session = $session: [5] owner.team: text"
            ),
            "{explain}"
        );
    }

    #[test]
    fn a_lookup_no_node_reads_is_a_warning() {
        let yaml = SPEC
            .replace(
                "  - { id: team, op: get, inputs: [events], with: { field: owner.team } }\n",
                "",
            )
            .replace(", team]", "]");
        let p = Program::parse(&yaml, None).unwrap_or_else(|e| panic!("{e:?}"));
        let w: Vec<String> = p.warnings.iter().map(|w| w.to_string()).collect();
        assert_eq!(
            w,
            ["13:13: lookup `owner` is fetched but no `get` node reads its columns"]
        );
    }

    #[test]
    fn names_keys_and_columns_are_checked() {
        let m = messages(&SPEC.replace("name: owner", "name: cdn_info"));
        assert!(
            m.iter()
                .any(|m| m.contains("duplicate lookup name `cdn_info` (first at line 7)")),
            "{m:?}"
        );
        let m = messages(&SPEC.replace("name: owner", "name: own-er"));
        assert!(
            m.iter()
                .any(|m| m.contains("the name `own-er` must be a letter")),
            "{m:?}"
        );
        let m = messages(&SPEC.replace("table: owners", "table: \"owners;\""));
        assert!(
            m.iter()
                .any(|m| m.contains("table `owners;` is not a plain CQL name")),
            "{m:?}"
        );
        let m = messages(&SPEC.replace("{ team: text }", "{ session: text }"));
        assert!(
            m.iter()
                .any(|m| m.contains("column `session` is the key column")),
            "{m:?}"
        );
        let m = messages(&SPEC.replace("{ team: text }", "{}"));
        assert!(m.iter().any(|m| m.contains("`columns` is empty")), "{m:?}");
        let m = messages(&SPEC.replace("key: cdn\n", "key: owner.team\n"));
        assert!(
            m.iter()
                .any(|m| m.contains("key `owner.team` is a lookup's column")),
            "{m:?}"
        );
        let m = messages(&SPEC.replace("capacity: 5", "capacity: 0"));
        assert!(m.iter().any(|m| m.contains("cache.capacity is 0")), "{m:?}");
        let m = messages(&SPEC.replace("field: owner.team", "field: owner"));
        assert!(
            m.iter().any(|m| m.contains("node `team` (get): `owner` is a lookup, not a value: read one of its columns (`owner.team`)")),
            "{m:?}"
        );
        let m = messages(&SPEC.replace("on_missing: drop_event", "on_missing: skip"));
        assert!(
            m[0].contains("unknown variant `skip`, expected one of null_fields, drop_event"),
            "{m:?}"
        );
    }
}
