//! Runtime configuration: where the brokers and the registry are, credentials, delivery limits.
//!
//! Specs say *what* to compute and which topics to read; this file says *where* and *how* for
//! one deployment. It comes from `--config FILE` (YAML) and the environment, which wins:
//!
//! | variable | setting |
//! |---|---|
//! | `SPANFLOW_KAFKA_BROKERS` (or `KAFKA_BROKERS`) | `kafka.brokers` |
//! | `SPANFLOW_KAFKA_GROUP_INSTANCE_ID` | `kafka.group_instance_id` |
//! | `SPANFLOW_SCHEMA_REGISTRY_URL`, `…_USERNAME`, `…_PASSWORD` | `schema_registry` |
//! | `SCYLLA_NODES` (comma-separated) | `scylla.nodes` |
//! | `SPANFLOW_METRICS_LISTEN` (`host:port`) | `metrics.listen` |
//!
//! Secrets are never written in the file: it names the environment variable or file holding
//! each (`sasl_password_env`, `ssl_key_password_file`, …), read at startup, and never logged.
//!
//! ```yaml
//! kafka:
//!   brokers: kafka-1:9093,kafka-2:9093
//!   security_protocol: sasl_ssl
//!   ssl_ca_file: /etc/spanflow/ca.pem
//!   sasl_mechanism: SCRAM-SHA-512
//!   sasl_username: spanflow
//!   sasl_password_env: KAFKA_PASSWORD
//!   properties: { fetch.max.bytes: "10485760" }
//! schema_registry:
//!   url: https://registry:8081
//! delivery:
//!   max_in_flight: 1024
//! scylla:
//!   nodes: [scylla-1:9042, scylla-2:9042]
//!   local_datacenter: dc1
//!   username: spanflow
//!   password_env: SCYLLA_PASSWORD
//!   consistency: local_quorum
//!   tls: { ca_file: /etc/spanflow/scylla-ca.pem }
//! ```

use crate::registry::{self, RegistryConfig};
use crate::secret::{self, SecretError};
use rdkafka::config::ClientConfig;
use serde::Deserialize;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;
use thiserror::Error;

/// Everything a streaming run needs besides the spec.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RuntimeConfig {
    /// Kafka client settings.
    #[serde(default)]
    pub kafka: KafkaConfig,
    /// The Schema Registry (else schemas come from `--schemas DIR`).
    #[serde(default)]
    pub schema_registry: Option<RegistryConfig>,
    /// Delivery limits.
    #[serde(default)]
    pub delivery: DeliveryConfig,
    /// The ScyllaDB cluster of outputs with `sink: { scylla: ... }`.
    #[serde(default)]
    pub scylla: ScyllaConfig,
    /// The HTTP endpoint for Prometheus (`/metrics`) and probes (`/health`, `/ready`).
    #[serde(default)]
    pub metrics: MetricsConfig,
}

/// Where a streaming run serves its metrics and probes.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MetricsConfig {
    /// `host:port` to listen on, e.g. `0.0.0.0:9464`; none serves nothing (the metrics are
    /// still kept, and summarised in the logs when the run stops).
    #[serde(default)]
    pub listen: Option<std::net::SocketAddr>,
}

/// How to reach and write to ScyllaDB (or Cassandra).
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScyllaConfig {
    /// Contact points (`host:port`); the driver discovers the rest of the cluster.
    #[serde(default)]
    pub nodes: Vec<String>,
    /// The datacenter whose replicas are preferred (no failover to other datacenters when set).
    #[serde(default)]
    pub local_datacenter: Option<String>,
    /// Username for password authentication.
    #[serde(default)]
    pub username: Option<String>,
    /// Environment variable holding the password.
    #[serde(default)]
    pub password_env: Option<String>,
    /// File holding the password.
    #[serde(default)]
    pub password_file: Option<PathBuf>,
    /// Write consistency (default `local_quorum`).
    #[serde(default)]
    pub consistency: ScyllaConsistency,
    /// Client-side timeout of one write, in seconds (default 15).
    #[serde(default = "defaults::scylla_request_timeout_secs")]
    pub request_timeout_secs: u64,
    /// Whether the driver waits for schema agreement after schema changes (default true; off
    /// for servers without `system.peers` schema versions, such as kassandra).
    #[serde(default = "defaults::yes")]
    pub await_schema_agreement: bool,
    /// Whether the driver reads the cluster's schema metadata (default true; off for servers
    /// without full system tables, such as kassandra).
    #[serde(default = "defaults::yes")]
    pub fetch_schema_metadata: bool,
    /// Whether inserts carry `USING TIMESTAMP <evaluation time>` so replays rewrite identical
    /// cells (default true; off for servers that do not parse it, such as kassandra).
    #[serde(default = "defaults::yes")]
    pub using_timestamp: bool,
    /// Writes to ScyllaDB in flight at once, over all outputs (default 256).
    #[serde(default = "defaults::scylla_max_in_flight")]
    pub max_in_flight: usize,
    /// TLS to the nodes (default: plaintext).
    #[serde(default)]
    pub tls: Option<ScyllaTlsConfig>,
}

/// TLS to ScyllaDB nodes: their certificates must chain to `ca_file`. As in the Java and Python
/// drivers' defaults, the driver does not match host names (it connects to the IPs the cluster
/// reports).
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScyllaTlsConfig {
    /// PEM file with the CA certificate(s) that signed the nodes' certificates.
    pub ca_file: PathBuf,
    /// PEM client certificate (chain), for clusters that require client authentication
    /// (`require_client_auth: true` in scylla.yaml).
    #[serde(default)]
    pub cert_file: Option<PathBuf>,
    /// PEM private key of `cert_file`.
    #[serde(default)]
    pub key_file: Option<PathBuf>,
}

impl Default for ScyllaConfig {
    fn default() -> Self {
        Self {
            nodes: Vec::new(),
            local_datacenter: None,
            username: None,
            password_env: None,
            password_file: None,
            consistency: ScyllaConsistency::default(),
            request_timeout_secs: defaults::scylla_request_timeout_secs(),
            await_schema_agreement: true,
            fetch_schema_metadata: true,
            using_timestamp: true,
            max_in_flight: defaults::scylla_max_in_flight(),
            tls: None,
        }
    }
}

impl ScyllaConfig {
    /// The client-side timeout of one write.
    pub fn request_timeout(&self) -> Duration {
        Duration::from_secs(self.request_timeout_secs.max(1))
    }

    /// The username and password, the password read from its environment variable or file.
    pub fn credentials(&self) -> Result<Option<(String, secret::Secret)>, ConfigError> {
        let password = secret::resolve(
            "password",
            self.password_env.as_deref(),
            self.password_file.as_deref(),
        )
        .map_err(|source| ConfigError::Secret {
            setting: "scylla.password",
            source,
        })?;
        match (&self.username, password) {
            (Some(u), Some(p)) => Ok(Some((u.clone(), p))),
            (Some(_), None) => Err(ConfigError::Setting {
                setting: "scylla.username",
                message: "a username needs password_env or password_file".into(),
            }),
            (None, Some(_)) => Err(ConfigError::Setting {
                setting: "scylla.password",
                message: "a password needs username".into(),
            }),
            (None, None) => Ok(None),
        }
    }
}

/// CQL consistency levels for writes.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ScyllaConsistency {
    /// Any node, hinted handoff included.
    Any,
    /// One replica.
    One,
    /// Two replicas.
    Two,
    /// Three replicas.
    Three,
    /// A majority of all replicas.
    Quorum,
    /// Every replica.
    All,
    /// A majority of the local datacenter's replicas.
    #[default]
    LocalQuorum,
    /// A majority in every datacenter.
    EachQuorum,
    /// One replica in the local datacenter.
    LocalOne,
}

/// How to reach and authenticate to Kafka.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KafkaConfig {
    /// Bootstrap servers, comma-separated.
    #[serde(default)]
    pub brokers: Option<String>,
    /// `plaintext` (default), `ssl`, `sasl_plaintext` or `sasl_ssl`.
    #[serde(default)]
    pub security_protocol: Option<SecurityProtocol>,
    /// CA certificate(s) to verify the brokers with (PEM).
    #[serde(default)]
    pub ssl_ca_file: Option<PathBuf>,
    /// Client certificate for mutual TLS (PEM).
    #[serde(default)]
    pub ssl_certificate_file: Option<PathBuf>,
    /// Client private key for mutual TLS (PEM).
    #[serde(default)]
    pub ssl_key_file: Option<PathBuf>,
    /// Environment variable holding the private key's password.
    #[serde(default)]
    pub ssl_key_password_env: Option<String>,
    /// File holding the private key's password.
    #[serde(default)]
    pub ssl_key_password_file: Option<PathBuf>,
    /// `PLAIN`, `SCRAM-SHA-256` or `SCRAM-SHA-512`.
    #[serde(default)]
    pub sasl_mechanism: Option<String>,
    /// SASL username.
    #[serde(default)]
    pub sasl_username: Option<String>,
    /// Environment variable holding the SASL password.
    #[serde(default)]
    pub sasl_password_env: Option<String>,
    /// File holding the SASL password.
    #[serde(default)]
    pub sasl_password_file: Option<PathBuf>,
    /// librdkafka properties passed through as they are (no secrets: those would be logged).
    #[serde(default)]
    pub properties: BTreeMap<String, String>,
    /// librdkafka properties for the consumer only (e.g. `session.timeout.ms`).
    #[serde(default)]
    pub consumer_properties: BTreeMap<String, String>,
    /// Static group membership (Kafka's `group.instance.id`): a process restarted with the
    /// same id (e.g. a Kubernetes StatefulSet pod's name) takes its partitions back at once,
    /// without a rebalance, if it returns within the session timeout. Unique per process.
    #[serde(default)]
    pub group_instance_id: Option<String>,
    /// librdkafka properties for producers only (sinks and the session log).
    #[serde(default)]
    pub producer_properties: BTreeMap<String, String>,
    /// Topic of completed-session markers (default `<group id>.spanflow-sessions`).
    #[serde(default)]
    pub session_log_topic: Option<String>,
}

/// Kafka's `security.protocol`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SecurityProtocol {
    /// No TLS, no authentication.
    Plaintext,
    /// TLS.
    Ssl,
    /// SASL without TLS.
    SaslPlaintext,
    /// SASL over TLS.
    SaslSsl,
}

impl SecurityProtocol {
    fn as_kafka(self) -> &'static str {
        match self {
            SecurityProtocol::Plaintext => "plaintext",
            SecurityProtocol::Ssl => "ssl",
            SecurityProtocol::SaslPlaintext => "sasl_plaintext",
            SecurityProtocol::SaslSsl => "sasl_ssl",
        }
    }
}

/// Limits on work in flight.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DeliveryConfig {
    /// Rows written concurrently before the source pauses (backpressure).
    #[serde(default = "defaults::max_in_flight")]
    pub max_in_flight: usize,
    /// How often committable offsets are committed, in milliseconds.
    #[serde(default = "defaults::commit_interval_ms")]
    pub commit_interval_ms: u64,
    /// How long a shutdown waits for writes in flight, in seconds.
    #[serde(default = "defaults::drain_timeout_secs")]
    pub drain_timeout_secs: u64,
}

impl Default for DeliveryConfig {
    fn default() -> Self {
        Self {
            max_in_flight: defaults::max_in_flight(),
            commit_interval_ms: defaults::commit_interval_ms(),
            drain_timeout_secs: defaults::drain_timeout_secs(),
        }
    }
}

impl DeliveryConfig {
    /// The commit interval.
    pub fn commit_interval(&self) -> Duration {
        Duration::from_millis(self.commit_interval_ms.max(10))
    }

    /// The drain deadline.
    pub fn drain_timeout(&self) -> Duration {
        Duration::from_secs(self.drain_timeout_secs)
    }
}

mod defaults {
    pub fn max_in_flight() -> usize {
        1024
    }
    pub fn commit_interval_ms() -> u64 {
        1000
    }
    pub fn drain_timeout_secs() -> u64 {
        30
    }
    pub fn scylla_request_timeout_secs() -> u64 {
        15
    }
    pub fn scylla_max_in_flight() -> usize {
        256
    }
    pub fn yes() -> bool {
        true
    }
}

/// A configuration that cannot be used.
#[derive(Debug, Error)]
pub enum ConfigError {
    /// The file cannot be read or parsed.
    #[error("runtime config {path}: {message}")]
    File {
        /// The file.
        path: String,
        /// What is wrong, with line and column.
        message: String,
    },
    /// A setting is missing or wrong.
    #[error("{setting}: {message}")]
    Setting {
        /// The setting, e.g. `kafka.brokers`.
        setting: &'static str,
        /// What is wrong and what would be valid.
        message: String,
    },
    /// A secret cannot be read.
    #[error("{setting}: {source}")]
    Secret {
        /// The setting naming the secret.
        setting: &'static str,
        /// Why it cannot be read.
        source: SecretError,
    },
    /// The registry settings are wrong.
    #[error("schema_registry: {0}")]
    Registry(#[from] registry::ConfigError),
}

/// A YAML error in the config file, located, without the parser's snippet of the file (the
/// file may not be a config at all, e.g. `SPANFLOW_CONFIG=/etc/passwd`: never echo it).
fn parse_error(e: &serde_saphyr::Error) -> String {
    let problem = spanflow_operators::program::parse_problem(e);
    let at = problem
        .at
        .map(|l| format!("line {}, column {}: ", l.line, l.column))
        .unwrap_or_default();
    format!(
        "{at}{} (a runtime config is a YAML mapping of kafka, schema_registry, delivery, \
         scylla and metrics settings; see the README)",
        problem.message
    )
}

/// Property names that hold secrets: they must come from `*_env` / `*_file` settings.
const SECRET_PROPERTIES: &[&str] = &[
    "sasl.password",
    "ssl.key.password",
    "ssl.key.pem",
    "sasl.oauthbearer.client.secret",
    "ssl.keystore.password",
];

fn check_not_secret(key: &str, setting: &'static str) -> Result<(), ConfigError> {
    if SECRET_PROPERTIES.contains(&key) {
        return Err(ConfigError::Setting {
            setting,
            message: format!(
                "`{key}` holds a secret: give it with the *_env or *_file settings, not in properties"
            ),
        });
    }
    Ok(())
}

impl RuntimeConfig {
    /// Reads `path` (if given), then applies the environment.
    pub fn load(path: Option<&Path>) -> Result<Self, ConfigError> {
        Self::load_with(path, |k| std::env::var(k).ok())
    }

    /// [`RuntimeConfig::load`] with an explicit environment (for tests).
    pub fn load_with(
        path: Option<&Path>,
        env: impl Fn(&str) -> Option<String>,
    ) -> Result<Self, ConfigError> {
        let mut config: RuntimeConfig = match path {
            None => RuntimeConfig::default(),
            Some(p) => {
                let text = std::fs::read_to_string(p).map_err(|e| ConfigError::File {
                    path: p.display().to_string(),
                    message: e.to_string(),
                })?;
                serde_saphyr::from_str(&text).map_err(|e| ConfigError::File {
                    path: p.display().to_string(),
                    message: parse_error(&e),
                })?
            }
        };
        if let Some(brokers) = env("SPANFLOW_KAFKA_BROKERS").or_else(|| env("KAFKA_BROKERS")) {
            config.kafka.brokers = Some(brokers);
        }
        if let Some(id) = env("SPANFLOW_KAFKA_GROUP_INSTANCE_ID") {
            config.kafka.group_instance_id = Some(id);
        }
        if let Some(nodes) = env("SCYLLA_NODES") {
            config.scylla.nodes = nodes
                .split(',')
                .map(str::trim)
                .filter(|n| !n.is_empty())
                .map(str::to_owned)
                .collect();
        }
        if config.schema_registry.is_none() {
            config.schema_registry = RegistryConfig::from_env_vars(&env)?;
        }
        if let Some(listen) = env("SPANFLOW_METRICS_LISTEN") {
            config.metrics.listen =
                Some(listen.trim().parse().map_err(|e| ConfigError::Setting {
                    setting: "metrics.listen",
                    message: format!(
                        "SPANFLOW_METRICS_LISTEN is `{listen}`: {e}; give host:port, e.g. 0.0.0.0:9464"
                    ),
                })?);
        }
        Ok(config)
    }
}

impl KafkaConfig {
    /// Consumer settings: the common ones plus `consumer_properties`, and the static
    /// membership id if any.
    pub fn consumer_config(&self) -> Result<ClientConfig, ConfigError> {
        let mut c = self.with_properties(&self.consumer_properties, "kafka.consumer_properties")?;
        match self.group_instance_id.as_deref().map(str::trim) {
            Some("") => {
                return Err(ConfigError::Setting {
                    setting: "kafka.group_instance_id",
                    message: "is empty: give each process its own id (e.g. the pod name), or leave it out for dynamic membership".into(),
                })
            }
            Some(id) => {
                c.set("group.instance.id", id);
            }
            None => {}
        }
        Ok(c)
    }

    /// Producer settings: the common ones plus `producer_properties`.
    pub fn producer_config(&self) -> Result<ClientConfig, ConfigError> {
        self.with_properties(&self.producer_properties, "kafka.producer_properties")
    }

    fn with_properties(
        &self,
        extra: &BTreeMap<String, String>,
        setting: &'static str,
    ) -> Result<ClientConfig, ConfigError> {
        let mut c = self.client_config()?;
        for (k, v) in extra {
            check_not_secret(k, setting)?;
            c.set(k, v);
        }
        Ok(c)
    }

    /// librdkafka settings common to consumers and producers, secrets resolved.
    pub fn client_config(&self) -> Result<ClientConfig, ConfigError> {
        let mut c = ClientConfig::new();
        let brokers = self.brokers.as_deref().ok_or(ConfigError::Setting {
            setting: "kafka.brokers",
            message: "no brokers: set kafka.brokers in --config or SPANFLOW_KAFKA_BROKERS".into(),
        })?;
        c.set("bootstrap.servers", brokers);
        for (k, v) in &self.properties {
            check_not_secret(k, "kafka.properties")?;
            c.set(k, v);
        }
        if let Some(p) = self.security_protocol {
            c.set("security.protocol", p.as_kafka());
        }
        for (key, path) in [
            ("ssl.ca.location", &self.ssl_ca_file),
            ("ssl.certificate.location", &self.ssl_certificate_file),
            ("ssl.key.location", &self.ssl_key_file),
        ] {
            if let Some(path) = path {
                c.set(key, path.display().to_string());
            }
        }
        let key_password = secret::resolve(
            "ssl_key_password",
            self.ssl_key_password_env.as_deref(),
            self.ssl_key_password_file.as_deref(),
        )
        .map_err(|source| ConfigError::Secret {
            setting: "kafka.ssl_key_password",
            source,
        })?;
        if let Some(p) = key_password {
            c.set("ssl.key.password", p.expose());
        }
        if let Some(m) = &self.sasl_mechanism {
            c.set("sasl.mechanism", m);
        }
        if let Some(u) = &self.sasl_username {
            c.set("sasl.username", u);
        }
        let password = secret::resolve(
            "sasl_password",
            self.sasl_password_env.as_deref(),
            self.sasl_password_file.as_deref(),
        )
        .map_err(|source| ConfigError::Secret {
            setting: "kafka.sasl_password",
            source,
        })?;
        match (&self.sasl_username, password) {
            (Some(_), Some(p)) => {
                c.set("sasl.password", p.expose());
            }
            (Some(_), None) => {
                return Err(ConfigError::Setting {
                    setting: "kafka.sasl_username",
                    message: "a SASL username needs sasl_password_env or sasl_password_file".into(),
                })
            }
            (None, Some(_)) => {
                return Err(ConfigError::Setting {
                    setting: "kafka.sasl_password",
                    message: "a SASL password needs sasl_username".into(),
                })
            }
            (None, None) => {}
        }
        Ok(c)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn env(vars: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let m: HashMap<String, String> = vars
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        move |k| m.get(k).cloned()
    }

    fn write(text: &str) -> tempfile_path::TempPath {
        tempfile_path::TempPath::with(text)
    }

    /// A file removed on drop (no dependency for one test helper).
    mod tempfile_path {
        pub struct TempPath(pub std::path::PathBuf);
        impl TempPath {
            pub fn with(text: &str) -> Self {
                use std::sync::atomic::{AtomicU32, Ordering};
                static N: AtomicU32 = AtomicU32::new(0);
                let p = std::env::temp_dir().join(format!(
                    "spanflow-config-{}-{}.yaml",
                    std::process::id(),
                    N.fetch_add(1, Ordering::Relaxed)
                ));
                std::fs::write(&p, text).unwrap();
                TempPath(p)
            }
        }
        impl Drop for TempPath {
            fn drop(&mut self) {
                let _ = std::fs::remove_file(&self.0);
            }
        }
    }

    #[test]
    fn the_environment_overrides_the_file() {
        let f = write("kafka: { brokers: 'a:1', properties: { fetch.max.bytes: '1000' } }\n");
        let c = RuntimeConfig::load_with(Some(&f.0), env(&[])).unwrap();
        assert_eq!(c.kafka.brokers.as_deref(), Some("a:1"));
        let c = RuntimeConfig::load_with(Some(&f.0), env(&[("KAFKA_BROKERS", "b:2")])).unwrap();
        assert_eq!(c.kafka.brokers.as_deref(), Some("b:2"));
        let cc = c.kafka.client_config().unwrap();
        assert_eq!(cc.get("bootstrap.servers"), Some("b:2"));
        assert_eq!(cc.get("fetch.max.bytes"), Some("1000"));
        assert_eq!(c.delivery.max_in_flight, 1024);
    }

    #[test]
    fn static_membership_sets_the_consumers_group_instance_id_only() {
        let f = write("kafka: { brokers: 'a:1', group_instance_id: spanflow-0 }\n");
        let c = RuntimeConfig::load_with(Some(&f.0), env(&[])).unwrap();
        let consumer = c.kafka.consumer_config().unwrap();
        assert_eq!(consumer.get("group.instance.id"), Some("spanflow-0"));
        // Producers (sinks, the session log and its reader) never share the id.
        assert_eq!(
            c.kafka.producer_config().unwrap().get("group.instance.id"),
            None
        );
        let pod = [("SPANFLOW_KAFKA_GROUP_INSTANCE_ID", "spanflow-3")];
        let c = RuntimeConfig::load_with(Some(&f.0), env(&pod)).unwrap();
        let consumer = c.kafka.consumer_config().unwrap();
        assert_eq!(consumer.get("group.instance.id"), Some("spanflow-3"));
        let f = write("kafka: { brokers: 'a:1', group_instance_id: ' ' }\n");
        let e = RuntimeConfig::load_with(Some(&f.0), env(&[]))
            .unwrap()
            .kafka
            .consumer_config()
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("kafka.group_instance_id") && e.contains("empty"),
            "{e}"
        );
        // Dynamic membership by default.
        let c = RuntimeConfig::load_with(None, env(&[("KAFKA_BROKERS", "b:2")])).unwrap();
        assert_eq!(
            c.kafka.consumer_config().unwrap().get("group.instance.id"),
            None
        );
    }

    #[test]
    fn secrets_come_from_the_environment_and_never_from_properties() {
        let mut k = KafkaConfig {
            brokers: Some("x:1".into()),
            security_protocol: Some(SecurityProtocol::SaslSsl),
            sasl_mechanism: Some("SCRAM-SHA-512".into()),
            sasl_username: Some("u".into()),
            sasl_password_env: Some("SPANFLOW_TEST_SASL_PASSWORD_UNSET".into()),
            ..KafkaConfig::default()
        };
        let e = k.client_config().unwrap_err().to_string();
        assert_eq!(
            e,
            "kafka.sasl_password: environment variable SPANFLOW_TEST_SASL_PASSWORD_UNSET is not set"
        );
        k.sasl_password_env = None;
        let e = k.client_config().unwrap_err().to_string();
        assert!(
            e.contains("needs sasl_password_env or sasl_password_file"),
            "{e}"
        );
        k.sasl_username = None;
        k.properties
            .insert("sasl.password".into(), "hunter2".into());
        let e = k.client_config().unwrap_err().to_string();
        assert!(e.contains("`sasl.password` holds a secret"), "{e}");
        assert!(!e.contains("hunter2"), "{e}");
        k.properties.clear();
        k.consumer_properties
            .insert("session.timeout.ms".into(), "6000".into());
        assert_eq!(
            k.consumer_config().unwrap().get("session.timeout.ms"),
            Some("6000")
        );
        assert_eq!(k.producer_config().unwrap().get("session.timeout.ms"), None);
        k.producer_properties
            .insert("ssl.key.password".into(), "hunter2".into());
        let e = k.producer_config().unwrap_err().to_string();
        assert!(
            e.starts_with("kafka.producer_properties: `ssl.key.password` holds a secret"),
            "{e}"
        );
    }

    #[test]
    fn scylla_settings_have_production_defaults_and_scylla_nodes_wins() {
        let c = RuntimeConfig::load_with(None, env(&[])).unwrap();
        assert!(c.scylla.nodes.is_empty());
        assert_eq!(c.scylla.consistency, ScyllaConsistency::LocalQuorum);
        assert!(c.scylla.await_schema_agreement && c.scylla.fetch_schema_metadata);
        assert!(c.scylla.using_timestamp);
        assert_eq!(c.scylla.max_in_flight, 256);
        let f = write(
            "scylla: { nodes: ['a:9042'], consistency: one, request_timeout_secs: 3, \
             await_schema_agreement: false, username: u, password_env: SPANFLOW_TEST_SCYLLA_PW_UNSET }\n",
        );
        let c = RuntimeConfig::load_with(Some(&f.0), env(&[])).unwrap();
        assert_eq!(c.scylla.nodes, ["a:9042"]);
        assert_eq!(c.scylla.consistency, ScyllaConsistency::One);
        assert_eq!(c.scylla.request_timeout(), Duration::from_secs(3));
        assert!(!c.scylla.await_schema_agreement && c.scylla.fetch_schema_metadata);
        let e = c.scylla.credentials().unwrap_err().to_string();
        assert_eq!(
            e,
            "scylla.password: environment variable SPANFLOW_TEST_SCYLLA_PW_UNSET is not set"
        );
        let c = RuntimeConfig::load_with(Some(&f.0), env(&[("SCYLLA_NODES", "b:1, c:2")])).unwrap();
        assert_eq!(c.scylla.nodes, ["b:1", "c:2"]);
        let f = write("scylla: { node: ['a:9042'] }\n");
        let e = RuntimeConfig::load_with(Some(&f.0), env(&[]))
            .unwrap_err()
            .to_string();
        assert!(e.contains("unknown field `node`"), "{e}");
    }

    #[test]
    fn unknown_settings_and_missing_brokers_are_explained() {
        let f = write("kafka: { broker: 'a:1' }\n");
        let e = RuntimeConfig::load_with(Some(&f.0), env(&[]))
            .unwrap_err()
            .to_string();
        assert!(e.contains("unknown field `broker`"), "{e}");
        let e = KafkaConfig::default()
            .client_config()
            .unwrap_err()
            .to_string();
        assert_eq!(
            e,
            "kafka.brokers: no brokers: set kafka.brokers in --config or SPANFLOW_KAFKA_BROKERS"
        );
    }
}
