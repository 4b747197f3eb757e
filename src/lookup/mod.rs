//! Lookups: values joined onto events from ScyllaDB tables by key (`input.lookups`).
//!
//! Between decoding and the [`SessionProcessor`](crate::pipeline::SessionProcessor), an
//! [`Enricher`] fills each record's lookup slots (after the decoder's slots, see
//! [`spanflow_operators::lookups`]) from a per-lookup [`LookupCache`]; a miss asks a
//! [`LookupSource`] — [`ScyllaLookups`] in runs, [`StaticRows`] in spec tests — and blocks
//! the calling thread (the consumer thread, never the async runtime) until it answers.
//!
//! - **Missing keys.** A key with no row (or an event whose key field is null) follows the
//!   lookup's `on_missing`: `null_fields` keeps the event with the lookup's fields null (`get`
//!   nodes emit nothing for it), `drop_event` drops it and counts it. Absence is cached too.
//! - **Several rows.** `on_multiple_rows: first` joins the first row in clustering order and
//!   reads no further than the second row; `last` reads every page and joins the last one.
//!   Either way, keys with several rows are counted ([`LookupStats::several_rows`]).
//! - **Failures.** While the cluster is unreachable (timeouts, broken connections, unavailable
//!   replicas) the fetch is retried with exponential backoff, for as long as it takes: events
//!   are neither dropped nor joined with nulls by mistake. A stop request ends the wait with
//!   an error the caller recognises ([`LookupError::stopped`]). Other errors stop the run.

mod cache;
mod memory;
mod scylla;

pub use self::scylla::{LookupSetupError, ScyllaLookups, DEFAULT_PAGE_SIZE};
pub use cache::LookupCache;
pub use memory::StaticRows;

use crate::config::ScyllaConfig;
use smallvec::SmallVec;
use spanflow_engine::{FieldValue, Record, Str};
use spanflow_operators::lookups::{LookupKey, LookupPlan};
use spanflow_operators::spec::OnMissing;
use spanflow_operators::Program;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

/// A lookup key as events give it. Numbers are compared by value (`-0.0` is `0.0`).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum KeyValue {
    /// A string key.
    Str(Str),
    /// A number key: the bits of its `f64`.
    Num(u64),
    /// A boolean key.
    Bool(bool),
}

impl KeyValue {
    /// The key of a field value; `None` for null.
    pub fn of(v: &FieldValue) -> Option<Self> {
        match v {
            FieldValue::Null => None,
            FieldValue::Str(s) => Some(KeyValue::Str(s.clone())),
            FieldValue::F64(x) => Some(KeyValue::number(*x)),
            FieldValue::Bool(b) => Some(KeyValue::Bool(*b)),
        }
    }

    /// A number key.
    pub fn number(x: f64) -> Self {
        // -0.0 and 0.0 are the same key.
        KeyValue::Num(if x == 0.0 { 0.0f64 } else { x }.to_bits())
    }

    /// The key as a field value.
    pub fn to_field(&self) -> FieldValue {
        match self {
            KeyValue::Str(s) => FieldValue::Str(s.clone()),
            KeyValue::Num(bits) => FieldValue::F64(f64::from_bits(*bits)),
            KeyValue::Bool(b) => FieldValue::Bool(*b),
        }
    }
}

impl std::fmt::Display for KeyValue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            KeyValue::Str(s) => write!(f, "{s:?}"),
            KeyValue::Num(bits) => write!(f, "{}", f64::from_bits(*bits)),
            KeyValue::Bool(b) => write!(f, "{b}"),
        }
    }
}

/// The values of a lookup's columns in one row, in the plan's column order.
pub type LookupRow = SmallVec<[FieldValue; 4]>;

/// What a source found for a key.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Fetched {
    /// The row joined (per the lookup's `on_multiple_rows`), `None` when the key has none.
    pub row: Option<LookupRow>,
    /// Rows read for the key (with `first`, at most 2: enough to tell that there are several).
    pub rows_read: u64,
}

/// A failed fetch.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
#[error("lookup `{lookup}`: {message}")]
pub struct LookupError {
    /// The lookup's name.
    pub lookup: String,
    /// What went wrong (naming the keyspace, table and key).
    pub message: String,
    /// Whether trying again later may succeed.
    pub retryable: bool,
    /// Whether the wait for a retry was ended by a stop request.
    pub stopped: bool,
}

/// Where lookups read rows from on a cache miss.
pub trait LookupSource: Send {
    /// Fetches the row of `key` for lookup number `lookup` (an index into the program's
    /// `input.lookups`), blocking until it is known.
    fn fetch(&self, lookup: usize, key: &KeyValue) -> Result<Fetched, LookupError>;
}

/// How long to wait between retries of a fetch that may succeed later.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RetryPolicy {
    /// The first wait.
    pub initial: Duration,
    /// The longest wait (waits double up to it).
    pub max: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            initial: Duration::from_millis(100),
            max: Duration::from_secs(5),
        }
    }
}

/// Counters of what the lookups did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct LookupStats {
    /// Keys looked up (one per lookup per event with a key).
    pub lookups: u64,
    /// Of those, answered by the cache.
    pub cache_hits: u64,
    /// Fetches from the source that succeeded.
    pub fetches: u64,
    /// Failed fetches retried.
    pub retries: u64,
    /// Events whose key had no row, or was null.
    pub missing: u64,
    /// Events dropped by `on_missing: drop_event`.
    pub dropped: u64,
    /// Fetches that found several rows for their key.
    pub several_rows: u64,
}

/// Whether an enriched event goes on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Joined {
    /// The event carries its lookup values (or nulls); process it.
    Keep,
    /// A lookup with `on_missing: drop_event` found no row: skip the event.
    Drop,
}

struct Active {
    plan: LookupPlan,
    cache: LookupCache,
}

/// Fills the lookup slots of records, from the caches or the source.
pub struct Enricher {
    lookups: Vec<Active>,
    source: Box<dyn LookupSource>,
    slots: usize,
    retry: RetryPolicy,
    stop: Option<Arc<AtomicBool>>,
    stats: LookupStats,
}

impl std::fmt::Debug for Enricher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Enricher")
            .field(
                "lookups",
                &self
                    .lookups
                    .iter()
                    .map(|l| &l.plan.name)
                    .collect::<Vec<_>>(),
            )
            .field("stats", &self.stats)
            .finish_non_exhaustive()
    }
}

impl Enricher {
    /// An enricher for the lookups of `program`, reading misses from `source`.
    pub fn new(program: &Program, source: Box<dyn LookupSource>) -> Self {
        Self::for_plans(&program.input.lookups, program.input.slots(), source)
    }

    /// An enricher for `plans` on records of `slots` slots.
    pub fn for_plans(plans: &[LookupPlan], slots: usize, source: Box<dyn LookupSource>) -> Self {
        Self {
            lookups: plans
                .iter()
                .map(|p| Active {
                    cache: LookupCache::new(
                        p.cache_capacity,
                        Duration::from_millis(u64::try_from(p.cache_ttl_ms).unwrap_or(1)),
                    ),
                    plan: p.clone(),
                })
                .collect(),
            source,
            slots,
            retry: RetryPolicy::default(),
            stop: None,
            stats: LookupStats::default(),
        }
    }

    /// Sets the backoff between retries.
    pub fn with_retry(mut self, retry: RetryPolicy) -> Self {
        self.retry = retry;
        self
    }

    /// Gives up waiting for a retry once `stop` is set.
    pub fn with_stop(mut self, stop: Arc<AtomicBool>) -> Self {
        self.stop = Some(stop);
        self
    }

    /// What the lookups did so far.
    pub fn stats(&self) -> &LookupStats {
        &self.stats
    }

    /// The cache of lookup number `lookup`.
    pub fn cache(&self, lookup: usize) -> Option<&LookupCache> {
        self.lookups.get(lookup).map(|l| &l.cache)
    }

    /// Joins every lookup onto `record` (of session `session_key`): its lookup slots get the
    /// row's values, or nulls. Returns whether the event goes on.
    pub fn enrich(
        &mut self,
        session_key: &str,
        record: &mut Record,
    ) -> Result<Joined, LookupError> {
        if record.fields.len() < self.slots {
            record.fields.resize(self.slots, FieldValue::Null);
        }
        for i in 0..self.lookups.len() {
            let key = match &self.lookups[i].plan.key {
                LookupKey::Session => Some(KeyValue::Str(Str::from(session_key))),
                LookupKey::Field { slot, .. } => KeyValue::of(record.field(*slot)),
            };
            let row = match key {
                Some(key) => self.row(i, key)?,
                None => None,
            };
            let plan = &self.lookups[i].plan;
            match row {
                Some(row) => {
                    for (column, value) in plan.columns.iter().zip(row.iter()) {
                        if let Some(dst) = record.fields.get_mut(column.slot) {
                            dst.clone_from(value);
                        }
                    }
                }
                None => {
                    self.stats.missing += 1;
                    if plan.on_missing == OnMissing::DropEvent {
                        self.stats.dropped += 1;
                        return Ok(Joined::Drop);
                    }
                    for column in &plan.columns {
                        if let Some(dst) = record.fields.get_mut(column.slot) {
                            *dst = FieldValue::Null;
                        }
                    }
                }
            }
        }
        Ok(Joined::Keep)
    }

    /// The row of `key` for lookup `i`, from the cache or fetched (and cached).
    fn row(&mut self, i: usize, key: KeyValue) -> Result<Option<Arc<LookupRow>>, LookupError> {
        self.stats.lookups += 1;
        let active = &self.lookups[i];
        if let Some(cached) = active.cache.get(&key) {
            self.stats.cache_hits += 1;
            return Ok(cached);
        }
        let mut backoff = self.retry.initial;
        let mut attempts = 0u32;
        let fetched = loop {
            match self.source.fetch(i, &key) {
                Ok(f) => break f,
                Err(e) if e.retryable => {
                    if self
                        .stop
                        .as_ref()
                        .is_some_and(|s| s.load(Ordering::Relaxed))
                    {
                        return Err(LookupError { stopped: true, ..e });
                    }
                    attempts += 1;
                    self.stats.retries += 1;
                    if attempts == 1 || attempts.is_power_of_two() {
                        tracing::warn!(error = %e, attempts, "Lookup failed; retrying with backoff.");
                    }
                    self.sleep(backoff);
                    backoff = (backoff * 2).min(self.retry.max);
                }
                Err(e) => return Err(e),
            }
        };
        self.stats.fetches += 1;
        if fetched.rows_read > 1 {
            self.stats.several_rows += 1;
            if self.stats.several_rows.is_power_of_two() {
                tracing::warn!(
                    lookup = %active.plan.name,
                    key = %key,
                    rows = fetched.rows_read,
                    policy = ?active.plan.on_multiple_rows,
                    count = self.stats.several_rows,
                    "A lookup key matches several rows; one is joined."
                );
            }
        }
        let row = fetched.row.map(Arc::new);
        active.cache.insert(key, row.clone());
        Ok(row)
    }

    /// Sleeps `d`, waking early when a stop is requested.
    fn sleep(&self, d: Duration) {
        let step = Duration::from_millis(50);
        let mut left = d;
        while !left.is_zero() {
            if self
                .stop
                .as_ref()
                .is_some_and(|s| s.load(Ordering::Relaxed))
            {
                return;
            }
            let nap = left.min(step);
            std::thread::sleep(nap);
            left -= nap;
        }
    }
}

/// Checks that a run of `program` has an enricher exactly when the spec has lookups.
pub fn check_enricher(program: &Program, have: bool) -> Result<(), String> {
    match (program.input.lookups.is_empty(), have) {
        (false, false) => Err(format!(
            "spec `{}` has lookups ({}): they need a connection (run it with `spanflow run`, which connects to `scylla:` in the runtime config)",
            program.name,
            program
                .input
                .lookups
                .iter()
                .map(|l| l.name.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        )),
        _ => Ok(()),
    }
}

/// Joins the lookups onto `record` when there is an `enricher`; returns whether the event goes
/// on (a lookup with `on_missing: drop_event` may drop it).
pub fn join(
    enricher: Option<&mut Enricher>,
    session_key: &str,
    record: &mut Record,
) -> Result<bool, String> {
    match enricher {
        None => Ok(true),
        Some(e) => e
            .enrich(session_key, record)
            .map(|j| j == Joined::Keep)
            .map_err(|e| e.to_string()),
    }
}

/// Connects the lookups of `program` to the cluster of `config` on `runtime` (which then runs
/// their I/O): `None` when the spec has no lookups. Fails when a table, column or type does not
/// match the spec; waits for a cluster that is not reachable until `stop`.
pub fn connect(
    program: &Program,
    config: &ScyllaConfig,
    runtime: &tokio::runtime::Runtime,
    stop: &std::sync::atomic::AtomicBool,
) -> Result<Option<Enricher>, String> {
    if program.input.lookups.is_empty() {
        return Ok(None);
    }
    let source = runtime
        .block_on(crate::sink::retry_while_unreachable(
            "ScyllaDB lookups",
            stop,
            |e: &LookupSetupError| e.is_retryable(),
            || ScyllaLookups::connect(&program.input.lookups, config, DEFAULT_PAGE_SIZE),
        ))
        .map_err(|e| e.to_string())?;
    Ok(Some(Enricher::new(program, Box::new(source))))
}

/// `validate --with-environment`: checks each lookup's table on the cluster of `config` (it
/// exists, with the key and columns of the declared types). No checks without lookups.
pub fn check_environment(
    program: &Program,
    config: &ScyllaConfig,
) -> Vec<crate::scylla_admin::EnvironmentCheck> {
    use crate::scylla_admin::EnvironmentCheck;
    let lookups = &program.input.lookups;
    if lookups.is_empty() {
        return Vec::new();
    }
    let runtime = match crate::kafka::io_runtime() {
        Ok(r) => r,
        Err(e) => {
            return vec![EnvironmentCheck {
                what: "scylla".into(),
                result: Err(e),
            }]
        }
    };
    runtime.block_on(async {
        let session = match crate::sink::connect_session(config).await {
            Ok(s) => Arc::new(s),
            Err(e) => {
                return vec![EnvironmentCheck {
                    what: format!("scylla cluster {} (lookups)", config.nodes.join(",")),
                    result: Err(e.to_string()),
                }]
            }
        };
        let mut checks = Vec::new();
        for plan in lookups {
            let result = ScyllaLookups::prepare(
                session.clone(),
                std::slice::from_ref(plan),
                config.request_timeout(),
                DEFAULT_PAGE_SIZE,
            )
            .await;
            checks.push(EnvironmentCheck {
                what: format!(
                    "lookup `{}` ← scylla table {}.{}",
                    plan.name, plan.keyspace, plan.table
                ),
                result: result.map(|_| ()).map_err(|e| e.to_string()),
            });
        }
        checks
    })
}

/// The lookups of a file run, with the runtime their connections live on.
pub struct FileLookups {
    /// The enricher.
    pub enricher: Enricher,
    // Dropped after the enricher (fields drop in order), so the session closes on it.
    _runtime: tokio::runtime::Runtime,
}

impl FileLookups {
    /// Connects the lookups of `program` for a file run to the cluster of `config`: `None`
    /// when the spec has none. Waits for an unreachable cluster, at startup and during the
    /// run, until `stop` is set.
    pub fn connect(
        program: &Program,
        config: &crate::config::RuntimeConfig,
        stop: &std::sync::Arc<AtomicBool>,
    ) -> Result<Option<Self>, String> {
        if program.input.lookups.is_empty() {
            return Ok(None);
        }
        let runtime = crate::kafka::io_runtime()?;
        Ok(
            connect(program, &config.scylla, &runtime, stop)?.map(|enricher| FileLookups {
                enricher: enricher.with_stop(stop.clone()),
                _runtime: runtime,
            }),
        )
    }
}

#[cfg(test)]
mod tests;
