//! Kafka over TLS with client certificates: tansu behind a TLS proxy that requires a client
//! certificate signed by a throwaway CA, advertised to clients as the proxy's address, so every
//! connection (bootstrap, the partition leaders, the session log, the group coordinator) goes
//! through TLS. tansu 0.6 has no SASL; SASL is passed to librdkafka as configured (see
//! `config.rs` tests) and documented as untested against a broker here.

use crate::stream::{
    clock_messages, file_rows, framed_messages, kafka_spec, keyed, root, start_with_config,
    stop_gracefully, wait_for_rows, Scratch, FIXTURE,
};
use crate::support::kafka::{free_port, Tansu};
use crate::support::tls_proxy::{TestPki, TlsProxy};
use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::config::ClientConfig;
use rdkafka::producer::{FutureProducer, FutureRecord};
use std::collections::BTreeMap;
use std::time::Duration;

/// A client of the proxy with the test CA and the client certificate.
fn tls_client(bootstrap: &str, pki: &TestPki) -> ClientConfig {
    let mut c = ClientConfig::new();
    c.set("bootstrap.servers", bootstrap)
        .set("security.protocol", "ssl")
        .set("ssl.ca.location", pki.file("ca.pem").to_str().unwrap())
        .set(
            "ssl.certificate.location",
            pki.file("client.pem").to_str().unwrap(),
        )
        .set("ssl.key.location", pki.file("client.key").to_str().unwrap());
    c
}

#[test]
fn a_kafka_run_over_mutual_tls_gives_the_rows_of_the_file_run() {
    let scratch = Scratch::new("kafka-tls");
    let pki = TestPki::new(&scratch.path("pki"), "spanflow-kafka-test-ca");
    let port = free_port();
    let proxy = TlsProxy::start(([127, 0, 0, 1], port).into(), &pki, true);
    let Some(tansu) = Tansu::start_advertising(port, &proxy.node()) else {
        return;
    };
    let bootstrap = proxy.node();
    let rt = tokio::runtime::Runtime::new().unwrap();
    let admin: AdminClient<_> = tls_client(&bootstrap, &pki).create().unwrap();
    let created = rt
        .block_on(admin.create_topics(
            &[NewTopic::new("heartbeats", 4, TopicReplication::Fixed(1))],
            &AdminOptions::new().operation_timeout(Some(Duration::from_secs(20))),
        ))
        .unwrap_or_else(|e| panic!("create topic over TLS: {e}\n{}", tansu.log_tail()));
    assert!(created.iter().all(Result::is_ok), "{created:?}");
    let producer: FutureProducer = tls_client(&bootstrap, &pki).create().unwrap();
    rt.block_on(async {
        let fixture = framed_messages(&root().join(FIXTURE));
        let clocks = clock_messages();
        let keyed = fixture
            .iter()
            .map(|(k, v)| (None, k, v))
            .chain(clocks.iter().map(|(p, k, v)| (Some(*p), k, v)));
        for (partition, key, value) in keyed {
            let mut record = FutureRecord::to("heartbeats").key(key).payload(value);
            if let Some(p) = partition {
                record = record.partition(p);
            }
            producer
                .send(record, Duration::from_secs(20))
                .await
                .unwrap_or_else(|(e, _)| panic!("produce over TLS: {e}"));
        }
    });

    let spec = kafka_spec(&scratch, "heartbeats", "tls");
    let want = file_rows(&spec);
    let config = scratch.path("config.yaml");
    std::fs::write(
        &config,
        format!(
            "kafka:\n  security_protocol: ssl\n  ssl_ca_file: {}\n  ssl_certificate_file: {}\n  ssl_key_file: {}\n",
            pki.file("ca.pem").display(),
            pki.file("client.pem").display(),
            pki.file("client.key").display()
        ),
    )
    .unwrap();
    let output = scratch.path("out.jsonl");
    let mut child = start_with_config(&spec, &bootstrap, &output, &config);
    wait_for_rows(&mut child, &output, want.len(), Duration::from_secs(90));
    stop_gracefully(child, &output);
    let got: BTreeMap<_, _> = keyed(&std::fs::read_to_string(&output).unwrap())
        .into_iter()
        .map(|(k, mut v)| (k, v.pop().unwrap()))
        .collect();
    assert_eq!(got, want, "{}", tansu.log_tail());
}

/// Secrets come from the environment or files and never reach the logs: a run with a SASL
/// password, a TLS key password and registry credentials configured (resolved at startup and
/// handed to the clients; the mock cluster speaks plaintext, so the broker does not check
/// them), at debug level, logs none of them.
#[test]
fn secrets_never_reach_the_logs() {
    let scratch = Scratch::new("secrets");
    let (_cluster, bootstrap) = crate::stream::mock_cluster("secrets");
    let spec = kafka_spec(&scratch, "heartbeats", "secrets");
    let config = scratch.path("config.yaml");
    let key_password = scratch.path("key-password");
    std::fs::write(&key_password, "tls-key-secret-4242\n").unwrap();
    std::fs::write(
        &config,
        format!(
            "kafka:\n  sasl_mechanism: PLAIN\n  sasl_username: spanflow\n  sasl_password_env: SPANFLOW_TEST_SASL_SECRET\n  ssl_key_password_file: {}\nschema_registry:\n  url: http://127.0.0.1:9\n  username: reader\n  password_env: SPANFLOW_TEST_REGISTRY_SECRET\n",
            key_password.display()
        ),
    )
    .unwrap();
    let log = scratch.path("run.log");
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_spanflow"))
        .arg("run")
        .arg(&spec)
        .env("SPANFLOW_CONFIG", &config)
        .env("SPANFLOW_KAFKA_BROKERS", &bootstrap)
        .env("SPANFLOW_TEST_SASL_SECRET", "sasl-secret-1717")
        .env("SPANFLOW_TEST_REGISTRY_SECRET", "registry-secret-2323")
        .env("RUST_LOG", "debug")
        .stdout(std::process::Stdio::null())
        .stderr(std::fs::File::create(&log).unwrap())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_secs(4));
    let _ = child.kill();
    let _ = child.wait();
    let text = std::fs::read_to_string(&log).unwrap();
    assert!(
        text.contains("Consuming"),
        "the run did not get far:\n{text}"
    );
    for secret in [
        "sasl-secret-1717",
        "registry-secret-2323",
        "tls-key-secret-4242",
    ] {
        assert!(!text.contains(secret), "{secret} in the log:\n{text}");
    }
}
