//! The ScyllaDB sink: output rows as rows of CQL tables (see [`ScyllaSink`]).

use super::{OutputsMeta, SinkError, SinkRow};
use crate::config::{ConfigError, ScyllaConfig, ScyllaConsistency, ScyllaTlsConfig};
use openssl::error::ErrorStack;
use openssl::ssl::{SslConnector, SslFiletype, SslMethod, SslVerifyMode};
use scylla::client::execution_profile::ExecutionProfile;
use scylla::client::session::Session;
use scylla::client::session::{OpenSsl010Config, TlsContext};
use scylla::client::session_builder::SessionBuilder;
use scylla::errors::{DbError, ExecutionError, PrepareError, RequestAttemptError};
use scylla::frame::response::result::{ColumnType, NativeType};
use scylla::policies::load_balancing::DefaultPolicy;
use scylla::statement::prepared::PreparedStatement;
use scylla::statement::Consistency;
use scylla::value::{CqlTimestamp, CqlValue};
use spanflow_engine::{Scalar, ValueType};
use spanflow_operators::spec::{ScyllaSinkSpec, SinkSpec};
use spanflow_operators::Program;
use std::collections::BTreeMap;
use std::sync::Arc;
use tokio::sync::Semaphore;

/// The replication of keyspaces created by [`ddl`] when none is given: one copy, for
/// development. Production keyspaces want `NetworkTopologyStrategy` with a factor per
/// datacenter (`{'class': 'NetworkTopologyStrategy', 'dc1': 3}`).
pub const DEFAULT_REPLICATION: &str = "{'class': 'SimpleStrategy', 'replication_factor': 1}";

/// CQL keywords that cannot be unquoted column names.
const RESERVED: &[&str] = &[
    "add",
    "allow",
    "alter",
    "and",
    "apply",
    "asc",
    "authorize",
    "batch",
    "begin",
    "by",
    "columnfamily",
    "create",
    "delete",
    "desc",
    "describe",
    "drop",
    "entries",
    "execute",
    "from",
    "full",
    "grant",
    "if",
    "in",
    "index",
    "infinity",
    "insert",
    "into",
    "is",
    "keyspace",
    "limit",
    "materialized",
    "modify",
    "nan",
    "norecursive",
    "not",
    "null",
    "of",
    "on",
    "or",
    "order",
    "primary",
    "rename",
    "replace",
    "revoke",
    "schema",
    "select",
    "set",
    "table",
    "to",
    "token",
    "truncate",
    "unlogged",
    "update",
    "use",
    "using",
    "view",
    "where",
    "with",
];

/// The CQL table of one output.
///
/// Columns: the session key (`text`, named `session` unless the spec says otherwise), the
/// evaluation time (`timestamp`, default name `time`), then one column per output column in
/// column order, `double`, `boolean` or `text` by the column's value type (`NULL` when the
/// column is undefined at that time); primary key `((session), time)`, so a session's rows form
/// one partition ordered by time.
///
/// Names are unquoted CQL identifiers, so case-insensitive. Names the spec gives must be plain
/// CQL names (`[a-z][a-z0-9_]*`, not reserved words, all distinct). Other output columns keep
/// their id, lowercased, when that is a plain name not yet taken; otherwise they get their id
/// sanitised (characters other than ASCII letters, digits and `_` become `_`, a `c` in front
/// when it does not start with a letter) with `_2`, `_3`, … appended as needed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TableLayout {
    /// The output's name.
    pub output: String,
    /// The keyspace.
    pub keyspace: String,
    /// The table.
    pub table: String,
    /// The column of the session key.
    pub session_column: String,
    /// The column of the evaluation time.
    pub time_column: String,
    /// The CQL column of each output column, in column order.
    pub columns: Vec<String>,
    /// The CQL type of each output column (`double`, `boolean`, `text`).
    pub types: Vec<&'static str>,
    /// `USING TTL` of every insert, in seconds.
    pub ttl_secs: Option<u32>,
}

impl TableLayout {
    /// The table of output `output` (an index into `meta.outputs`) as `spec` names it.
    pub fn of(
        meta: &OutputsMeta,
        output: usize,
        spec: &ScyllaSinkSpec,
    ) -> Result<Self, ScyllaSinkError> {
        let (name, columns) = meta
            .outputs
            .get(output)
            .ok_or(ScyllaSinkError::NoSuchOutput { output })?;
        let schema_error = |message: String| ScyllaSinkError::Schema {
            output: name.clone(),
            message,
        };
        for (what, value) in [("keyspace", &spec.keyspace), ("table", &spec.table)] {
            if !is_plain_identifier(value) || value.len() > 48 {
                return Err(schema_error(format!(
                    "{what} `{value}` is not a plain CQL name (a letter, then up to 47 letters, \
                     digits or `_`)"
                )));
            }
        }
        let value_types = meta
            .column_types
            .get(output)
            .filter(|t| t.len() == columns.len())
            .ok_or_else(|| schema_error("the column types do not match the columns".into()))?;
        let mut types = Vec::with_capacity(columns.len());
        for (column, ty) in columns.iter().zip(value_types) {
            types.push(match ty {
                ValueType::F64 => "double",
                ValueType::Bool => "boolean",
                ValueType::Str => "text",
                ValueType::Record => {
                    return Err(schema_error(format!(
                        "column `{column}` holds whole input records, which have no CQL type"
                    )))
                }
            });
        }
        if let Some(unknown) = spec.columns.keys().find(|k| !columns.contains(k)) {
            return Err(schema_error(format!(
                "sink.scylla.columns names `{unknown}`, which is not a column of the output \
                 (its columns: {})",
                columns.join(", ")
            )));
        }
        if spec.ttl_secs == Some(0) {
            return Err(schema_error(
                "sink.scylla.ttl_secs is 0: give a positive number of seconds, or leave it out \
                 for rows that never expire"
                    .into(),
            ));
        }
        let session_column = spec.session_column.as_deref().unwrap_or("session");
        let time_column = spec.time_column.as_deref().unwrap_or("time");
        let mut explicit: Vec<(String, String)> = vec![
            ("session_column".into(), session_column.to_ascii_lowercase()),
            ("time_column".into(), time_column.to_ascii_lowercase()),
        ];
        for (column, cql) in &spec.columns {
            explicit.push((format!("columns.{column}"), cql.to_ascii_lowercase()));
        }
        for (i, (what, cql)) in explicit.iter().enumerate() {
            if !is_plain_identifier(cql) || RESERVED.contains(&cql.as_str()) || cql.len() > 48 {
                return Err(schema_error(format!(
                    "sink.scylla.{what} is `{cql}`, which is not a plain CQL column name (a \
                     letter, then up to 47 letters, digits or `_`, not a reserved word)"
                )));
            }
            if let Some((other, _)) = explicit[..i].iter().find(|(_, c)| c == cql) {
                return Err(schema_error(format!(
                    "sink.scylla.{what} and sink.scylla.{other} are both `{cql}`: each column \
                     needs its own name"
                )));
            }
        }
        Ok(TableLayout {
            output: name.clone(),
            keyspace: spec.keyspace.clone(),
            table: spec.table.clone(),
            session_column: explicit[0].1.clone(),
            time_column: explicit[1].1.clone(),
            columns: cql_column_names(
                columns,
                &spec.columns,
                [explicit[0].1.clone(), explicit[1].1.clone()],
            ),
            types,
            ttl_secs: spec.ttl_secs,
        })
    }

    /// `keyspace.table`.
    pub fn qualified(&self) -> String {
        format!("{}.{}", self.keyspace, self.table)
    }

    /// `CREATE TABLE IF NOT EXISTS` for this table.
    pub fn create_table(&self) -> String {
        let mut columns = String::new();
        for (c, t) in self.columns.iter().zip(&self.types) {
            columns.push_str(&format!("{c} {t}, "));
        }
        format!(
            "CREATE TABLE IF NOT EXISTS {} ({session} text, {time} timestamp, {columns}PRIMARY \
             KEY (({session}), {time}))",
            self.qualified(),
            session = self.session_column,
            time = self.time_column,
        )
    }

    /// The insert prepared for each row: bound values are the session, the time, the columns
    /// and, with `using_timestamp`, the write timestamp in microseconds.
    pub fn insert(&self, using_timestamp: bool) -> String {
        let mut names = format!("{}, {}", self.session_column, self.time_column);
        let mut marks = String::from("?, ?");
        for c in &self.columns {
            names.push_str(", ");
            names.push_str(c);
            marks.push_str(", ?");
        }
        let using = match (using_timestamp, self.ttl_secs) {
            (true, Some(ttl)) => format!(" USING TIMESTAMP ? AND TTL {ttl}"),
            (true, None) => " USING TIMESTAMP ?".into(),
            (false, Some(ttl)) => format!(" USING TTL {ttl}"),
            (false, None) => String::new(),
        };
        format!(
            "INSERT INTO {} ({names}) VALUES ({marks}){using}",
            self.qualified()
        )
    }
}

/// `[A-Za-z][A-Za-z0-9_]*`.
fn is_plain_identifier(s: &str) -> bool {
    s.starts_with(|c: char| c.is_ascii_alphabetic())
        && s.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// The CQL column names of output columns (see [`TableLayout`]): `explicit` ones as given
/// (already checked), the others derived so they differ from each other, from the explicit
/// ones and from `key_columns`.
fn cql_column_names(
    columns: &[String],
    explicit: &BTreeMap<String, String>,
    key_columns: [String; 2],
) -> Vec<String> {
    let mut taken: Vec<String> = key_columns.into();
    taken.extend(explicit.values().map(|c| c.to_ascii_lowercase()));
    let mut names: Vec<Option<String>> = columns
        .iter()
        .map(|c| {
            if let Some(name) = explicit.get(c) {
                return Some(name.to_ascii_lowercase());
            }
            let lower = c.to_ascii_lowercase();
            (is_plain_identifier(&lower)
                && !RESERVED.contains(&lower.as_str())
                && !taken.contains(&lower))
            .then(|| {
                taken.push(lower.clone());
                lower
            })
        })
        .collect();
    for (name, column) in names.iter_mut().zip(columns) {
        if name.is_none() {
            let mut base: String = column
                .chars()
                .map(|c| {
                    if c.is_ascii_alphanumeric() {
                        c.to_ascii_lowercase()
                    } else {
                        '_'
                    }
                })
                .collect();
            if !base.starts_with(|c: char| c.is_ascii_alphabetic()) {
                base.insert(0, 'c');
            }
            let mut field = base.clone();
            let mut n = 1;
            while taken.contains(&field) || RESERVED.contains(&field.as_str()) {
                n += 1;
                field = format!("{base}_{n}");
            }
            taken.push(field.clone());
            *name = Some(field);
        }
    }
    names.into_iter().flatten().collect()
}

/// The statements creating the keyspaces and tables of `targets` (output index in `meta`, and
/// its keyspace and table), each keyspace once with `replication` (a CQL map literal, e.g.
/// [`DEFAULT_REPLICATION`]). All are `IF NOT EXISTS`, so applying them again changes nothing.
pub fn ddl(
    meta: &OutputsMeta,
    targets: &[(usize, ScyllaSinkSpec)],
    replication: &str,
) -> Result<Vec<String>, ScyllaSinkError> {
    let mut keyspaces: Vec<String> = Vec::new();
    let mut tables = Vec::new();
    for (output, spec) in targets {
        let layout = TableLayout::of(meta, *output, spec)?;
        if !keyspaces
            .iter()
            .any(|k| k.eq_ignore_ascii_case(&layout.keyspace))
        {
            keyspaces.push(layout.keyspace.clone());
        }
        tables.push(layout.create_table());
    }
    Ok(keyspaces
        .iter()
        .map(|k| format!("CREATE KEYSPACE IF NOT EXISTS {k} WITH replication = {replication}"))
        .chain(tables)
        .collect())
}

/// The outputs of `program` whose `sink:` is `scylla`, with their tables.
pub fn scylla_targets(program: &Program) -> Vec<(usize, ScyllaSinkSpec)> {
    program
        .outputs
        .iter()
        .enumerate()
        .filter_map(|(i, o)| match &o.sink {
            SinkSpec::Scylla(s) => Some((i, s.clone())),
            _ => None,
        })
        .collect()
}

/// Building a [`ScyllaSink`] failed: a startup error.
#[derive(Debug, thiserror::Error)]
pub enum ScyllaSinkError {
    /// The configuration cannot be used.
    #[error("scylla: {0}")]
    Config(#[from] ConfigError),
    /// No contact points.
    #[error("scylla.nodes: no nodes: set scylla.nodes in --config or SCYLLA_NODES")]
    NoNodes,
    /// The session could not be created (no node reachable, authentication failed, …).
    #[error("ScyllaDB sink: cannot connect to {nodes}: {message}")]
    Connect {
        /// The contact points.
        nodes: String,
        /// The driver's error.
        message: String,
    },
    /// An output's insert could not be prepared (a missing keyspace or table, a missing column,
    /// or no node answering).
    #[error(
        "ScyllaDB sink of output `{output}` (keyspace `{keyspace}`, table `{table}`): {message}"
    )]
    Prepare {
        /// The output.
        output: String,
        /// The keyspace.
        keyspace: String,
        /// The table.
        table: String,
        /// What went wrong.
        message: String,
        /// Whether trying again later may succeed (no node answered, as opposed to a missing
        /// table or a column of another type).
        retryable: bool,
    },
    /// The TLS settings cannot be used (a missing or unreadable file, a key not matching the
    /// certificate).
    #[error("scylla.tls.{setting}: {message}")]
    Tls {
        /// The setting, e.g. `ca_file`.
        setting: &'static str,
        /// What is wrong.
        message: String,
    },
    /// A DDL statement failed.
    #[error("ScyllaDB sink: `{statement}` failed: {message}")]
    Ddl {
        /// The statement.
        statement: String,
        /// The driver's error.
        message: String,
    },
    /// No table can be made for the output.
    #[error("ScyllaDB sink of output `{output}`: {message}")]
    Schema {
        /// The output.
        output: String,
        /// What is wrong.
        message: String,
    },
    /// A target names an output index the program does not have.
    #[error("ScyllaDB sink: the program has no output number {output}")]
    NoSuchOutput {
        /// The index.
        output: usize,
    },
}

impl ScyllaSinkError {
    /// Whether building the sink again later may succeed.
    pub fn is_retryable(&self) -> bool {
        match self {
            ScyllaSinkError::Connect { .. } => true,
            ScyllaSinkError::Prepare { retryable, .. } => *retryable,
            _ => false,
        }
    }
}

/// Everything needed to write one output's rows.
struct Target {
    layout: TableLayout,
    /// `scylla table <keyspace>.<table>`, for errors.
    sink_name: String,
    value_types: Vec<ValueType>,
    insert: PreparedStatement,
}

impl Target {
    fn error(&self, message: String, retryable: bool) -> SinkError {
        SinkError {
            sink: self.sink_name.clone(),
            message,
            retryable,
        }
    }

    /// The bound values of `row`.
    fn values(
        &self,
        row: &SinkRow,
        using_timestamp: bool,
    ) -> Result<Vec<Option<CqlValue>>, SinkError> {
        let values = &row.row.values;
        if values.len() != self.layout.columns.len() {
            return Err(self.error(
                format!(
                    "output `{}`: a row with {} values for {} columns",
                    self.layout.output,
                    values.len(),
                    self.layout.columns.len()
                ),
                false,
            ));
        }
        let mut out = Vec::with_capacity(3 + values.len());
        out.push(Some(CqlValue::Text(row.session.to_string())));
        out.push(Some(CqlValue::Timestamp(CqlTimestamp(row.row.time))));
        for ((column, ty), v) in self
            .layout
            .columns
            .iter()
            .zip(&self.value_types)
            .zip(values)
        {
            out.push(match (ty, v) {
                (_, None) => None,
                (ValueType::F64, Some(Scalar::F64(x))) => Some(CqlValue::Double(*x)),
                (ValueType::Bool, Some(Scalar::Bool(b))) => Some(CqlValue::Boolean(*b)),
                (ValueType::Str, Some(Scalar::Str(s))) => Some(CqlValue::Text(s.to_string())),
                (ty, Some(v)) => {
                    return Err(self.error(
                        format!(
                            "output `{}`, keyspace `{}`, table `{}`, column `{column}`: a {} \
                             value in a {ty} column",
                            self.layout.output,
                            self.layout.keyspace,
                            self.layout.table,
                            v.value_type()
                        ),
                        false,
                    ))
                }
            });
        }
        if using_timestamp {
            // The evaluation time in microseconds: a replay writes the same cells with the same
            // timestamp, so it changes nothing.
            out.push(Some(CqlValue::BigInt(row.row.time.saturating_mul(1000))));
        }
        Ok(out)
    }
}

/// Writes output rows to ScyllaDB (or Cassandra) tables, one table per output, through one
/// driver session (token-aware, preferring `local_datacenter`'s replicas).
///
/// Each output's insert ([`TableLayout::insert`]) is prepared when the sink is built, marked
/// idempotent (so the driver may retry it and run it speculatively), and carries
/// `USING TIMESTAMP <evaluation time in µs>` unless `using_timestamp` is off: replaying rows
/// after a restart rewrites identical cells. The tables must exist ([`ddl`] gives the
/// statements; [`ScyllaSink::apply_ddl`] runs them). [`ScyllaSink::write`] resolves once the
/// write reached the configured consistency; failures are [`SinkError`]s whose `retryable`
/// tells timeouts, unavailable replicas, overload and broken connections (retry) from invalid
/// queries, missing tables and type mismatches (stop).
pub struct ScyllaSink {
    /// Boxed in an `Arc`: the session is large, and shareable for reads and DDL.
    session: Arc<Session>,
    /// By output index; `None` for outputs this sink does not write.
    targets: Vec<Option<Target>>,
    in_flight: Semaphore,
    max_in_flight: u32,
    using_timestamp: bool,
}

impl std::fmt::Debug for ScyllaSink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let targets: Vec<_> = self
            .targets
            .iter()
            .flatten()
            .map(|t| (&t.layout.output, t.layout.qualified()))
            .collect();
        f.debug_struct("ScyllaSink")
            .field("targets", &targets)
            .finish_non_exhaustive()
    }
}

fn consistency(c: ScyllaConsistency) -> Consistency {
    match c {
        ScyllaConsistency::Any => Consistency::Any,
        ScyllaConsistency::One => Consistency::One,
        ScyllaConsistency::Two => Consistency::Two,
        ScyllaConsistency::Three => Consistency::Three,
        ScyllaConsistency::Quorum => Consistency::Quorum,
        ScyllaConsistency::All => Consistency::All,
        ScyllaConsistency::LocalQuorum => Consistency::LocalQuorum,
        ScyllaConsistency::EachQuorum => Consistency::EachQuorum,
        ScyllaConsistency::LocalOne => Consistency::LocalOne,
    }
}

/// Connects a driver session as `config` says.
pub async fn connect_session(config: &ScyllaConfig) -> Result<Session, ScyllaSinkError> {
    if config.nodes.is_empty() {
        return Err(ScyllaSinkError::NoNodes);
    }
    let mut policy = DefaultPolicy::builder().token_aware(true);
    if let Some(dc) = &config.local_datacenter {
        policy = policy
            .prefer_datacenter(dc.clone())
            .permit_dc_failover(false);
    }
    let profile = ExecutionProfile::builder()
        .load_balancing_policy(policy.build())
        .consistency(consistency(config.consistency))
        .request_timeout(Some(config.request_timeout()))
        .build()
        .into_handle();
    let mut builder = SessionBuilder::new()
        .known_nodes(&config.nodes)
        .default_execution_profile_handle(profile)
        .auto_await_schema_agreement(config.await_schema_agreement)
        .fetch_schema_metadata(config.fetch_schema_metadata);
    if let Some((user, password)) = config.credentials()? {
        builder = builder.user(user, password.expose());
    }
    if let Some(tls) = &config.tls {
        builder = builder.tls_context(Some(tls_context(tls)?));
    }
    builder.build().await.map_err(|e| ScyllaSinkError::Connect {
        nodes: config.nodes.join(","),
        message: e.to_string(),
    })
}

/// The driver's TLS context for `tls`: peers must present a certificate chaining to
/// `ca_file`; `cert_file` and `key_file` authenticate this client.
pub fn tls_context(tls: &ScyllaTlsConfig) -> Result<TlsContext, ScyllaSinkError> {
    let error =
        |setting: &'static str, path: &std::path::Path, e: ErrorStack| ScyllaSinkError::Tls {
            setting,
            message: format!("{}: {e}", path.display()),
        };
    let mut builder =
        SslConnector::builder(SslMethod::tls_client()).map_err(|e| ScyllaSinkError::Tls {
            setting: "ca_file",
            message: format!("cannot set up OpenSSL: {e}"),
        })?;
    for (setting, path) in [
        ("ca_file", Some(&tls.ca_file)),
        ("cert_file", tls.cert_file.as_ref()),
        ("key_file", tls.key_file.as_ref()),
    ] {
        if let Some(path) = path {
            if !path.is_file() {
                return Err(ScyllaSinkError::Tls {
                    setting,
                    message: format!("{}: no such file", path.display()),
                });
            }
        }
    }
    builder
        .set_ca_file(&tls.ca_file)
        .map_err(|e| error("ca_file", &tls.ca_file, e))?;
    match (&tls.cert_file, &tls.key_file) {
        (Some(cert), Some(key)) => {
            builder
                .set_certificate_chain_file(cert)
                .map_err(|e| error("cert_file", cert, e))?;
            builder
                .set_private_key_file(key, SslFiletype::PEM)
                .map_err(|e| error("key_file", key, e))?;
            builder
                .check_private_key()
                .map_err(|e| error("key_file", key, e))?;
        }
        (None, None) => {}
        (Some(_), None) | (None, Some(_)) => {
            return Err(ScyllaSinkError::Tls {
                setting: if tls.key_file.is_none() {
                    "key_file"
                } else {
                    "cert_file"
                },
                message: "cert_file and key_file go together: give both for client \
                          authentication, or neither"
                    .into(),
            })
        }
    }
    builder.set_verify(SslVerifyMode::PEER);
    Ok(TlsContext::from(OpenSsl010Config::new(builder)))
}

impl ScyllaSink {
    /// A sink for every output of `program` whose `sink:` is `scylla` (see
    /// [`ScyllaSink::connect`]).
    pub async fn for_program(
        program: &Program,
        config: &ScyllaConfig,
    ) -> Result<Self, ScyllaSinkError> {
        Self::connect(&OutputsMeta::of(program), &scylla_targets(program), config).await
    }

    /// Connects to the cluster in `config` and prepares the insert of each output in
    /// `targets` (output index in `meta`, and its keyspace and table). Fails when a table is
    /// missing or lacks a column of the right type.
    pub async fn connect(
        meta: &OutputsMeta,
        targets: &[(usize, ScyllaSinkSpec)],
        config: &ScyllaConfig,
    ) -> Result<Self, ScyllaSinkError> {
        let layouts = targets
            .iter()
            .map(|(output, spec)| TableLayout::of(meta, *output, spec).map(|l| (*output, l)))
            .collect::<Result<Vec<_>, _>>()?;
        let session = connect_session(config).await?;
        let mut by_output: Vec<Option<Target>> = (0..meta.outputs.len()).map(|_| None).collect();
        for (output, layout) in layouts {
            let insert = prepare_insert(&session, &layout, config.using_timestamp).await?;
            tracing::info!(
                output = %layout.output,
                table = %layout.qualified(),
                "ScyllaDB sink ready."
            );
            by_output[output] = Some(Target {
                sink_name: format!("scylla table {}", layout.qualified()),
                value_types: meta.column_types[output].clone(),
                layout,
                insert,
            });
        }
        let max_in_flight = config.max_in_flight.clamp(1, Semaphore::MAX_PERMITS) as u32;
        Ok(ScyllaSink {
            session: Arc::new(session),
            targets: by_output,
            in_flight: Semaphore::new(max_in_flight as usize),
            max_in_flight,
            using_timestamp: config.using_timestamp,
        })
    }

    /// Runs `statements` (e.g. from [`ddl`]) one by one.
    pub async fn apply_ddl(
        session: &Session,
        statements: &[String],
    ) -> Result<(), ScyllaSinkError> {
        for statement in statements {
            session
                .query_unpaged(statement.as_str(), ())
                .await
                .map_err(|e| ScyllaSinkError::Ddl {
                    statement: statement.clone(),
                    message: e.to_string(),
                })?;
        }
        Ok(())
    }

    /// The driver session (for reads and DDL).
    pub fn session(&self) -> &Arc<Session> {
        &self.session
    }

    /// The table of output `output`, if this sink writes it.
    pub fn layout(&self, output: usize) -> Option<&TableLayout> {
        self.target(output).map(|t| &t.layout)
    }

    fn target(&self, output: usize) -> Option<&Target> {
        self.targets.get(output).and_then(Option::as_ref)
    }

    /// Inserts one row and resolves when the write reached the configured consistency.
    pub async fn write(&self, row: &SinkRow) -> Result<(), SinkError> {
        let Some(target) = self.target(row.row.output) else {
            return Err(SinkError::not_routed("scylla", "ScyllaDB", row.row.output));
        };
        let values = target.values(row, self.using_timestamp)?;
        let _permit = self
            .in_flight
            .acquire()
            .await
            .map_err(|_| target.error("the sink is closed".into(), false))?;
        match self.session.execute_unpaged(&target.insert, values).await {
            Ok(_) => Ok(()),
            Err(e) => Err(target.error(
                format!(
                    "output `{}`: writing a row of session `{}` to keyspace `{}`, table `{}` \
                     failed: {e}",
                    target.layout.output,
                    shortened(&row.session),
                    target.layout.keyspace,
                    target.layout.table
                ),
                execution_error_is_retryable(&e),
            )),
        }
    }

    /// Waits until no write is in flight (each write is durable once it resolves).
    pub async fn flush(&self) -> Result<(), SinkError> {
        match self.in_flight.acquire_many(self.max_in_flight).await {
            Ok(_) => Ok(()),
            Err(_) => Err(SinkError {
                sink: "scylla".into(),
                message: "the sink is closed".into(),
                retryable: false,
            }),
        }
    }
}

/// Checks that `layout`'s table exists with columns of the types its output writes, by
/// preparing its insert (what [`ScyllaSink::connect`] does for every output).
pub async fn check_table(
    session: &Session,
    layout: &TableLayout,
    using_timestamp: bool,
) -> Result<(), ScyllaSinkError> {
    prepare_insert(session, layout, using_timestamp)
        .await
        .map(|_| ())
}

/// Prepares `layout`'s insert, idempotent, and checks the table's column types.
async fn prepare_insert(
    session: &Session,
    layout: &TableLayout,
    using_timestamp: bool,
) -> Result<PreparedStatement, ScyllaSinkError> {
    let error = |message: String, retryable: bool| ScyllaSinkError::Prepare {
        output: layout.output.clone(),
        keyspace: layout.keyspace.clone(),
        table: layout.table.clone(),
        message,
        retryable,
    };
    let mut insert = session
        .prepare(layout.insert(using_timestamp))
        .await
        .map_err(|e| {
            error(
                format!("preparing the insert failed (does the table exist?): {e}"),
                prepare_error_is_retryable(&e),
            )
        })?;
    insert.set_is_idempotent(true);
    let specs = insert.get_variable_col_specs();
    let mut expected: Vec<(&str, NativeType)> = vec![
        (&layout.session_column, NativeType::Text),
        (&layout.time_column, NativeType::Timestamp),
    ];
    for (c, t) in layout.columns.iter().zip(&layout.types) {
        let ty = match *t {
            "double" => NativeType::Double,
            "boolean" => NativeType::Boolean,
            _ => NativeType::Text,
        };
        expected.push((c, ty));
    }
    if using_timestamp {
        expected.push(("[timestamp]", NativeType::BigInt));
    }
    if specs.len() != expected.len() {
        return Err(error(
            format!(
                "the prepared insert has {} bound values, expected {}",
                specs.len(),
                expected.len()
            ),
            false,
        ));
    }
    for (spec, (column, ty)) in specs.iter().zip(&expected) {
        let matches = match spec.typ() {
            ColumnType::Native(n) => {
                n == ty || (*ty == NativeType::Text && *n == NativeType::Ascii)
            }
            _ => false,
        };
        if !matches {
            return Err(error(
                format!(
                    "column `{column}` has type {:?}, expected {ty:?}",
                    spec.typ()
                ),
                false,
            ));
        }
    }
    Ok(insert)
}

/// At most 100 characters of `s` (session keys in error messages).
fn shortened(s: &str) -> std::borrow::Cow<'_, str> {
    match s.char_indices().nth(100) {
        Some((end, _)) => format!("{}…", &s[..end]).into(),
        None => s.into(),
    }
}

/// Whether a failed write may succeed later: client timeouts, broken or missing connections,
/// and the server's timeouts, unavailable replicas, overload and rate limits are transient;
/// invalid queries, missing tables, type mismatches and authorization errors are not.
pub fn execution_error_is_retryable(e: &ExecutionError) -> bool {
    match e {
        ExecutionError::RequestTimeout(_)
        | ExecutionError::ConnectionPoolError(_)
        | ExecutionError::SchemaAgreementError(_)
        | ExecutionError::MetadataError(_) => true,
        ExecutionError::LastAttemptError(a) => attempt_error_is_retryable(a),
        ExecutionError::PrepareError(p) => prepare_error_is_retryable(p),
        _ => false,
    }
}

/// [`execution_error_is_retryable`] for preparing a statement.
pub fn prepare_error_is_retryable(e: &PrepareError) -> bool {
    match e {
        PrepareError::ConnectionPoolError(_) => true,
        PrepareError::AllAttemptsFailed { first_attempt } => {
            attempt_error_is_retryable(first_attempt)
        }
        _ => false,
    }
}

fn attempt_error_is_retryable(e: &RequestAttemptError) -> bool {
    match e {
        RequestAttemptError::UnableToAllocStreamId
        | RequestAttemptError::BrokenConnectionError(_) => true,
        RequestAttemptError::DbError(db, _) => matches!(
            db,
            DbError::Unavailable { .. }
                | DbError::Overloaded
                | DbError::IsBootstrapping
                | DbError::ReadTimeout { .. }
                | DbError::WriteTimeout { .. }
                | DbError::ReadFailure { .. }
                | DbError::WriteFailure { .. }
                | DbError::ServerError
                | DbError::TruncateError
                | DbError::RateLimitReached { .. }
                | DbError::Unprepared { .. }
        ),
        _ => false,
    }
}
