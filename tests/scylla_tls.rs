//! TLS to ScyllaDB: the sink reaches kassandra through a TLS proxy only when it trusts the
//! proxy's CA, and presents a client certificate when the proxy requires one.

use crate::support::cql::Kassandra;
use crate::support::tls_proxy::{TestPki, TlsProxy};
use spanflow::config::{ScyllaConfig, ScyllaTlsConfig};
use spanflow::sink::{connect_session, ScyllaSinkError};
use std::path::PathBuf;

fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("spanflow-tls-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    dir
}

fn config(node: String, tls: Option<ScyllaTlsConfig>) -> ScyllaConfig {
    ScyllaConfig {
        nodes: vec![node],
        await_schema_agreement: false,
        fetch_schema_metadata: false,
        using_timestamp: false,
        request_timeout_secs: 5,
        tls,
        ..ScyllaConfig::default()
    }
}

fn tls(pki: &TestPki, client_certificate: bool) -> ScyllaTlsConfig {
    ScyllaTlsConfig {
        ca_file: pki.file("ca.pem"),
        cert_file: client_certificate.then(|| pki.file("client.pem")),
        key_file: client_certificate.then(|| pki.file("client.key")),
    }
}

/// Creates a table through `node` with `config`, writes a row, and reads it back.
async fn round_trip(config: &ScyllaConfig) -> Result<(), String> {
    let session = connect_session(config).await.map_err(|e| e.to_string())?;
    for q in [
        "CREATE KEYSPACE IF NOT EXISTS tls WITH replication = {'class': 'SimpleStrategy', 'replication_factor': 1}",
        "CREATE TABLE IF NOT EXISTS tls.t (k text, v double, PRIMARY KEY (k))",
    ] {
        session
            .query_unpaged(q, ())
            .await
            .map_err(|e| format!("{q}: {e}"))?;
    }
    session
        .query_unpaged("INSERT INTO tls.t (k, v) VALUES (?, ?)", ("a", 1.5f64))
        .await
        .map_err(|e| format!("INSERT: {e}"))?;
    let rows = session
        .query_unpaged("SELECT v FROM tls.t WHERE k = 'a'", ())
        .await
        .map_err(|e| e.to_string())?
        .into_rows_result()
        .map_err(|e| e.to_string())?;
    let v: Vec<f64> = rows
        .rows::<(f64,)>()
        .map_err(|e| e.to_string())?
        .map(|r| r.map(|(v,)| v).map_err(|e| e.to_string()))
        .collect::<Result<_, _>>()?;
    assert_eq!(v, [1.5]);
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tls_with_the_cluster_s_ca_works_and_plaintext_or_another_ca_does_not() {
    let server = Kassandra::start();
    let dir = scratch("server-auth");
    let pki = TestPki::new(&dir.join("cluster"), "cluster CA");
    let other = TestPki::new(&dir.join("other"), "some other CA");
    let proxy = TlsProxy::start(server.addr, &pki, false);

    round_trip(&config(proxy.node(), Some(tls(&pki, false))))
        .await
        .unwrap();

    let e = round_trip(&config(proxy.node(), Some(tls(&other, false))))
        .await
        .unwrap_err();
    assert!(e.contains("certificate verify failed"), "{e}");

    // Plaintext to a TLS port fails too (it is not silently accepted).
    assert!(round_trip(&config(proxy.node(), None)).await.is_err());
    let _ = std::fs::remove_dir_all(dir);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cluster_requiring_client_certificates_accepts_ours() {
    let server = Kassandra::start();
    let dir = scratch("client-auth");
    let pki = TestPki::new(&dir, "cluster CA");
    let proxy = TlsProxy::start(server.addr, &pki, true);
    assert!(round_trip(&config(proxy.node(), Some(tls(&pki, false))))
        .await
        .is_err());
    round_trip(&config(proxy.node(), Some(tls(&pki, true))))
        .await
        .unwrap();
    let _ = std::fs::remove_dir_all(dir);
}

#[tokio::test]
async fn unusable_tls_settings_name_the_setting() {
    let dir = scratch("settings");
    let pki = TestPki::new(&dir, "cluster CA");
    let cases: Vec<(ScyllaTlsConfig, &str)> = vec![
        (
            ScyllaTlsConfig {
                ca_file: dir.join("missing.pem"),
                cert_file: None,
                key_file: None,
            },
            "scylla.tls.ca_file: ",
        ),
        (
            ScyllaTlsConfig {
                key_file: None,
                ..tls(&pki, true)
            },
            "scylla.tls.key_file: cert_file and key_file go together",
        ),
        (
            ScyllaTlsConfig {
                // Not a key: OpenSSL cannot read it.
                key_file: Some(pki.file("ca.pem")),
                ..tls(&pki, true)
            },
            "scylla.tls.key_file: ",
        ),
    ];
    for (settings, wanted) in cases {
        let e = connect_session(&config("127.0.0.1:9".into(), Some(settings)))
            .await
            .unwrap_err();
        assert!(matches!(e, ScyllaSinkError::Tls { .. }), "{e:?}");
        assert!(!e.is_retryable());
        assert!(e.to_string().starts_with(wanted), "{e}");
    }
    let _ = std::fs::remove_dir_all(dir);
}
