//! The registry client against a wiremock server (run on its own tokio runtime, called from
//! plain threads since the client blocks).

use super::config::base64;
use super::transport::encode_segment;
use super::*;
use crate::decode::{
    write_confluent_header, DecodeError, DecodedEvent, FetchError, Projection, SchemaFetcher,
    SchemaStore,
};
use crate::log_capture::logged;
use serde_json::json;
use spanflow_engine::{FieldValue, ValueType};
use std::path::PathBuf;
use std::sync::{Arc, Barrier};
use std::time::{Duration, Instant};
use wiremock::matchers::{body_json, header, method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

const MEDIA: &str = "application/vnd.schemaregistry.v1+json";
const HEARTBEAT: &str = r#"{"type":"record","name":"Heartbeat","namespace":"io.spanflow","fields":[{"name":"sessionId","type":"string"},{"name":"timestamp","type":"long"}]}"#;

/// A mock registry on its own runtime. The server is dropped first, which checks every
/// `.expect(n)`.
struct Registry {
    server: Option<MockServer>,
    rt: tokio::runtime::Runtime,
}

impl Registry {
    fn start() -> Self {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        let server = rt.block_on(MockServer::start());
        Registry {
            server: Some(server),
            rt,
        }
    }

    fn server(&self) -> &MockServer {
        self.server.as_ref().unwrap()
    }

    fn mount(&self, mock: Mock) {
        self.rt.block_on(mock.mount(self.server()));
    }

    /// Settings with fast retries: 1 ms initial backoff, 3 retries.
    fn config(&self) -> RegistryConfig {
        let mut c = RegistryConfig::new(self.server().uri());
        c.backoff = Duration::from_millis(1);
        c.max_backoff = Duration::from_millis(5);
        c.timeout = Duration::from_secs(5);
        c.fetch_timeout = Duration::from_secs(10);
        c
    }

    fn client(&self) -> RegistryClient {
        RegistryClient::new(&self.config()).unwrap()
    }

    fn requests(&self) -> usize {
        self.rt
            .block_on(self.server().received_requests())
            .unwrap()
            .len()
    }

    /// Checks the `.expect(n)` of every mock now (a failure here is an ordinary panic).
    fn verify(&self) {
        self.rt.block_on(self.server().verify());
    }
}

impl Drop for Registry {
    fn drop(&mut self) {
        if std::thread::panicking() {
            // The test already failed: skip the check on drop, which would panic again.
            if let Some(server) = &self.server {
                self.rt.block_on(server.reset());
            }
        }
        drop(self.server.take());
    }
}

fn schema_reply(schema: &str) -> ResponseTemplate {
    ResponseTemplate::new(200).set_body_json(json!({ "schema": schema }))
}

fn get_id(id: u32) -> wiremock::MockBuilder {
    Mock::given(method("GET"))
        .and(path(format!("/schemas/ids/{id}")))
        .and(header("accept", MEDIA))
}

fn error_reply(status: u16, code: i64, message: &str) -> ResponseTemplate {
    ResponseTemplate::new(status).set_body_json(json!({ "error_code": code, "message": message }))
}

fn temp_file(name: &str, contents: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("spanflow-registry-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join(name);
    std::fs::write(&path, contents).unwrap();
    path
}

fn projection(fields: &[&str]) -> Projection {
    let mut p = Projection::new("sessionId".parse().unwrap(), "timestamp".parse().unwrap());
    for f in fields {
        p.push_field(f.parse().unwrap(), ValueType::Str);
    }
    p
}

#[test]
fn fetches_a_schema_once_and_serves_it_from_the_cache() {
    let r = Registry::start();
    r.mount(get_id(1).respond_with(schema_reply(HEARTBEAT)).expect(1));
    let client = r.client();
    let first = client.schema(1).unwrap();
    assert_eq!(first.root_name(), Some("io.spanflow.Heartbeat"));
    // Again, through the SchemaFetcher trait, and through a clone: no second request.
    assert_eq!(
        client.fetch(1).unwrap().root_name(),
        Some("io.spanflow.Heartbeat")
    );
    assert_eq!(client.clone().schema(1).unwrap().json(), first.json());
    r.verify();
}

#[test]
fn concurrent_misses_for_one_id_share_one_request() {
    let r = Registry::start();
    r.mount(
        get_id(3)
            .respond_with(schema_reply(HEARTBEAT).set_delay(Duration::from_millis(300)))
            .expect(1),
    );
    let client = r.client();
    let barrier = Arc::new(Barrier::new(8));
    let threads: Vec<_> = (0..8)
        .map(|_| {
            let client = client.clone();
            let barrier = barrier.clone();
            std::thread::spawn(move || {
                barrier.wait();
                client.fetch(3).map(|s| s.root_name().map(str::to_owned))
            })
        })
        .collect();
    for t in threads {
        assert_eq!(
            t.join().unwrap().unwrap().as_deref(),
            Some("io.spanflow.Heartbeat")
        );
    }
    assert_eq!(r.requests(), 1);
    r.verify();
}

#[test]
fn transient_failures_are_retried_until_the_registry_answers() {
    let r = Registry::start();
    r.mount(
        get_id(1)
            .respond_with(error_reply(503, 50003, "forward error"))
            .up_to_n_times(2)
            .expect(2),
    );
    r.mount(get_id(1).respond_with(schema_reply(HEARTBEAT)).expect(1));
    r.mount(
        get_id(2)
            .respond_with(ResponseTemplate::new(429).insert_header("retry-after", "0"))
            .up_to_n_times(1)
            .expect(1),
    );
    r.mount(get_id(2).respond_with(schema_reply(HEARTBEAT)).expect(1));
    let client = r.client();
    assert!(client.schema(1).is_ok());
    assert!(client.schema(2).is_ok());
    assert_eq!(r.requests(), 5);
    r.verify();
}

#[test]
fn persistent_server_errors_fail_after_max_retries_and_are_not_cached() {
    let r = Registry::start();
    r.mount(
        get_id(1)
            .respond_with(error_reply(500, 50001, "store error"))
            .expect(6),
    );
    let mut config = r.config();
    config.max_retries = 2;
    let client = RegistryClient::new(&config).unwrap();
    let e = client.schema(1).unwrap_err();
    assert!(e.is_retriable() && !e.is_fatal(), "{e}");
    assert!(
        matches!(e, RegistryError::Unavailable { attempts: 3, .. }),
        "{e:?}"
    );
    let msg = e.to_string();
    assert!(
        msg.contains("GET /schemas/ids/1") && msg.contains("HTTP 500, error code 50001"),
        "{msg}"
    );
    // The next fetch asks again (3 more requests).
    assert!(matches!(client.fetch(1), Err(FetchError::Unavailable(_))));
    r.verify();
}

#[test]
fn timeouts_and_refused_connections_are_retried_within_the_deadline() {
    let r = Registry::start();
    r.mount(
        get_id(1)
            .respond_with(schema_reply(HEARTBEAT).set_delay(Duration::from_millis(400)))
            .expect(2),
    );
    let mut config = r.config();
    config.timeout = Duration::from_millis(50);
    config.max_retries = 1;
    let start = Instant::now();
    let e = RegistryClient::new(&config).unwrap().schema(1).unwrap_err();
    assert!(
        matches!(e, RegistryError::Unavailable { attempts: 2, .. }),
        "{e:?}"
    );
    // Neither attempt waited for the 400 ms response.
    assert!(
        start.elapsed() < Duration::from_millis(800),
        "{:?}",
        start.elapsed()
    );
    r.verify();

    // A port nobody listens on: connection refused, retried, then unavailable.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut config = RegistryConfig::new(format!("http://127.0.0.1:{port}/"));
    config.backoff = Duration::from_millis(1);
    config.max_backoff = Duration::from_millis(1);
    config.max_retries = 2;
    let e = RegistryClient::new(&config).unwrap().schema(1).unwrap_err();
    assert!(
        matches!(e, RegistryError::Unavailable { attempts: 3, .. }),
        "{e:?}"
    );

    // However many retries are allowed, fetch_timeout bounds the whole fetch.
    let mut config = r.config();
    config.url = format!("http://127.0.0.1:{port}");
    config.max_retries = 1_000;
    config.backoff = Duration::from_millis(20);
    config.max_backoff = Duration::from_millis(20);
    config.fetch_timeout = Duration::from_millis(200);
    let start = Instant::now();
    let e = RegistryClient::new(&config).unwrap().schema(1).unwrap_err();
    assert!(
        start.elapsed() < Duration::from_secs(1),
        "{:?}",
        start.elapsed()
    );
    let RegistryError::Unavailable { attempts, .. } = e else {
        panic!("{e:?}")
    };
    assert!((2..30).contains(&attempts), "{attempts}");
}

#[test]
fn an_unknown_id_is_not_found_and_never_retried() {
    let r = Registry::start();
    r.mount(
        get_id(42)
            .respond_with(error_reply(404, 40403, "Schema 42 not found"))
            .expect(1),
    );
    r.mount(
        get_id(43)
            .respond_with(error_reply(404, 40403, "Schema 43 not found"))
            .expect(1),
    );
    let client = r.client();
    let e = client.schema(42).unwrap_err();
    assert!(!e.is_retriable() && !e.is_fatal(), "{e}");
    assert_eq!(
        e.to_string(),
        "schema id 42 is not registered (GET /schemas/ids/42: HTTP 404, error code 40403: \
         Schema 42 not found): the producer may use another registry or schema context"
    );
    // Through a SchemaStore: FetchError::NotFound, cached by the store (one request).
    let mut store = SchemaStore::new(projection(&[]), client);
    for _ in 0..3 {
        let e = store.plan(43).unwrap_err();
        assert!(
            matches!(&e, DecodeError::UnknownSchemaId(r) if **r == crate::decode::SchemaRef::Id(43)),
            "{e}"
        );
    }
    r.verify();
}

#[test]
fn a_404_that_is_not_from_a_registry_is_a_configuration_error() {
    let r = Registry::start();
    r.mount(
        get_id(1)
            .respond_with(ResponseTemplate::new(404).set_body_string("<html>Not Found</html>"))
            .expect(1),
    );
    let e = r.client().schema(1).unwrap_err();
    assert!(e.is_fatal(), "{e}");
    assert!(e.to_string().contains("is `url` the base URL"), "{e}");
    r.verify();
}

#[test]
fn unreadable_responses_name_the_id_the_path_and_the_problem() {
    let r = Registry::start();
    r.mount(
        get_id(5)
            .respond_with(ResponseTemplate::new(200).set_body_string("<html>proxy login</html>"))
            .expect(1),
    );
    r.mount(
        get_id(6)
            .respond_with(ResponseTemplate::new(200).set_body_json(json!({"schemaType": "AVRO"})))
            .expect(2),
    );
    let client = r.client();
    let e = client.schema(5).unwrap_err();
    let msg = e.to_string();
    assert!(e.is_fatal(), "{msg}");
    assert!(
        msg.starts_with(
            "schema id 5: GET /schemas/ids/5 returned a response spanflow cannot read (not JSON"
        ) && msg.contains("proxy login"),
        "{msg}"
    );
    let msg = client.schema(6).unwrap_err().to_string();
    assert!(
        msg.starts_with("schema id 6: GET /schemas/ids/6 returned")
            && msg.contains("missing field `schema`"),
        "{msg}"
    );
    let Err(FetchError::Fatal(msg)) = client.fetch(6) else {
        panic!("a fatal fetch error")
    };
    assert!(msg.contains("missing field `schema`"), "{msg}");
    r.verify();
}

#[test]
fn only_avro_schemas_are_accepted() {
    let r = Registry::start();
    r.mount(
        get_id(7)
            .respond_with(ResponseTemplate::new(200).set_body_json(
                json!({"schema": "syntax = \"proto3\"; message M {}", "schemaType": "PROTOBUF"}),
            ))
            .expect(2),
    );
    r.mount(
        get_id(8)
            .respond_with(
                ResponseTemplate::new(200)
                    .set_body_json(json!({"schema": HEARTBEAT, "schemaType": "AVRO"})),
            )
            .expect(1),
    );
    r.mount(
        get_id(9)
            .respond_with(schema_reply(
                r#"{"type":"record","name":"R","fields":[{"name":"a"}]}"#,
            ))
            .expect(1),
    );
    let client = r.client();
    let e = client.schema(7).unwrap_err();
    assert!(!e.is_retriable() && !e.is_fatal());
    assert_eq!(
        e.to_string(),
        "GET /schemas/ids/7: schemaType PROTOBUF is not supported: spanflow reads only AVRO schemas"
    );
    let Err(FetchError::Invalid(invalid)) = client.fetch(7) else {
        panic!("an invalid schema")
    };
    assert!(invalid.message.contains("PROTOBUF"), "{invalid}");
    assert!(client.schema(8).is_ok());
    let Err(FetchError::Invalid(invalid)) = client.fetch(9) else {
        panic!("an invalid schema")
    };
    assert_eq!(invalid.context, "GET /schemas/ids/9");
    r.verify();
}

const OS: &str = r#"{"type":"record","name":"Os","namespace":"io.spanflow","fields":[{"name":"name","type":"string"}]}"#;
const DEVICE: &str = r#"{"type":"record","name":"Device","namespace":"io.spanflow","fields":[{"name":"os","type":"io.spanflow.Os"}]}"#;
const SERVER: &str = r#"{"type":"record","name":"Server","namespace":"io.spanflow","fields":[{"name":"name","type":"string"},{"name":"os","type":"io.spanflow.Os"}]}"#;
const SPAN: &str = r#"{"type":"record","name":"Span","namespace":"io.spanflow","fields":[{"name":"sessionId","type":"string"},{"name":"timestamp","type":"long"},{"name":"device","type":"io.spanflow.Device"},{"name":"server","type":"io.spanflow.Server"}]}"#;

fn subject_version(subject: &str, version: u32, schema: &str, refs: serde_json::Value) -> Mock {
    Mock::given(method("GET"))
        .and(path(format!("/subjects/{subject}/versions/{version}")))
        .and(header("accept", MEDIA))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "subject": subject, "version": version, "id": 100 + version,
            "schema": schema, "references": refs,
        })))
}

#[test]
fn references_are_resolved_recursively_and_fetched_once() {
    let r = Registry::start();
    let os_ref = json!([{"name": "io.spanflow.Os", "subject": "os", "version": 1}]);
    // Os is referenced by both Device and Server: fetched once.
    r.mount(subject_version("os", 1, OS, json!(null)).expect(1));
    r.mount(subject_version("device", 1, DEVICE, os_ref.clone()).expect(1));
    r.mount(subject_version("server", 3, SERVER, os_ref).expect(1));
    let refs = json!([
        {"name": "io.spanflow.Device", "subject": "device", "version": 1},
        {"name": "io.spanflow.Server", "subject": "server", "version": 3},
    ]);
    for id in [10, 11] {
        r.mount(
            get_id(id)
                .respond_with(
                    ResponseTemplate::new(200)
                        .set_body_json(json!({"schema": SPAN, "references": refs})),
                )
                .expect(1),
        );
    }
    let client = r.client();
    let schema = client.schema(10).unwrap();
    assert_eq!(schema.root_name(), Some("io.spanflow.Span"));
    // Id 11 reuses the cached references.
    assert!(client.schema(11).is_ok());
    assert_eq!(r.requests(), 5);

    // The resolved schema decodes: sessionId "s1", timestamp 1000, device.os.name "ios",
    // server {name "a", os.name "linux"}.
    let mut store = SchemaStore::new(projection(&["device.os.name", "server.os.name"]), client);
    let mut msg = Vec::new();
    write_confluent_header(10, &mut msg);
    msg.extend_from_slice(b"\x04s1\xd0\x0f\x06ios\x02a\x0alinux");
    let mut out = DecodedEvent::default();
    assert_eq!(store.decode(&msg, &mut out).unwrap(), 10);
    assert_eq!(out.session_key.as_str(), "s1");
    assert_eq!(out.record.field(0), &FieldValue::Str("ios".into()));
    assert_eq!(out.record.field(1), &FieldValue::Str("linux".into()));
    r.verify();
}

#[test]
fn a_missing_reference_makes_the_schema_invalid() {
    let r = Registry::start();
    r.mount(
        Mock::given(method("GET"))
            .and(path("/subjects/device/versions/4"))
            .respond_with(error_reply(404, 40402, "Version 4 not found."))
            .expect(1),
    );
    r.mount(
        get_id(12)
            .respond_with(ResponseTemplate::new(200).set_body_json(json!({
                "schema": SPAN,
                "references": [{"name": "io.spanflow.Device", "subject": "device", "version": 4}],
            })))
            .expect(1),
    );
    let Err(FetchError::Invalid(e)) = r.client().fetch(12) else {
        panic!("an invalid schema")
    };
    assert_eq!(
        e.to_string(),
        "GET /schemas/ids/12: reference `io.spanflow.Device` (subject `device`, version 4) does \
         not exist (HTTP 404, error code 40402): Version 4 not found."
    );
    r.verify();
}

#[test]
fn basic_auth_is_sent_and_the_password_never_printed() {
    let r = Registry::start();
    r.mount(
        get_id(1)
            .and(header("authorization", "Basic a2V5OnMzY3IzdC1wdw=="))
            .respond_with(schema_reply(HEARTBEAT))
            .expect(1),
    );
    let mut config = r.config();
    config.username = Some("key".into());
    config.password_file = Some(temp_file("password", "s3cr3t-pw\n"));
    let client = RegistryClient::new(&config).unwrap();
    assert!(client.schema(1).is_ok());
    let printed = format!("{config:?} {client:?}");
    assert!(!printed.contains("s3cr3t"), "{printed}");
    assert!(!printed.contains("a2V5OnMzY3IzdC1wdw"), "{printed}");
    assert!(printed.contains("basic (username key)"), "{printed}");
    r.verify();
}

#[test]
fn a_bearer_token_is_sent() {
    let r = Registry::start();
    r.mount(
        get_id(1)
            .and(header("authorization", "Bearer tok-123"))
            .respond_with(schema_reply(HEARTBEAT))
            .expect(1),
    );
    let mut config = r.config();
    config.token_file = Some(temp_file("token", "tok-123"));
    let client = RegistryClient::new(&config).unwrap();
    assert!(client.schema(1).is_ok());
    assert!(!format!("{client:?}").contains("tok-123"));
    r.verify();
}

#[test]
fn rejected_credentials_are_fatal_and_not_retried() {
    let r = Registry::start();
    r.mount(
        get_id(1)
            .respond_with(error_reply(401, 40101, "Unauthorized"))
            .expect(2),
    );
    r.mount(
        get_id(2)
            .respond_with(error_reply(403, 40301, "User cannot access the resource."))
            .expect(1),
    );
    let mut config = r.config();
    config.username = Some("key".into());
    config.password_file = Some(temp_file("password-401", "wrong-pw"));
    let client = RegistryClient::new(&config).unwrap();
    let e = client.schema(1).unwrap_err();
    assert!(e.is_fatal() && !e.is_retriable(), "{e}");
    let msg = e.to_string();
    assert!(
        msg.starts_with(
            "GET /schemas/ids/1: the schema registry rejected the credentials (HTTP 401"
        ),
        "{msg}"
    );
    assert!(!msg.contains("wrong-pw"), "{msg}");
    // Through a store: a fatal decode error, not cached as an unknown or unusable id.
    let mut store = SchemaStore::new(projection(&[]), client.clone());
    let e = store.plan(1).unwrap_err();
    assert!(e.is_fatal() && !e.is_retriable(), "{e}");
    assert_eq!(e.reason(), "schema_source_failed");
    let e = client.schema(2).unwrap_err();
    assert!(
        matches!(e, RegistryError::CredentialsRejected { status: 403, .. }),
        "{e:?}"
    );
    r.verify();
}

#[test]
fn register_returns_the_id_and_explains_refusals() {
    let r = Registry::start();
    r.mount(
        Mock::given(method("POST"))
            .and(path("/subjects/spans-value/versions"))
            .and(header("content-type", MEDIA))
            .and(body_json(json!({ "schema": HEARTBEAT })))
            .respond_with(ResponseTemplate::new(200).set_body_json(json!({"id": 21})))
            .expect(1),
    );
    r.mount(
        Mock::given(method("POST"))
            .and(path("/subjects/old-value/versions"))
            .respond_with(error_reply(
                409,
                409,
                "Schema being registered is incompatible with an earlier schema",
            ))
            .expect(1),
    );
    r.mount(
        Mock::given(method("POST"))
            .and(path("/subjects/bad-value/versions"))
            .respond_with(error_reply(422, 42201, "Invalid schema"))
            .expect(1),
    );
    let client = r.client();
    let subject = SubjectNameStrategy::TopicName.subject("spans", "io.spanflow.Heartbeat");
    assert_eq!(client.register(&subject, HEARTBEAT).unwrap(), 21);
    assert_eq!(client.register(&subject, HEARTBEAT).unwrap(), 21, "cached");
    let e = client.register("old-value", HEARTBEAT).unwrap_err();
    assert_eq!(
        e.to_string(),
        "cannot register the schema under subject `old-value`: it is incompatible with the \
         subject's earlier versions (HTTP 409, error code 409: Schema being registered is \
         incompatible with an earlier schema)"
    );
    let e = client.register("bad-value", "{}").unwrap_err();
    assert!(
        matches!(
            &e,
            RegistryError::InvalidForRegistry {
                code: Some(42201),
                ..
            }
        ),
        "{e:?}"
    );
    assert!(
        e.to_string().contains("the registry says it is invalid"),
        "{e}"
    );
    r.verify();
}

#[test]
fn subject_name_strategies() {
    let s = |strategy: SubjectNameStrategy| strategy.subject("spans", "io.spanflow.Span");
    assert_eq!(s(SubjectNameStrategy::TopicName), "spans-value");
    assert_eq!(s(SubjectNameStrategy::RecordName), "io.spanflow.Span");
    assert_eq!(
        s(SubjectNameStrategy::TopicRecordName),
        "spans-io.spanflow.Span"
    );
    assert_eq!(
        SubjectNameStrategy::default(),
        SubjectNameStrategy::TopicName
    );
    let parsed: Vec<SubjectNameStrategy> =
        serde_saphyr::from_str("[topic_name, record_name, topic_record_name]").unwrap();
    assert_eq!(
        parsed,
        [
            SubjectNameStrategy::TopicName,
            SubjectNameStrategy::RecordName,
            SubjectNameStrategy::TopicRecordName
        ]
    );
    assert!(serde_saphyr::from_str::<SubjectNameStrategy>("TopicNameStrategy").is_err());
}

#[test]
fn config_reads_from_yaml_with_defaults_and_never_takes_secrets_inline() {
    let c: RegistryConfig = serde_saphyr::from_str(
        "url: https://sr.example.com/\nusername: key\npassword_env: SR_SECRET\ntimeout_secs: 2.5\nmax_retries: 1\n",
    )
    .unwrap();
    assert_eq!(c.url, "https://sr.example.com/");
    assert_eq!(c.password_env.as_deref(), Some("SR_SECRET"));
    assert_eq!(c.timeout, Duration::from_millis(2500));
    assert_eq!(c.max_retries, 1);
    assert_eq!(c.fetch_timeout, Duration::from_secs(30));
    assert_eq!(c.backoff, Duration::from_millis(100));
    for inline in ["password: hunter2", "token: abc"] {
        let e = serde_saphyr::from_str::<RegistryConfig>(&format!("url: http://x\n{inline}\n"))
            .unwrap_err()
            .to_string();
        assert!(e.contains("unknown field"), "{e}");
    }
    let e = serde_saphyr::from_str::<RegistryConfig>("url: http://x\ntimeout_secs: 0\n")
        .unwrap_err()
        .to_string();
    assert!(e.contains("positive number of seconds"), "{e}");
}

#[test]
fn config_from_the_environment() {
    let vars = |pairs: &'static [(&'static str, &'static str)]| {
        move |name: &str| {
            pairs
                .iter()
                .find(|(k, _)| *k == name)
                .map(|(_, v)| (*v).to_owned())
        }
    };
    assert_eq!(RegistryConfig::from_env_vars(vars(&[])).unwrap(), None);
    let c = RegistryConfig::from_env_vars(vars(&[
        (ENV_URL, "http://sr:8081"),
        (ENV_USERNAME, "key"),
        (ENV_PASSWORD, "pw"),
    ]))
    .unwrap()
    .unwrap();
    assert_eq!(c.url, "http://sr:8081");
    assert_eq!(c.username.as_deref(), Some("key"));
    // The password stays in the environment; the config only names the variable.
    assert_eq!(c.password_env.as_deref(), Some(ENV_PASSWORD));
    assert!(!format!("{c:?}").contains("\"pw\""));
    let e = RegistryConfig::from_env_vars(vars(&[(ENV_URL, "http://sr"), (ENV_USERNAME, "key")]))
        .unwrap_err();
    assert!(
        e.to_string()
            .contains("SPANFLOW_SCHEMA_REGISTRY_PASSWORD is not"),
        "{e}"
    );
}

#[test]
fn invalid_settings_are_rejected_at_startup() {
    let check = |edit: &dyn Fn(&mut RegistryConfig), expected: &str| {
        let mut c = RegistryConfig::new("http://127.0.0.1:1");
        edit(&mut c);
        let e = RegistryClient::new(&c).unwrap_err().to_string();
        assert!(e.contains(expected), "{e} does not contain {expected}");
        assert!(!e.contains("hunter2"), "{e}");
    };
    check(
        &|c| c.url = "sr:8081".into(),
        "must start with http:// or https://",
    );
    check(
        &|c| c.url = "https://key:hunter2@sr:8081".into(),
        "must not contain credentials",
    );
    check(
        &|c| c.username = Some("key".into()),
        "`username` needs a password",
    );
    check(
        &|c| {
            c.username = Some("key".into());
            c.password_env = Some("SPANFLOW_TEST_SECRET_THAT_IS_NEVER_SET".into());
        },
        "password: environment variable SPANFLOW_TEST_SECRET_THAT_IS_NEVER_SET is not set",
    );
    check(
        &|c| {
            c.username = Some("key".into());
            c.password_env = Some("PATH".into());
            c.token_env = Some("PATH".into());
        },
        "not both",
    );
    check(
        &|c| c.ca_file = Some(temp_file("not-a-ca.pem", "hello")),
        "holds no PEM certificate",
    );
    check(
        &|c| c.ca_file = Some(PathBuf::from("/nonexistent/ca.pem")),
        "ca_file /nonexistent/ca.pem",
    );
    check(
        &|c| c.backoff = Duration::from_secs(5),
        "`backoff_secs` (5) is above `max_backoff_secs` (2)",
    );
    // A private CA in PEM is accepted.
    let mut c = RegistryConfig::new("https://sr.internal:8081");
    c.ca_file = Some(temp_file("ca.pem", TEST_CA));
    assert!(RegistryClient::new(&c).is_ok());
}

#[test]
fn helpers_encode_subjects_and_credentials() {
    assert_eq!(encode_segment("spans-value"), "spans-value");
    assert_eq!(encode_segment(":.ctx:a b/c"), "%3A.ctx%3Aa%20b%2Fc");
    assert_eq!(encode_segment(".."), "%2E%2E");
    let b = |s: &str| base64(s.as_bytes());
    assert_eq!(
        [
            b(""),
            b("f"),
            b("fo"),
            b("foo"),
            b("foob"),
            b("fooba"),
            b("foobar")
        ],
        ["", "Zg==", "Zm8=", "Zm9v", "Zm9vYg==", "Zm9vYmE=", "Zm9vYmFy"]
    );
}

/// A self-signed CA certificate (only parsed, never used for a handshake).
const TEST_CA: &str = "-----BEGIN CERTIFICATE-----
MIIBjjCCATOgAwIBAgIUVSUhR+prG4GDTwb/V8r9sa4ZBdMwCgYIKoZIzj0EAwIw
GzEZMBcGA1UEAwwQc3BhbmZsb3cgdGVzdCBDQTAgFw0yNjExMjMxMjAyMTdaGA8y
MTI2MTAzMDEyMDIxN1owGzEZMBcGA1UEAwwQc3BhbmZsb3cgdGVzdCBDQTBZMBMG
ByqGSM49AgEGCCqGSM49AwEHA0IABBbJR7Dd3G8KoEu1uYnhiNRmopmnUqHEqW/9
iMVvjxqqo2g6j2APZ1kH128s+i2RiK//h65iqcNiCY0GctHihYWjUzBRMB0GA1Ud
DgQWBBToYvoOAmb11VIaj0uIhgkBpQpG5zAfBgNVHSMEGDAWgBToYvoOAmb11VIa
j0uIhgkBpQpG5zAPBgNVHRMBAf8EBTADAQH/MAoGCCqGSM49BAMCA0kAMEYCIQCd
u3O9ISBDuV8iLe68LJmq+9dAg/WyFo02FduxLjMj6QIhAK+QP3m9Ki2ZXDY3QKZM
QNUwtSZ4Nbu1avgn5kRAn6zx
-----END CERTIFICATE-----
";

#[test]
fn an_outage_is_logged_at_powers_of_two_and_once_when_it_ends() {
    let r = Registry::start();
    r.mount(
        get_id(1)
            .respond_with(error_reply(503, 50003, "forward error"))
            .up_to_n_times(20)
            .expect(20),
    );
    r.mount(get_id(1).respond_with(schema_reply(HEARTBEAT)).expect(1));
    let mut config = r.config();
    config.max_retries = 30;
    config.backoff = Duration::from_millis(1);
    config.max_backoff = Duration::from_millis(2);
    let client = RegistryClient::new(&config).unwrap();
    let log = logged(|| assert!(client.schema(1).is_ok()));
    let failed: Vec<&str> = log
        .lines()
        .filter(|l| l.contains("Schema registry call failed"))
        .collect();
    // Failures 1, 2, 4, 8 and 16 of the 20 in a row.
    assert_eq!(failed.len(), 5, "{log}");
    assert!(failed[4].contains("failed_in_a_row=16"), "{log}");
    let back: Vec<&str> = log
        .lines()
        .filter(|l| l.contains("Schema registry answers again"))
        .collect();
    assert_eq!(back.len(), 1, "{log}");
    assert!(back[0].contains("failed_attempts=20"), "{log}");
    r.verify();
}

#[test]
fn a_schema_guid_is_fetched_from_the_guids_endpoint_once() {
    let r = Registry::start();
    let guid = crate::decode::SchemaGuid(
        *b"\x0f\x8e\x11\x22\x33\x44\x45\x55\x86\x66\x77\x77\x88\x88\x99\x99",
    );
    r.mount(
        Mock::given(method("GET"))
            .and(path("/schemas/guids/0f8e1122-3344-4555-8666-777788889999"))
            .respond_with(ResponseTemplate::new(200).set_body_json(
                json!({"schema": HEARTBEAT, "id": 3, "guid": "0f8e1122-3344-4555-8666-777788889999"}),
            ))
            .expect(1),
    );
    let client = r.client();
    let mut store = SchemaStore::new(projection(&[]), client.clone());
    let mut header = vec![crate::decode::MAGIC_GUID];
    header.extend_from_slice(&guid.0);
    let mut out = DecodedEvent::default();
    for _ in 0..3 {
        let got = store
            .decode_framed(b"\x04s1\xd0\x0f", Some(&header), &mut out)
            .unwrap();
        assert_eq!(got, crate::decode::SchemaRef::Guid(guid));
        assert_eq!(out.session_key.as_str(), "s1");
    }
    // An unknown GUID: the error names it and the request.
    r.mount(
        Mock::given(method("GET"))
            .and(path("/schemas/guids/00000000-0000-0000-0000-000000000000"))
            .respond_with(error_reply(404, 40403, "Schema not found")),
    );
    let e = client
        .schema_by_guid(&crate::decode::SchemaGuid([0; 16]))
        .unwrap_err();
    assert!(
        e.to_string().starts_with(
            "schema GUID 00000000-0000-0000-0000-000000000000 is not registered (GET \
             /schemas/guids/00000000-0000-0000-0000-000000000000: HTTP 404"
        ),
        "{e}"
    );
    r.verify();
}
