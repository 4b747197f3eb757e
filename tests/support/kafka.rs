//! Real Kafka-compatible brokers for tests, and helpers to use them.
//!
//! - [`MockKafka`]: librdkafka's in-process mock cluster. Fast, always available; it cannot
//!   create topics through the Admin API (no CreateTopics handler), so its topics are made with
//!   the mock API ([`Broker::create_topic`]).
//! - [`Tansu`]: the tansu broker (crates.io, pinned to 0.6.0) as a child process on loopback,
//!   with in-memory storage. Skipped with a message when not installed, unless
//!   `SPANFLOW_REQUIRE_TANSU=1` (CI), which turns the skip into a failure.
//!
//! Helpers: [`create_topic`], [`produce_framed`], [`consume_all`], [`group_consumer`],
//! [`poll_messages`], [`heartbeat_messages`], [`behind_commits`].

use rdkafka::admin::{
    AdminClient, AdminOptions, ConfigResource, NewTopic, ResourceSpecifier, TopicReplication,
};
use rdkafka::client::DefaultClientContext;
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::error::{KafkaError, KafkaResult};
use rdkafka::message::Message;
use rdkafka::mocking::MockCluster;
use rdkafka::producer::{DefaultProducerContext, FutureProducer, FutureRecord};
use rdkafka::{Offset, TopicPartitionList};
use spanflow::decode::write_confluent_header;
use spanflow::generate::{encode_datums, video_sessions, GenConfig, HEARTBEAT_SCHEMA};
use std::fs::File;
use std::io::Read;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

/// Consumer `session.timeout.ms` for tests: the default 45 s makes group joins take ~25 s.
pub const SESSION_TIMEOUT_MS: &str = "6000";
/// Consumer `heartbeat.interval.ms` for tests, so rebalances are noticed quickly.
pub const HEARTBEAT_INTERVAL_MS: &str = "500";
/// The schema id written into every framed heartbeat (`fixtures/avro/registry/1.avsc`).
pub const HEARTBEAT_SCHEMA_ID: u32 = 1;
/// How tansu is installed (pinned; the binary lands in `~/.cargo/bin`).
pub const TANSU_INSTALL: &str = "cargo install tansu --version 0.6.0 --locked --features dynostore";

/// A message to produce or a produced message: `(key, value)`.
pub type Keyed = (Vec<u8>, Vec<u8>);

/// A running broker the tests can talk to.
pub trait Broker {
    /// Short name for messages (`mock`, `tansu`).
    fn name(&self) -> &'static str;
    /// The `bootstrap.servers` value.
    fn bootstrap(&self) -> &str;
    /// Creates `topic` with `partitions` partitions (panics on failure).
    fn create_topic(&self, topic: &str, partitions: i32);
}

/// librdkafka's mock cluster, in process; dropped with the value.
pub struct MockKafka {
    cluster: MockCluster<'static, DefaultProducerContext>,
    bootstrap: String,
}

impl MockKafka {
    /// Starts a mock cluster of `brokers` brokers.
    pub fn start(brokers: i32) -> MockKafka {
        let cluster = MockCluster::new(brokers).expect("mock cluster");
        let bootstrap = cluster.bootstrap_servers();
        MockKafka { cluster, bootstrap }
    }
}

impl Broker for MockKafka {
    fn name(&self) -> &'static str {
        "mock"
    }

    fn bootstrap(&self) -> &str {
        &self.bootstrap
    }

    /// Uses the mock API: the mock cluster has no CreateTopics handler.
    fn create_topic(&self, topic: &str, partitions: i32) {
        self.cluster
            .create_topic(topic, partitions, 1)
            .unwrap_or_else(|e| panic!("mock: create topic {topic}: {e}"));
    }
}

/// A tansu broker child process on a free loopback port, with in-memory storage; killed on
/// drop. Its stdout and stderr go to a temp file, whose tail is printed when startup fails or
/// the test panics.
pub struct Tansu {
    child: Child,
    bootstrap: String,
    log: PathBuf,
}

impl Tansu {
    /// Starts tansu and waits until it answers metadata requests. Returns `None` (after printing
    /// `skipped: tansu not installed`) when the binary is not found, or panics then when
    /// `SPANFLOW_REQUIRE_TANSU=1`. Panics when tansu does not come up.
    pub fn start() -> Option<Tansu> {
        let Some(bin) = tansu_binary() else {
            if std::env::var("SPANFLOW_REQUIRE_TANSU").is_ok_and(|v| v == "1") {
                panic!(
                    "SPANFLOW_REQUIRE_TANSU=1 but tansu is not installed (not in $TANSU_BIN, \
                     PATH or ~/.cargo/bin); install it with: {TANSU_INSTALL}"
                );
            }
            eprintln!("skipped: tansu not installed (install with: {TANSU_INSTALL})");
            return None;
        };
        // Another process can take the probed port before tansu binds it: try a few ports.
        let mut errors = Vec::new();
        for _ in 0..3 {
            match Tansu::spawn(&bin) {
                Ok(tansu) => return Some(tansu),
                Err(e) => {
                    eprintln!("{e}");
                    errors.push(e);
                }
            }
        }
        panic!(
            "tansu ({}) did not start:\n{}",
            bin.display(),
            errors.join("\n")
        );
    }

    /// Starts tansu listening on `port` of 127.0.0.1 but advertising `advertised` (`host:port`)
    /// to clients, e.g. a TLS proxy in front of it: clients then reach it only through the
    /// proxy. `None` when tansu is not installed (see [`Tansu::start`]).
    pub fn start_advertising(port: u16, advertised: &str) -> Option<Tansu> {
        let Some(bin) = tansu_binary() else {
            // Skips, or panics under SPANFLOW_REQUIRE_TANSU=1, with the install hint.
            return Tansu::start();
        };
        Some(
            Tansu::spawn_on(&bin, port, Some(advertised))
                .unwrap_or_else(|e| panic!("tansu ({}) did not start: {e}", bin.display())),
        )
    }

    fn spawn(bin: &Path) -> Result<Tansu, String> {
        Tansu::spawn_on(bin, free_port(), None)
    }

    fn spawn_on(bin: &Path, port: u16, advertised: Option<&str>) -> Result<Tansu, String> {
        static STARTED: AtomicU32 = AtomicU32::new(0);
        let url = format!("tcp://127.0.0.1:{port}");
        let advertised = advertised.map_or_else(|| url.clone(), |a| format!("tcp://{a}"));
        let log = std::env::temp_dir().join(format!(
            "spanflow-tansu-{}-{}-{port}.log",
            std::process::id(),
            STARTED.fetch_add(1, Ordering::Relaxed)
        ));
        let out = File::create(&log).map_err(|e| format!("{}: {e}", log.display()))?;
        let err = out.try_clone().map_err(|e| e.to_string())?;
        let child = Command::new(bin)
            .args(["broker", "--listener-url", &url])
            .args(["--advertised-listener-url", &advertised])
            .args(["--storage-engine", "memory://tansu/"])
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(err)
            .spawn()
            .map_err(|e| format!("spawning {}: {e}", bin.display()))?;
        let mut tansu = Tansu {
            child,
            bootstrap: format!("127.0.0.1:{port}"),
            log,
        };
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if let Ok(Some(status)) = tansu.child.try_wait() {
                return Err(format!(
                    "tansu on port {port} exited with {status}; log tail:\n{}",
                    tansu.log_tail()
                ));
            }
            if answers_metadata(&tansu.bootstrap, Duration::from_secs(1)) {
                return Ok(tansu);
            }
            if Instant::now() > deadline {
                return Err(format!(
                    "tansu on port {port} did not answer metadata requests within 20 s; log \
                     tail:\n{}",
                    tansu.log_tail()
                ));
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// The last 40 lines of tansu's output.
    pub fn log_tail(&self) -> String {
        let mut text = String::new();
        if let Ok(mut f) = File::open(&self.log) {
            let _ = f.read_to_string(&mut text);
        }
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(40)..].join("\n")
    }
}

impl Broker for Tansu {
    fn name(&self) -> &'static str {
        "tansu"
    }

    fn bootstrap(&self) -> &str {
        &self.bootstrap
    }

    /// Uses the Admin API ([`create_topic`]).
    fn create_topic(&self, topic: &str, partitions: i32) {
        create_topic(&self.bootstrap, topic, partitions)
            .unwrap_or_else(|e| panic!("tansu: create topic {topic}: {e}"));
    }
}

impl Drop for Tansu {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        if std::thread::panicking() {
            eprintln!(
                "tansu log ({}), tail:\n{}",
                self.log.display(),
                self.log_tail()
            );
        } else {
            let _ = std::fs::remove_file(&self.log);
        }
    }
}

/// The tansu binary: `$TANSU_BIN`, else `tansu` on `PATH`, else `$CARGO_HOME/bin` or
/// `~/.cargo/bin`.
fn tansu_binary() -> Option<PathBuf> {
    if let Some(bin) = std::env::var_os("TANSU_BIN") {
        return Some(PathBuf::from(bin)).filter(|p| p.is_file());
    }
    let path_dirs = std::env::var_os("PATH")
        .map(|p| std::env::split_paths(&p).collect::<Vec<_>>())
        .unwrap_or_default();
    let cargo_bin = std::env::var_os("CARGO_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cargo")))
        .map(|c| c.join("bin"));
    path_dirs
        .into_iter()
        .chain(cargo_bin)
        .map(|dir| dir.join("tansu"))
        .find(|p| p.is_file())
}

/// A loopback port that was free a moment ago.
pub fn free_port() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
    listener.local_addr().expect("local addr").port()
}

/// Whether the broker at `bootstrap` returns metadata with at least one broker.
fn answers_metadata(bootstrap: &str, timeout: Duration) -> bool {
    let Ok(client) = client_config(bootstrap).create::<BaseConsumer>() else {
        return false;
    };
    client
        .fetch_metadata(None, timeout)
        .is_ok_and(|m| !m.brokers().is_empty())
}

/// A client config for `bootstrap` with quiet, quick reconnects.
pub fn client_config(bootstrap: &str) -> ClientConfig {
    let mut config = ClientConfig::new();
    config
        .set("bootstrap.servers", bootstrap)
        .set("reconnect.backoff.ms", "50")
        .set("reconnect.backoff.max.ms", "500");
    config
}

/// Runs `future` to completion on a fresh current-thread runtime.
fn block_on<F: std::future::Future>(future: F) -> F::Output {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("tokio runtime")
        .block_on(future)
}

/// A name no other test (or earlier run against the same broker) uses: `prefix-<pid>-<n>`.
pub fn unique(prefix: &str) -> String {
    static N: AtomicU32 = AtomicU32::new(0);
    format!(
        "{prefix}-{}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    )
}

/// Creates `topic` with `partitions` partitions (replication factor 1) through the Admin API.
pub fn create_topic(bootstrap: &str, topic: &str, partitions: i32) -> KafkaResult<()> {
    create_topic_with(bootstrap, topic, partitions, &[], Duration::from_secs(10))
}

/// Creates `topic` with topic `configs` (e.g. `cleanup.policy=compact`) through the Admin API,
/// waiting at most `timeout`.
pub fn create_topic_with(
    bootstrap: &str,
    topic: &str,
    partitions: i32,
    configs: &[(&str, &str)],
    timeout: Duration,
) -> KafkaResult<()> {
    let admin: AdminClient<DefaultClientContext> = client_config(bootstrap).create()?;
    let mut new_topic = NewTopic::new(topic, partitions, TopicReplication::Fixed(1));
    for (key, value) in configs {
        new_topic = new_topic.set(key, value);
    }
    let options = AdminOptions::new()
        .request_timeout(Some(timeout))
        .operation_timeout(Some(timeout));
    let results = block_on(admin.create_topics([&new_topic], &options))?;
    for result in results {
        result.map_err(|(_, code)| KafkaError::AdminOp(code))?;
    }
    Ok(())
}

/// The configuration of `topic` as the broker describes it (Admin API `DescribeConfigs`).
pub fn describe_topic(bootstrap: &str, topic: &str) -> KafkaResult<ConfigResource> {
    let admin: AdminClient<DefaultClientContext> = client_config(bootstrap).create()?;
    let options = AdminOptions::new().request_timeout(Some(Duration::from_secs(10)));
    let mut results =
        block_on(admin.describe_configs([&ResourceSpecifier::Topic(topic)], &options))?;
    results
        .pop()
        .expect("one resource result")
        .map_err(KafkaError::AdminOp)
}

/// Produces `messages` (key, value) to `topic` with the default partitioner and waits for every
/// delivery report; returns each message's `(partition, offset)`, in input order. Panics when a
/// message is not delivered within 10 s.
pub fn produce_framed(bootstrap: &str, topic: &str, messages: &[Keyed]) -> Vec<(i32, i64)> {
    let producer: FutureProducer = client_config(bootstrap)
        .set("message.timeout.ms", "10000")
        .set("linger.ms", "5")
        .create()
        .expect("producer");
    let deliveries: Vec<_> = messages
        .iter()
        .map(|(key, value)| {
            producer
                .send_result(FutureRecord::to(topic).key(key).payload(value))
                .map_err(|(e, _)| e)
                .expect("enqueue message")
        })
        .collect();
    block_on(async {
        let mut out = Vec::with_capacity(deliveries.len());
        for delivery in deliveries {
            match delivery.await.expect("producer dropped") {
                Ok(d) => out.push((d.partition, d.offset)),
                Err((e, _)) => panic!("{topic}: message not delivered: {e}"),
            }
        }
        out
    })
}

/// A message read back from a topic.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Consumed {
    /// The partition.
    pub partition: i32,
    /// The offset in the partition.
    pub offset: i64,
    /// The key (empty when none).
    pub key: Vec<u8>,
    /// The value (empty when none).
    pub payload: Vec<u8>,
}

/// A consumer in consumer group `group` as the smoke tests use it: no auto-commit, reads from
/// the earliest offset without a committed one, short session timeout and heartbeat interval.
pub fn group_consumer(bootstrap: &str, group: &str) -> BaseConsumer {
    group_consumer_with(bootstrap, group, &[])
}

/// [`group_consumer`] with `extra` settings on top (e.g. `partition.assignment.strategy`).
pub fn group_consumer_with(bootstrap: &str, group: &str, extra: &[(&str, &str)]) -> BaseConsumer {
    let mut config = client_config(bootstrap);
    config
        .set("group.id", group)
        .set("enable.auto.commit", "false")
        .set("auto.offset.reset", "earliest")
        .set("session.timeout.ms", SESSION_TIMEOUT_MS)
        .set("heartbeat.interval.ms", HEARTBEAT_INTERVAL_MS);
    for (key, value) in extra {
        config.set(*key, *value);
    }
    config.create().expect("consumer")
}

/// How many messages of `topic` (partitions `0..partitions`) lie past `group`'s committed
/// offsets: what a restart of the group reads again. Asks with `reader`, a consumer that has
/// not joined the group (an offset fetch needs no membership).
pub fn behind_commits(reader: &BaseConsumer, group: &str, topic: &str, partitions: i32) -> i64 {
    let mut tpl = TopicPartitionList::new();
    for p in 0..partitions {
        tpl.add_partition(topic, p);
    }
    let committed = reader
        .committed_offsets(tpl, Duration::from_secs(10))
        .unwrap_or_else(|e| panic!("{group}: committed offsets of {topic}: {e}"));
    committed
        .elements()
        .iter()
        .map(|e| {
            let (_, high) = reader
                .fetch_watermarks(topic, e.partition(), Duration::from_secs(10))
                .unwrap_or_else(|e| panic!("{topic}: watermarks: {e}"));
            high - e.offset().to_raw().filter(|o| *o >= 0).unwrap_or(0)
        })
        .sum()
}

/// Polls `consumer` until it has read `n` messages or `timeout` passed; returns what it read,
/// in arrival order. Panics on a consumer error.
pub fn poll_messages(consumer: &BaseConsumer, n: usize, timeout: Duration) -> Vec<Consumed> {
    let deadline = Instant::now() + timeout;
    let mut out = Vec::new();
    while out.len() < n && Instant::now() < deadline {
        match consumer.poll(Duration::from_millis(100)) {
            None => {}
            Some(Ok(m)) => out.push(Consumed {
                partition: m.partition(),
                offset: m.offset(),
                key: m.key().unwrap_or_default().to_vec(),
                payload: m.payload().unwrap_or_default().to_vec(),
            }),
            Some(Err(e)) => panic!("consumer error: {e}"),
        }
    }
    out
}

/// Reads `topic` from the beginning of every partition, without a consumer group (assigned
/// partitions), until `n` messages arrived or `timeout` passed.
pub fn consume_all(bootstrap: &str, topic: &str, n: usize, timeout: Duration) -> Vec<Consumed> {
    // librdkafka wants a group id even for assigned partitions; nothing is committed.
    let consumer: BaseConsumer = client_config(bootstrap)
        .set("group.id", unique("consume-all"))
        .set("enable.auto.commit", "false")
        .create()
        .expect("consumer");
    let metadata = consumer
        .fetch_metadata(Some(topic), Duration::from_secs(10))
        .expect("topic metadata");
    let mut tpl = TopicPartitionList::new();
    for t in metadata.topics() {
        for p in t.partitions() {
            tpl.add_partition_offset(topic, p.id(), Offset::Beginning)
                .expect("add partition");
        }
    }
    assert!(tpl.count() > 0, "{topic} has no partitions");
    consumer.assign(&tpl).expect("assign");
    poll_messages(&consumer, n, timeout)
}

/// `sessions` × `events` video heartbeats from the project's deterministic generator (seed
/// `seed`, sessions interleaved in time order), each Confluent-framed with schema id
/// [`HEARTBEAT_SCHEMA_ID`] and keyed by its session id.
pub fn heartbeat_messages(sessions: usize, events: usize, seed: u64) -> Vec<Keyed> {
    let cfg = GenConfig {
        seed,
        sessions,
        events_per_session: events,
        interleave: true,
        ..GenConfig::default()
    };
    let heartbeats = video_sessions(&cfg);
    let datums = encode_datums(HEARTBEAT_SCHEMA, &heartbeats).expect("encode heartbeats");
    heartbeats
        .iter()
        .zip(datums)
        .map(|(hb, datum)| {
            let mut framed = Vec::with_capacity(5 + datum.len());
            write_confluent_header(HEARTBEAT_SCHEMA_ID, &mut framed);
            framed.extend_from_slice(&datum);
            (hb.session_id.as_bytes().to_vec(), framed)
        })
        .collect()
}
