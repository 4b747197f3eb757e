//! The Schema Registry over HTTPS with a private CA (`schema_registry.ca_file`): a TLS proxy in
//! front of a mock registry, with a certificate for 127.0.0.1 signed by a throwaway CA.

use crate::support::tls_proxy::{TestPki, TlsProxy};
use spanflow::registry::{RegistryClient, RegistryConfig};
use std::time::Duration;
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

const SCHEMA: &str =
    r#"{"type":"record","name":"Heartbeat","fields":[{"name":"sessionId","type":"string"}]}"#;

fn scratch(name: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("spanflow-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn config(url: String, ca: Option<std::path::PathBuf>) -> RegistryConfig {
    let mut c = RegistryConfig::new(url);
    c.ca_file = ca;
    c.backoff = Duration::from_millis(1);
    c.max_backoff = Duration::from_millis(5);
    c.max_retries = 1;
    c.timeout = Duration::from_secs(5);
    c.fetch_timeout = Duration::from_secs(10);
    c
}

#[test]
fn the_registry_is_reached_over_https_with_the_private_ca_and_refused_without_it() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let server = rt.block_on(MockServer::start());
    rt.block_on(
        Mock::given(method("GET"))
            .and(path("/schemas/ids/7"))
            .respond_with(
                ResponseTemplate::new(200).set_body_json(serde_json::json!({ "schema": SCHEMA })),
            )
            .mount(&server),
    );
    let dir = scratch("registry-tls");
    let pki = TestPki::new(&dir.join("pki"), "spanflow-registry-test-ca");
    let proxy = TlsProxy::start(*server.address(), &pki, false);
    let url = format!("https://{}", proxy.node());

    let trusted = RegistryClient::new(&config(url.clone(), Some(pki.file("ca.pem")))).unwrap();
    let source = trusted
        .schema(7)
        .expect("fetched over HTTPS with the private CA");
    assert!(format!("{source:?}").contains("Heartbeat"), "{source:?}");

    // The system roots do not know the private CA: the handshake fails, and the error says so.
    let untrusted = RegistryClient::new(&config(url.clone(), None)).unwrap();
    let err = untrusted
        .schema(7)
        .expect_err("an unknown CA must be refused");
    let text = err.to_string();
    assert!(
        text.to_lowercase().contains("certificate") || text.to_lowercase().contains("tls"),
        "{text}"
    );

    // Another CA's certificate file does not help either.
    let other = TestPki::new(&dir.join("other"), "another-ca");
    let wrong = RegistryClient::new(&config(url, Some(other.file("ca.pem")))).unwrap();
    assert!(wrong.schema(7).is_err());
}
