//! Lookup rows held in memory: the tables of spec tests (`tests[].lookups`).

use super::{Fetched, KeyValue, LookupError, LookupRow, LookupSource};
use spanflow_engine::{FieldValue, Scalar, ValueType};
use spanflow_operators::lookups::LookupPlan;
use spanflow_operators::spec::OnMultipleRows;
use spanflow_operators::TestValue;
use std::collections::{BTreeMap, HashMap};

/// Tables in memory, one per lookup: rows by key, in the order given (their "clustering
/// order").
#[derive(Clone, Debug, Default)]
pub struct StaticRows {
    tables: Vec<(OnMultipleRows, HashMap<KeyValue, Vec<LookupRow>>)>,
}

impl StaticRows {
    /// Tables for `plans` from rows written as YAML maps (key column and columns → value), by
    /// lookup name. A lookup without rows has an empty table.
    pub fn from_spec_rows(
        plans: &[LookupPlan],
        rows: &BTreeMap<String, Vec<BTreeMap<String, Option<TestValue>>>>,
    ) -> Result<Self, String> {
        if let Some(unknown) = rows.keys().find(|n| !plans.iter().any(|p| &p.name == *n)) {
            let names: Vec<&str> = plans.iter().map(|p| p.name.as_str()).collect();
            return Err(format!(
                "lookups: `{unknown}` is not a lookup of the spec (lookups: {})",
                names.join(", ")
            ));
        }
        let mut tables = Vec::new();
        for plan in plans {
            let mut table: HashMap<KeyValue, Vec<LookupRow>> = HashMap::new();
            for (i, row) in rows.get(&plan.name).into_iter().flatten().enumerate() {
                let at = format!("lookups.{}[{i}]", plan.name);
                if let Some(unknown) = row
                    .keys()
                    .find(|k| **k != plan.key_column && plan.column(k).is_none())
                {
                    let mut valid = vec![plan.key_column.as_str()];
                    valid.extend(plan.columns.iter().map(|c| c.name.as_str()));
                    return Err(format!(
                        "{at}: `{unknown}` is not a column of the lookup (columns: {})",
                        valid.join(", ")
                    ));
                }
                let key = match row.get(&plan.key_column) {
                    Some(Some(c)) => c,
                    _ => {
                        return Err(format!(
                            "{at}: the key column `{}` is missing",
                            plan.key_column
                        ))
                    }
                };
                let key = match (&key.0, plan.key.value_type()) {
                    (Scalar::Str(s), ValueType::Str) => KeyValue::Str(s.clone()),
                    (Scalar::F64(x), ValueType::F64) => KeyValue::number(*x),
                    (Scalar::Bool(b), ValueType::Bool) => KeyValue::Bool(*b),
                    (v, ty) => {
                        return Err(format!(
                            "{at}: the key `{}` is {ty}, but the row gives {v}",
                            plan.key_column
                        ))
                    }
                };
                let mut values = LookupRow::new();
                for c in &plan.columns {
                    let ty = c.cql_type.value_type();
                    values.push(match row.get(&c.name) {
                        None | Some(None) => FieldValue::Null,
                        Some(Some(TestValue(v))) if v.value_type() == ty => match v {
                            Scalar::F64(x) => FieldValue::F64(*x),
                            Scalar::Bool(b) => FieldValue::Bool(*b),
                            Scalar::Str(s) => FieldValue::Str(s.clone()),
                        },
                        Some(Some(v)) => {
                            return Err(format!(
                                "{at}: column `{}` is {} ({ty}), but the row gives {v}",
                                c.name, c.cql_type
                            ))
                        }
                    });
                }
                table.entry(key).or_default().push(values);
            }
            tables.push((plan.on_multiple_rows, table));
        }
        Ok(StaticRows { tables })
    }
}

impl LookupSource for StaticRows {
    fn fetch(&self, lookup: usize, key: &KeyValue) -> Result<Fetched, LookupError> {
        let Some((policy, table)) = self.tables.get(lookup) else {
            return Ok(Fetched::default());
        };
        let rows = table.get(key).map(Vec::as_slice).unwrap_or_default();
        let row = match policy {
            OnMultipleRows::First => rows.first(),
            OnMultipleRows::Last => rows.last(),
        };
        let rows_read = match policy {
            OnMultipleRows::First => rows.len().min(2),
            OnMultipleRows::Last => rows.len(),
        };
        Ok(Fetched {
            row: row.cloned(),
            rows_read: rows_read as u64,
        })
    }
}
