//! Runs the `tests:` block of a spec: input events written as YAML maps, expected output rows.

use crate::lookup::{Enricher, Joined, StaticRows};
use crate::output::{row_to_json, scalar_to_json};
use crate::pipeline::SessionProcessor;
use serde_json::Value;
use spanflow_engine::{FieldValue, Record, Scalar, TimeUnit, ValueType};
use spanflow_operators::spec::TestSpec;
use spanflow_operators::{Program, TestValue};
use std::collections::BTreeMap;

/// The outcome of one spec test.
#[derive(Debug)]
pub struct TestOutcome {
    /// The test's name.
    pub name: String,
    /// `Ok` when the produced rows match, else what went wrong (a readable diff).
    pub result: Result<(), String>,
}

/// Runs every test of the program.
pub fn run_all(program: &Program) -> Vec<TestOutcome> {
    program
        .tests
        .iter()
        .map(|t| TestOutcome {
            name: t.name.clone(),
            result: run_one(program, t),
        })
        .collect()
}

fn run_one(program: &Program, test: &TestSpec) -> Result<(), String> {
    let mut processor = SessionProcessor::new(program);
    // Lookups read the test's own rows (`lookups:`), never a cluster.
    let mut lookups = if program.input.lookups.is_empty() {
        None
    } else {
        let rows = StaticRows::from_spec_rows(&program.input.lookups, &test.lookups)?;
        Some(Enricher::new(program, Box::new(rows)))
    };
    let mut produced: Vec<serde_json::Map<String, Value>> = Vec::new();
    let mut sink = |session: &str, row: &_| produced.push(row_to_json(program, session, row));
    for (i, event) in test.events.iter().enumerate() {
        let (key, mut record) =
            to_record(program, event).map_err(|e| format!("event #{}: {e}", i + 1))?;
        if let Some(lookups) = &mut lookups {
            if lookups
                .enrich(&key, &mut record)
                .map_err(|e| e.to_string())?
                == Joined::Drop
            {
                continue;
            }
        }
        processor
            .push(&key, record, &mut sink)
            .map_err(|e| e.to_string())?;
    }
    processor.finish(&mut sink);
    let expected: Vec<serde_json::Map<String, Value>> = test
        .expect
        .iter()
        .map(|row| {
            row.iter()
                .map(|(k, v)| (k.clone(), scalar_to_json(v.as_ref().map(|c| &c.0))))
                .collect()
        })
        .collect();
    let matches = expected.len() == produced.len()
        && expected
            .iter()
            .zip(&produced)
            .all(|(e, p)| row_matches(e, p));
    if matches {
        return Ok(());
    }
    let show = |rows: &[serde_json::Map<String, Value>]| {
        rows.iter()
            .map(|r| format!("    {}", Value::Object(r.clone())))
            .collect::<Vec<_>>()
            .join("\n")
    };
    Err(format!(
        "expected {} row(s):\n{}\n  got {} row(s):\n{}",
        expected.len(),
        show(&expected),
        produced.len(),
        show(&produced)
    ))
}

/// Every expected key is present with an equal value (numbers within 1e-9).
fn row_matches(
    expected: &serde_json::Map<String, Value>,
    produced: &serde_json::Map<String, Value>,
) -> bool {
    expected.iter().all(|(k, e)| match (e, produced.get(k)) {
        (Value::Number(a), Some(Value::Number(b))) => {
            (a.as_f64().unwrap_or(f64::NAN) - b.as_f64().unwrap_or(f64::NAN)).abs() <= 1e-9
        }
        (Value::String(a), Some(Value::Number(b))) if k == "session" => *a == b.to_string(),
        (e, Some(p)) => e == p,
        (Value::Null, None) => true,
        (_, None) => false,
    })
}

/// Builds the record a test event stands for, as the decoder would.
fn to_record(
    program: &Program,
    event: &BTreeMap<String, Option<TestValue>>,
) -> Result<(String, Record), String> {
    let input = &program.input;
    let key = match event.get(&input.session_key) {
        Some(Some(TestValue(Scalar::Str(s)))) => s.to_string(),
        Some(Some(TestValue(Scalar::F64(x)))) => format!("{x}"),
        _ => {
            return Err(format!(
                "the session key field `{}` is missing",
                input.session_key
            ))
        }
    };
    let unit = input.time_unit.unwrap_or(TimeUnit::Milliseconds);
    let time = match event.get(&input.time) {
        Some(Some(TestValue(Scalar::F64(x)))) => unit
            .float_to_millis(*x)
            .ok_or_else(|| format!("time {x} is out of range"))?,
        Some(Some(other)) => {
            return Err(format!(
                "the time field `{}` must be a number, got {other}",
                input.time
            ))
        }
        _ => return Err(format!("the time field `{}` is missing", input.time)),
    };
    let sequence = input.sequence.as_ref().and_then(|s| match event.get(s) {
        Some(Some(TestValue(Scalar::F64(x)))) => Some(*x as i64),
        _ => None,
    });
    let known = |k: &String| {
        *k == input.session_key
            || *k == input.time
            || Some(k) == input.sequence.as_ref()
            || input.fields.iter().any(|(p, _)| p == k)
    };
    if let Some(unused) = event.keys().find(|k| !known(k)) {
        let lookup = unused.split('.').next().unwrap_or_default();
        if input.lookups.iter().any(|l| l.name == lookup) {
            return Err(format!(
                "field `{unused}` is a lookup column: give the rows of lookup `{lookup}` under the test's `lookups:`, keyed by its key column"
            ));
        }
        let read: Vec<&str> = input.fields.iter().map(|(p, _)| p.as_str()).collect();
        return Err(format!(
            "field `{unused}` is not read by any `get` node (fields read: {})",
            read.join(", ")
        ));
    }
    let mut fields = smallvec::SmallVec::new();
    for (path, ty) in &input.fields {
        fields.push(match (event.get(path), ty) {
            (None | Some(None), _) => FieldValue::Null,
            (Some(Some(TestValue(Scalar::F64(x)))), ValueType::F64) => FieldValue::F64(*x),
            (Some(Some(TestValue(Scalar::Bool(b)))), ValueType::Bool) => FieldValue::Bool(*b),
            (Some(Some(TestValue(Scalar::Str(s)))), ValueType::Str) => FieldValue::Str(s.clone()),
            (Some(Some(v)), ty) => {
                return Err(format!(
                    "field `{path}` is read as {ty}, but the test gives {v}"
                ))
            }
        });
    }
    Ok((
        key,
        Record {
            time,
            sequence,
            fields,
        },
    ))
}
