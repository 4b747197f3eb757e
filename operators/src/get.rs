//! `get` (alias `extract`): one field of each input record, as an event timeline.

use crate::prelude::*;
use spanflow_engine::Field;
use std::fmt;

/// The serde aliases, for the schema (`spanflow schema`).
fn field_type_aliases(schema: &mut schemars::Schema) {
    crate::schema::add_aliases(
        schema,
        &[
            ("number", "f64"),
            ("double", "f64"),
            ("float", "f64"),
            ("long", "f64"),
            ("int", "f64"),
            ("boolean", "bool"),
            ("str", "string"),
            ("enum", "string"),
        ],
    );
}

/// The type of a field, as analysts write it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
#[schemars(transform = field_type_aliases)]
pub enum FieldType {
    /// Any Avro number.
    #[serde(
        alias = "number",
        alias = "double",
        alias = "float",
        alias = "long",
        alias = "int"
    )]
    F64,
    /// Avro boolean.
    #[serde(alias = "boolean")]
    Bool,
    /// Avro string or enum.
    #[serde(rename = "string", alias = "str", alias = "enum")]
    Str,
}

impl From<FieldType> for ValueType {
    fn from(t: FieldType) -> Self {
        match t {
            FieldType::F64 => ValueType::F64,
            FieldType::Bool => ValueType::Bool,
            FieldType::Str => ValueType::Str,
        }
    }
}

impl fmt::Display for FieldType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        ValueType::from(*self).fmt(f)
    }
}

/// The serde aliases, for the schema (`spanflow schema`).
fn get_aliases(schema: &mut schemars::Schema) {
    crate::schema::add_aliases(schema, &[("path", "field")]);
}

/// One field of each input record, as an event timeline.
#[derive(Clone, Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(transform = get_aliases)]
pub struct Get {
    /// Field path in the record, nested records separated by dots (`device.os`).
    #[serde(alias = "path")]
    pub field: String,
    /// The field's type; may be left out when the spec's input names an Avro schema.
    #[serde(default, rename = "type")]
    pub field_type: Option<FieldType>,
    /// The record slot the decoder fills for this field (set when the plan is built).
    #[serde(skip)]
    pub slot: usize,
}

impl Operator for Get {
    fn name(&self) -> &'static str {
        "get"
    }

    fn output_type(&self, inputs: &[TimelineType]) -> Result<TimelineType, TypeMismatch> {
        expect_arity(inputs, 1, 1)?;
        if inputs[0] != TimelineType::RECORDS {
            return Err(TypeMismatch::input(
                0,
                format!("expects the records of `event_source`, got {}", inputs[0]),
            ));
        }
        match self.field_type {
            Some(t) => Ok(TimelineType::events(t.into())),
            None => Err(TypeMismatch::node(format!(
                "the type of field `{}` is unknown: add `type: string`, `f64` or `bool` under `with:`, or name the Avro schema in `input.schema`",
                self.field
            ))),
        }
    }

    fn layout(&self, _: &[TimelineType]) -> Layout {
        // The field router steps this node only when a record has the field.
        Layout {
            wake: Wake::Field(self.slot),
            ..Layout::default()
        }
    }

    fn step(&self, io: &mut Io<'_>) {
        let want = self.field_type.map(ValueType::from);
        let now = io.cx.now;
        for (origin, r) in (0u32..).zip(io.cx.records) {
            let v = r.field(self.slot);
            // The decoder converts to the planned type; anything else is left out.
            let ok = matches!(
                (want, v),
                (Some(ValueType::F64), Field::F64(_))
                    | (Some(ValueType::Bool), Field::Bool(_))
                    | (Some(ValueType::Str), Field::Sym(_))
            );
            if let (true, Some(v)) = (ok, v.val()) {
                io.out.push_event_from(now, v, origin);
            }
        }
    }

    fn describe(&self) -> String {
        match self.field_type {
            Some(t) => format!("field: {}, type: {t}", self.field),
            None => format!("field: {}", self.field),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use spanflow_engine::{build_plan, Event, Interpreter, NodeDecl};

    #[test]
    fn extracts_present_fields_and_skips_nulls() {
        let decls = vec![
            NodeDecl {
                id: "src".into(),
                at: None,
                inputs: vec![],
                op: crate::AnyOperator::from(crate::event_source::EventSource {}),
            },
            NodeDecl {
                id: "cdn".into(),
                at: None,
                inputs: vec![("src".into(), None)],
                op: crate::AnyOperator::from(Get {
                    field: "cdn".into(),
                    field_type: Some(FieldType::Str),
                    slot: 1,
                }),
            },
        ];
        let plan = build_plan(decls).unwrap();
        let mut interp = Interpreter::new(&plan);
        let mut s = interp.open_session();
        let c1 = interp.strings_mut().intern("C1");
        let rec = |t, v: Field| Event {
            time: t,
            sequence: i64::MIN,
            fields: smallvec::smallvec![Field::Null, v],
        };
        interp
            .step(
                &mut s,
                1000,
                &[rec(1000, Field::Sym(c1)), rec(1000, Field::Null)],
            )
            .unwrap();
        assert_eq!(interp.output(1).items.as_slice(), &[(1000, Val::Sym(c1))]);
        interp
            .step(&mut s, 2000, &[rec(2000, Field::Null)])
            .unwrap();
        assert!(interp.output(1).is_empty());
    }

    #[test]
    fn needs_a_type_or_a_schema() {
        let g = Get {
            field: "cdn".into(),
            field_type: None,
            slot: 0,
        };
        let e = g.output_type(&[TimelineType::RECORDS]).unwrap_err();
        assert!(e.message.contains("add `type: string`"), "{e}");
    }
}
