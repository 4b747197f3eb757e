//! The CQL server a test writes to: the cluster in `SCYLLA_NODES` (comma-separated
//! `host:port`) when that is set, otherwise a fresh kassandra started for the test.
//!
//! On a real cluster the tests use the keyspaces they name (created with replication factor 1
//! when missing) and empty each table they create before using it, so a rerun starts clean.

use super::cql::Kassandra;
use scylla::client::session::Session;
use spanflow::config::ScyllaConfig;

/// See the module docs.
pub enum CqlServer {
    /// An in-memory kassandra owned by the test.
    Kassandra(Kassandra),
    /// A ScyllaDB or Cassandra cluster from `SCYLLA_NODES`.
    Cluster(Vec<String>),
}

impl CqlServer {
    /// The cluster of `SCYLLA_NODES`, or a fresh kassandra.
    pub fn start() -> CqlServer {
        match cluster_nodes() {
            Some(nodes) => CqlServer::Cluster(nodes),
            None => CqlServer::Kassandra(Kassandra::start()),
        }
    }

    /// Whether this is a real cluster (which parses `USING TIMESTAMP`, has schema metadata…).
    pub fn is_cluster(&self) -> bool {
        matches!(self, CqlServer::Cluster(_))
    }

    /// The contact points.
    pub fn nodes(&self) -> Vec<String> {
        match self {
            CqlServer::Kassandra(k) => vec![k.node()],
            CqlServer::Cluster(nodes) => nodes.clone(),
        }
    }

    /// Driver settings for this server: kassandra has no schema-agreement or schema-metadata
    /// tables and ignores `USING TIMESTAMP`; a cluster gets the production defaults.
    pub fn config(&self) -> ScyllaConfig {
        let mut config = ScyllaConfig {
            nodes: self.nodes(),
            request_timeout_secs: 10,
            ..ScyllaConfig::default()
        };
        if !self.is_cluster() {
            config.await_schema_agreement = false;
            config.fetch_schema_metadata = false;
            config.using_timestamp = false;
        }
        config
    }

    /// The `scylla:` section of a runtime config file for this server.
    pub fn config_yaml(&self) -> String {
        let nodes: Vec<String> = self.nodes().iter().map(|n| format!("\"{n}\"")).collect();
        let mut yaml = format!("scylla:\n  nodes: [{}]\n", nodes.join(", "));
        if !self.is_cluster() {
            yaml.push_str(
                "  await_schema_agreement: false\n  fetch_schema_metadata: false\n  \
                 using_timestamp: false\n",
            );
        }
        yaml
    }

    /// Empties `keyspace.table` on a real cluster (a previous run's rows); kassandra starts
    /// empty.
    pub async fn empty_table(&self, session: &Session, qualified_table: &str) {
        if self.is_cluster() {
            session
                .query_unpaged(format!("TRUNCATE {qualified_table}"), ())
                .await
                .unwrap_or_else(|e| panic!("TRUNCATE {qualified_table}: {e}"));
        }
    }
}

/// `SCYLLA_NODES`, split, when set and not empty.
pub fn cluster_nodes() -> Option<Vec<String>> {
    let nodes: Vec<String> = std::env::var("SCYLLA_NODES")
        .ok()?
        .split(',')
        .map(|n| n.trim().to_owned())
        .filter(|n| !n.is_empty())
        .collect();
    (!nodes.is_empty()).then_some(nodes)
}

/// Says that a test needing a real cluster was skipped, and returns whether it was.
pub fn skip_without_cluster(test: &str) -> bool {
    if cluster_nodes().is_some() {
        return false;
    }
    eprintln!("skipped: {test} needs a real cluster; set SCYLLA_NODES=host:port to run it");
    true
}
