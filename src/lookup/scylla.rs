//! Lookups read from ScyllaDB (or Cassandra): one prepared, paged `SELECT` per lookup.

use super::{Fetched, KeyValue, LookupError, LookupRow, LookupSource};
use crate::config::ScyllaConfig;
use crate::sink::ScyllaSinkError;
use crate::sink::{connect_session, execution_error_is_retryable, prepare_error_is_retryable};
use futures_util::StreamExt;
use scylla::client::pager::{NextPageError, NextRowError};
use scylla::client::session::Session;
use scylla::errors::{PagerExecutionError, RequestAttemptError, RequestError};
use scylla::frame::response::result::{ColumnType, NativeType};
use scylla::statement::prepared::PreparedStatement;
use scylla::value::{CqlValue, Row};
use spanflow_engine::{FieldValue, Str, ValueType};
use spanflow_operators::lookups::LookupPlan;
use spanflow_operators::spec::{CqlType, OnMultipleRows};
use std::sync::Arc;
use std::time::Duration;

/// Rows per page of a lookup's `SELECT`: a key matching more rows is read page by page.
pub const DEFAULT_PAGE_SIZE: i32 = 100;

/// Setting up the lookups failed: a startup error.
#[derive(Debug, thiserror::Error)]
pub enum LookupSetupError {
    /// No node could be reached, or the configuration is unusable.
    #[error("lookups: {0}")]
    Connect(String),
    /// A lookup's `SELECT` cannot be prepared, or the table does not match the spec.
    #[error("lookup `{lookup}` (keyspace `{keyspace}`, table `{table}`): {message}")]
    Table {
        /// The lookup's name.
        lookup: String,
        /// The keyspace.
        keyspace: String,
        /// The table.
        table: String,
        /// What is wrong.
        message: String,
        /// Whether trying again later may succeed (no node answered, as opposed to a missing
        /// table or a column of another type).
        retryable: bool,
    },
}

impl LookupSetupError {
    /// Whether setting up again later may succeed.
    pub fn is_retryable(&self) -> bool {
        match self {
            LookupSetupError::Connect(_) => true,
            LookupSetupError::Table { retryable, .. } => *retryable,
        }
    }
}

struct Prepared {
    plan: LookupPlan,
    /// Replaced when a restarted server no longer knows it under its id.
    select: std::sync::Mutex<PreparedStatement>,
    key_type: NativeType,
}

/// Reads lookup rows from ScyllaDB: for each lookup, `SELECT <columns> FROM
/// <keyspace>.<table> WHERE <key_column> = ?`, prepared at startup (where a missing table or
/// column, or a column whose type differs from the spec's, is an error naming it) and run with
/// `execute_iter`, page by page, on a miss.
///
/// [`LookupSource::fetch`] blocks the calling thread on the runtime the session was created
/// on, for at most the configured `request_timeout_secs` per key (all pages included); it must
/// not be called from inside an async task.
pub struct ScyllaLookups {
    session: Arc<Session>,
    lookups: Vec<Prepared>,
    runtime: tokio::runtime::Handle,
    timeout: Duration,
    page_size: i32,
}

impl std::fmt::Debug for ScyllaLookups {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let selects: Vec<String> = self.lookups.iter().map(|l| l.plan.select()).collect();
        f.debug_struct("ScyllaLookups")
            .field("selects", &selects)
            .finish_non_exhaustive()
    }
}

impl ScyllaLookups {
    /// Connects to the cluster in `config` and prepares every lookup's `SELECT` with
    /// `page_size` rows per page. Must run on the runtime that will serve the fetches.
    pub async fn connect(
        lookups: &[LookupPlan],
        config: &ScyllaConfig,
        page_size: i32,
    ) -> Result<Self, LookupSetupError> {
        let session = connect_session(config).await.map_err(|e| match e {
            ScyllaSinkError::Connect { nodes, message } => {
                LookupSetupError::Connect(format!("cannot connect to {nodes}: {message}"))
            }
            other => LookupSetupError::Connect(other.to_string()),
        })?;
        Self::prepare(
            Arc::new(session),
            lookups,
            config.request_timeout(),
            page_size,
        )
        .await
    }

    /// Prepares every lookup's `SELECT` on an existing session (see [`ScyllaLookups::connect`]);
    /// `timeout` bounds each fetch.
    pub async fn prepare(
        session: Arc<Session>,
        lookups: &[LookupPlan],
        timeout: Duration,
        page_size: i32,
    ) -> Result<Self, LookupSetupError> {
        let mut prepared = Vec::with_capacity(lookups.len());
        for plan in lookups {
            prepared.push(prepare_select(&session, plan, page_size.max(1)).await?);
            tracing::info!(lookup = %plan.name, select = %plan.select(), "Lookup ready.");
        }
        Ok(ScyllaLookups {
            session,
            lookups: prepared,
            runtime: tokio::runtime::Handle::current(),
            timeout,
            page_size: page_size.max(1),
        })
    }

    /// The driver session.
    pub fn session(&self) -> &Arc<Session> {
        &self.session
    }

    async fn fetch_async(&self, lookup: &Prepared, key: &KeyValue) -> Result<Fetched, LookupError> {
        let plan = &lookup.plan;
        let error = |message: String, retryable: bool| LookupError {
            lookup: plan.name.clone(),
            message: format!(
                "reading key {key} from keyspace `{}`, table `{}` failed: {message}",
                plan.keyspace, plan.table
            ),
            retryable,
            stopped: false,
        };
        let Some(value) = bind_key(key, &lookup.key_type) else {
            // Say 1.5 for an int column: no row can match.
            return Ok(Fetched::default());
        };
        let select = lookup
            .select
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone();
        let pager = match self.session.execute_iter(select, (value,)).await {
            Ok(pager) => pager,
            Err(PagerExecutionError::NextPageError(e)) if reprepared_id_changed(&e) => {
                return Err(self.reprepare(lookup, e.to_string()).await);
            }
            Err(e) => return Err(error(e.to_string(), pager_error_is_retryable(&e))),
        };
        let mut rows = pager
            .rows_stream::<Row>()
            .map_err(|e| error(e.to_string(), false))?;
        let mut chosen: Option<Row> = None;
        let mut read = 0u64;
        while let Some(row) = rows.next().await {
            let row = match row {
                Ok(row) => row,
                Err(NextRowError::NextPageError(e)) if reprepared_id_changed(&e) => {
                    return Err(self.reprepare(lookup, e.to_string()).await);
                }
                Err(e) => return Err(error(e.to_string(), next_row_error_is_retryable(&e))),
            };
            read += 1;
            match plan.on_multiple_rows {
                OnMultipleRows::First if read == 1 => chosen = Some(row),
                // A second row: enough to know the key has several.
                OnMultipleRows::First => break,
                OnMultipleRows::Last => chosen = Some(row),
            }
        }
        let row = match chosen {
            None => None,
            Some(row) => Some(convert(plan, row).map_err(|m| error(m, false))?),
        };
        Ok(Fetched {
            row,
            rows_read: read,
        })
    }
}

impl ScyllaLookups {
    /// A server that lost its prepared statements (a restart) and gives the select a new id
    /// (servers deriving ids from the statement's text never do): prepares it again, checking
    /// the table once more. Returns the error of this attempt: retryable when the select was
    /// prepared again, so the fetch is retried with it.
    async fn reprepare(&self, lookup: &Prepared, cause: String) -> LookupError {
        let plan = &lookup.plan;
        match prepare_select(&self.session, plan, self.page_size).await {
            Ok(fresh) => {
                let fresh = fresh.select.into_inner().unwrap_or_else(|p| p.into_inner());
                *lookup.select.lock().unwrap_or_else(|p| p.into_inner()) = fresh;
                tracing::warn!(lookup = %plan.name, "The server gave the lookup's select a new id; prepared it again.");
                LookupError {
                    lookup: plan.name.clone(),
                    message: format!("the select was prepared again after: {cause}"),
                    retryable: true,
                    stopped: false,
                }
            }
            Err(e) => LookupError {
                lookup: plan.name.clone(),
                retryable: e.is_retryable(),
                message: e.to_string(),
                stopped: false,
            },
        }
    }
}

impl LookupSource for ScyllaLookups {
    fn fetch(&self, lookup: usize, key: &KeyValue) -> Result<Fetched, LookupError> {
        let Some(prepared) = self.lookups.get(lookup) else {
            return Ok(Fetched::default());
        };
        let plan = &prepared.plan;
        if tokio::runtime::Handle::try_current().is_ok() {
            return Err(LookupError {
                lookup: plan.name.clone(),
                message: "internal error: a lookup was fetched from inside an async task".into(),
                retryable: false,
                stopped: false,
            });
        }
        let timeout = self.timeout;
        match self.runtime.block_on(async {
            tokio::time::timeout(timeout, self.fetch_async(prepared, key)).await
        }) {
            Ok(result) => result,
            Err(_) => Err(LookupError {
                lookup: plan.name.clone(),
                message: format!(
                    "reading key {key} from keyspace `{}`, table `{}` took longer than {} ms",
                    plan.keyspace,
                    plan.table,
                    timeout.as_millis()
                ),
                retryable: true,
                stopped: false,
            }),
        }
    }
}

/// The native types a declared column type accepts.
fn accepts(declared: CqlType, found: &NativeType) -> bool {
    matches!(
        (declared, found),
        (
            CqlType::Text | CqlType::Ascii,
            NativeType::Text | NativeType::Ascii
        ) | (CqlType::Double, NativeType::Double)
            | (CqlType::Float, NativeType::Float)
            | (CqlType::Int, NativeType::Int)
            | (CqlType::Bigint, NativeType::BigInt)
            | (CqlType::Smallint, NativeType::SmallInt)
            | (CqlType::Tinyint, NativeType::TinyInt)
            | (CqlType::Boolean, NativeType::Boolean)
    )
}

/// Whether key values of type `key` can be bound to a key column of type `column`.
fn key_fits(key: ValueType, column: &NativeType) -> bool {
    matches!(
        (key, column),
        (ValueType::Str, NativeType::Text | NativeType::Ascii)
            | (
                ValueType::F64,
                NativeType::Double
                    | NativeType::Float
                    | NativeType::Int
                    | NativeType::BigInt
                    | NativeType::SmallInt
                    | NativeType::TinyInt
            )
            | (ValueType::Bool, NativeType::Boolean)
    )
}

fn type_name(t: &ColumnType<'_>) -> String {
    match t {
        ColumnType::Native(n) => format!("{n:?}").to_lowercase(),
        other => format!("{other:?}"),
    }
}

/// Prepares `plan`'s select and checks the key and column types.
async fn prepare_select(
    session: &Session,
    plan: &LookupPlan,
    page_size: i32,
) -> Result<Prepared, LookupSetupError> {
    let error = |message: String, retryable: bool| LookupSetupError::Table {
        lookup: plan.name.clone(),
        keyspace: plan.keyspace.clone(),
        table: plan.table.clone(),
        message,
        retryable,
    };
    let mut select = session.prepare(plan.select()).await.map_err(|e| {
        error(
            format!(
                "preparing `{}` failed (do the table and its columns exist?): {e}",
                plan.select()
            ),
            prepare_error_is_retryable(&e),
        )
    })?;
    select.set_page_size(page_size);
    select.set_is_idempotent(true);
    let variables = select.get_variable_col_specs();
    let key_type = match variables.iter().next().map(|s| s.typ()) {
        Some(ColumnType::Native(n)) if variables.len() == 1 => n.clone(),
        other => {
            return Err(error(
                format!(
                    "key column `{}` has type {}, which no key can be bound to",
                    plan.key_column,
                    other.map_or_else(|| "(none)".into(), type_name)
                ),
                false,
            ))
        }
    };
    let key_ty = plan.key.value_type();
    if !key_fits(key_ty, &key_type) {
        return Err(error(
            format!(
                "key column `{}` is {}, but the key ({}) is {key_ty}",
                plan.key_column,
                type_name(&ColumnType::Native(key_type.clone())),
                match &plan.key {
                    spanflow_operators::lookups::LookupKey::Session => "the session key".into(),
                    spanflow_operators::lookups::LookupKey::Field { path, .. } =>
                        format!("field `{path}`"),
                }
            ),
            false,
        ));
    }
    let guard = select.get_current_result_set_col_specs();
    let results = guard.get();
    if results.len() != plan.columns.len() {
        return Err(error(
            format!(
                "the prepared select returns {} columns, expected {}",
                results.len(),
                plan.columns.len()
            ),
            false,
        ));
    }
    for (spec, column) in results.iter().zip(&plan.columns) {
        let ok = match spec.typ() {
            ColumnType::Native(n) => accepts(column.cql_type, n),
            _ => false,
        };
        if !ok || !spec.name().eq_ignore_ascii_case(&column.name) {
            return Err(error(
                format!(
                    "column `{}` is {} in the table, but the spec declares {}",
                    column.name,
                    type_name(spec.typ()),
                    column.cql_type
                ),
                false,
            ));
        }
    }
    Ok(Prepared {
        plan: plan.clone(),
        select: std::sync::Mutex::new(select),
        key_type,
    })
}

/// The key as a value of the key column's type; `None` when no row can have it (a fraction
/// for an integer column, a number out of its range).
fn bind_key(key: &KeyValue, column: &NativeType) -> Option<CqlValue> {
    let int = |x: f64, min: f64, max: f64| (x.fract() == 0.0 && x >= min && x <= max).then_some(x);
    Some(match (key, column) {
        (KeyValue::Str(s), NativeType::Ascii) => CqlValue::Ascii(s.to_string()),
        (KeyValue::Str(s), _) => CqlValue::Text(s.to_string()),
        (KeyValue::Bool(b), _) => CqlValue::Boolean(*b),
        (KeyValue::Num(bits), column) => {
            let x = f64::from_bits(*bits);
            match column {
                NativeType::Double => CqlValue::Double(x),
                NativeType::Float => CqlValue::Float(x as f32),
                NativeType::Int => CqlValue::Int(int(x, i32::MIN as f64, i32::MAX as f64)? as i32),
                NativeType::SmallInt => {
                    CqlValue::SmallInt(int(x, i16::MIN as f64, i16::MAX as f64)? as i16)
                }
                NativeType::TinyInt => {
                    CqlValue::TinyInt(int(x, i8::MIN as f64, i8::MAX as f64)? as i8)
                }
                _ => CqlValue::BigInt(
                    int(x, -9.007_199_254_740_992e15, 9.007_199_254_740_992e15)? as i64
                ),
            }
        }
    })
}

/// A fetched row as the lookup's values.
fn convert(plan: &LookupPlan, row: Row) -> Result<LookupRow, String> {
    let mut out = LookupRow::new();
    for (column, value) in plan.columns.iter().zip(row.columns) {
        out.push(match value {
            None => FieldValue::Null,
            Some(CqlValue::Text(s) | CqlValue::Ascii(s)) => FieldValue::Str(Str::from(s)),
            Some(CqlValue::Double(x)) => FieldValue::F64(x),
            Some(CqlValue::Float(x)) => FieldValue::F64(f64::from(x)),
            Some(CqlValue::Int(x)) => FieldValue::F64(f64::from(x)),
            // Beyond 2^53 rounds to the nearest f64, as Avro longs do.
            Some(CqlValue::BigInt(x)) => FieldValue::F64(x as f64),
            Some(CqlValue::SmallInt(x)) => FieldValue::F64(f64::from(x)),
            Some(CqlValue::TinyInt(x)) => FieldValue::F64(f64::from(x)),
            Some(CqlValue::Boolean(b)) => FieldValue::Bool(b),
            Some(other) => {
                return Err(format!(
                    "column `{}` holds {other:?}, expected {}",
                    column.name, column.cql_type
                ))
            }
        });
    }
    Ok(out)
}

fn pager_error_is_retryable(e: &PagerExecutionError) -> bool {
    match e {
        PagerExecutionError::PrepareError(p) => prepare_error_is_retryable(p),
        PagerExecutionError::NextPageError(n) => next_page_error_is_retryable(n),
        PagerExecutionError::SchemaAgreementError(_) | PagerExecutionError::MetadataError(_) => {
            true
        }
        _ => false,
    }
}

fn next_page_error_is_retryable(e: &NextPageError) -> bool {
    match e {
        NextPageError::RequestFailure(r) => {
            execution_error_is_retryable(&r.clone().into_execution_error())
        }
        _ => false,
    }
}

/// Whether the driver prepared a statement again and the server answered with another id.
fn reprepared_id_changed(e: &NextPageError) -> bool {
    matches!(
        e,
        NextPageError::RequestFailure(RequestError::LastAttemptError(
            RequestAttemptError::RepreparedIdChanged { .. }
        ))
    )
}

fn next_row_error_is_retryable(e: &NextRowError) -> bool {
    match e {
        NextRowError::NextPageError(n) => next_page_error_is_retryable(n),
        _ => false,
    }
}
