//! A Confluent-compatible Schema Registry stub that logs every call: what Confluent's clients
//! register and what spanflow fetches, enough for both to work against it.
//!
//! - `POST /subjects/{subject}/versions`: registers the body's `schema` (the same text again
//!   gets its earlier id) and answers `{"id", "guid", "subject", "version"}`; ids count from 1,
//!   GUIDs are derived from the id.
//! - `GET /schemas/ids/{id}` and `GET /schemas/guids/{guid}`: `{"schema", "id", "guid"}`.
//! - `GET /associations/resources/{namespace}/{topic}` (confluent-kafka 2.16's default subject
//!   strategy asks it first): HTTP 404, no association, so the client falls back to the topic
//!   strategy, `<topic>-value`.
//! - anything else: HTTP 404 with the registry's error body (error code 40401).

use serde_json::{json, Value};
use std::sync::{Arc, Mutex};
use wiremock::{Mock, MockServer, Request, Respond, ResponseTemplate};

/// A registered schema.
struct Registered {
    subject: String,
    text: String,
    guid: String,
}

#[derive(Default)]
struct State {
    /// Index + 1 is the schema id.
    schemas: Vec<Registered>,
    /// `METHOD /path?query`, in arrival order.
    calls: Vec<String>,
}

#[derive(Clone, Default)]
struct Handler(Arc<Mutex<State>>);

/// The GUID of schema `id`: a version-4-shaped UUID spelling the id.
pub fn guid_of(id: usize) -> String {
    format!("5f1d0000-0000-4000-8000-{id:012x}")
}

fn not_found(what: &str) -> ResponseTemplate {
    ResponseTemplate::new(404).set_body_json(json!({"error_code": 40401, "message": what}))
}

impl Respond for Handler {
    fn respond(&self, request: &Request) -> ResponseTemplate {
        let mut state = self.0.lock().unwrap();
        let path = request.url.path().to_owned();
        let mut call = format!("{} {path}", request.method);
        if let Some(q) = request.url.query() {
            call.push('?');
            call.push_str(q);
        }
        state.calls.push(call);
        let segments: Vec<&str> = path.trim_matches('/').split('/').collect();
        match (request.method.as_str(), segments.as_slice()) {
            ("POST", ["subjects", subject, "versions"]) => {
                let Ok(body) = serde_json::from_slice::<Value>(&request.body) else {
                    return ResponseTemplate::new(422)
                        .set_body_json(json!({"error_code": 42201, "message": "not JSON"}));
                };
                let Some(text) = body["schema"].as_str() else {
                    return ResponseTemplate::new(422)
                        .set_body_json(json!({"error_code": 42201, "message": "no schema"}));
                };
                let subject = subject.to_string();
                let existing = state
                    .schemas
                    .iter()
                    .position(|s| s.subject == subject && s.text == text);
                let index = existing.unwrap_or_else(|| {
                    let guid = guid_of(state.schemas.len() + 1);
                    state.schemas.push(Registered {
                        subject: subject.clone(),
                        text: text.to_owned(),
                        guid,
                    });
                    state.schemas.len() - 1
                });
                let version = state.schemas[..=index]
                    .iter()
                    .filter(|s| s.subject == subject)
                    .count();
                ResponseTemplate::new(200).set_body_json(json!({
                    "id": index + 1,
                    "guid": state.schemas[index].guid,
                    "subject": subject,
                    "version": version,
                }))
            }
            ("GET", ["schemas", "ids", id]) => {
                let found = id
                    .parse::<usize>()
                    .ok()
                    .and_then(|id| Some((id, state.schemas.get(id.checked_sub(1)?)?)));
                match found {
                    Some((id, s)) => ResponseTemplate::new(200)
                        .set_body_json(json!({"schema": s.text, "id": id, "guid": s.guid})),
                    None => ResponseTemplate::new(404)
                        .set_body_json(json!({"error_code": 40403, "message": "Schema not found"})),
                }
            }
            ("GET", ["schemas", "guids", guid]) => {
                match state.schemas.iter().position(|s| s.guid == *guid) {
                    Some(i) => ResponseTemplate::new(200).set_body_json(
                        json!({"schema": state.schemas[i].text, "id": i + 1, "guid": guid}),
                    ),
                    None => ResponseTemplate::new(404)
                        .set_body_json(json!({"error_code": 40403, "message": "Schema not found"})),
                }
            }
            ("GET", ["associations", "resources", ..]) => not_found("no association"),
            _ => not_found(&format!("the stub does not serve {path}")),
        }
    }
}

/// The running stub; stopped on drop.
pub struct RegistryStub {
    server: MockServer,
    handler: Handler,
    _runtime: tokio::runtime::Runtime,
}

impl RegistryStub {
    /// Starts the stub on a free loopback port.
    pub fn start() -> RegistryStub {
        let runtime = tokio::runtime::Runtime::new().expect("tokio runtime");
        let server = runtime.block_on(MockServer::start());
        let handler = Handler::default();
        runtime.block_on(
            Mock::given(wiremock::matchers::any())
                .respond_with(handler.clone())
                .mount(&server),
        );
        RegistryStub {
            server,
            handler,
            _runtime: runtime,
        }
    }

    /// The base URL.
    pub fn url(&self) -> String {
        self.server.uri()
    }

    /// Every call so far, `METHOD /path?query`, in arrival order.
    pub fn calls(&self) -> Vec<String> {
        self.handler.0.lock().unwrap().calls.clone()
    }
}
