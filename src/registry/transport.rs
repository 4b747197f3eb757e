//! HTTP to the registry: one agent (connection pool, TLS roots, auth header), retries with
//! exponential backoff for transient failures only, and a deadline over the whole call.

use super::config::{Auth, RegistryConfig, Resolved};
use super::errors::{ConfigError, RegistryError};
use std::hash::{BuildHasher, Hasher};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};
use ureq::tls::{PemItem, RootCerts, TlsConfig};

/// The Schema Registry's media type, sent as `Accept` (and `Content-Type` of request bodies).
pub(super) const MEDIA_TYPE: &str = "application/vnd.schemaregistry.v1+json";

/// Largest response body read (schemas are a few KiB; the limit only stops runaway bodies).
const MAX_BODY: u64 = 16 << 20;

/// An HTTP method with its body.
#[derive(Clone, Copy)]
pub(super) enum Method<'a> {
    Get,
    Post(&'a str),
}

impl std::fmt::Display for Method<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Method::Get => "GET",
            Method::Post(_) => "POST",
        })
    }
}

/// A response that is not a transient failure (anything but 429 and 5xx).
pub(super) struct Reply {
    pub status: u16,
    pub body: String,
}

impl Reply {
    /// The registry's `{"error_code": …, "message": …}`, if the body is one.
    pub fn registry_error(&self) -> Option<(Option<i64>, String)> {
        #[derive(serde::Deserialize)]
        struct Body {
            error_code: Option<i64>,
            message: Option<String>,
        }
        let b: Body = serde_json::from_str(&self.body).ok()?;
        if b.error_code.is_none() && b.message.is_none() {
            return None;
        }
        Some((b.error_code, b.message.unwrap_or_default()))
    }

    /// The error code and message of an error response, falling back to a prefix of the body.
    pub fn describe(&self) -> (Option<i64>, String) {
        self.registry_error()
            .unwrap_or_else(|| (None, snippet(&self.body)))
    }
}

/// At most 200 characters of `body`, on one line.
pub(super) fn snippet(body: &str) -> String {
    let mut s: String = body
        .trim()
        .chars()
        .take(200)
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    if body.trim().chars().count() > 200 {
        s.push('…');
    }
    s
}

pub(super) struct Transport {
    base: String,
    agent: ureq::Agent,
    pub(super) auth: Auth,
    timeout: Duration,
    max_retries: u32,
    backoff: Duration,
    max_backoff: Duration,
    /// Transient failures in a row, across calls: an outage is logged when it starts, at powers
    /// of two, and once when the registry answers again, never once per retry.
    failures_in_a_row: AtomicU64,
}

/// How one attempt failed.
enum Failure {
    /// Worth another attempt (connection error, timeout, 429, 5xx).
    Transient {
        cause: String,
        retry_after: Option<Duration>,
    },
    /// Retrying cannot help (TLS configuration, invalid URL, …).
    Permanent(String),
}

impl Transport {
    pub fn new(config: &RegistryConfig, resolved: Resolved) -> Result<Self, ConfigError> {
        let mut builder = ureq::Agent::config_builder()
            // Status codes are ours to interpret (the registry's error body matters).
            .http_status_as_error(false)
            // A registry does not redirect; following one could send credentials elsewhere.
            .max_redirects(0)
            .user_agent(format!("spanflow/{}", env!("CARGO_PKG_VERSION")));
        if let Some(path) = &config.ca_file {
            builder = builder.tls_config(
                TlsConfig::builder()
                    .root_certs(RootCerts::new_with_certs(&read_ca_file(path)?))
                    .build(),
            );
        }
        Ok(Transport {
            base: resolved.base,
            agent: builder.build().into(),
            auth: resolved.auth,
            timeout: config.timeout,
            max_retries: config.max_retries,
            backoff: config.backoff,
            max_backoff: config.max_backoff,
            failures_in_a_row: AtomicU64::new(0),
        })
    }

    /// The base URL (validated: it holds no credentials).
    pub fn base(&self) -> &str {
        &self.base
    }

    /// Sends `method path`, retrying transient failures with exponential backoff, and never past
    /// `deadline`. Returns the first response that is not a transient failure.
    pub fn call(
        &self,
        method: Method<'_>,
        path: &str,
        deadline: Instant,
    ) -> Result<Reply, RegistryError> {
        let request = format!("{method} {path}");
        let mut attempts = 0;
        loop {
            let remaining = deadline.saturating_duration_since(Instant::now());
            if remaining.is_zero() {
                return Err(RegistryError::Unavailable {
                    request,
                    attempts,
                    cause: "the call ran out of time (fetch_timeout_secs)".into(),
                });
            }
            attempts += 1;
            let (cause, retry_after) = match self.attempt(method, path, self.timeout.min(remaining))
            {
                Ok(reply) => {
                    let failed = self.failures_in_a_row.swap(0, Ordering::Relaxed);
                    if failed > 0 {
                        tracing::info!(failed_attempts = failed, "Schema registry answers again.");
                    }
                    return Ok(reply);
                }
                Err(Failure::Permanent(problem)) => {
                    return Err(RegistryError::Rejected { request, problem })
                }
                Err(Failure::Transient { cause, retry_after }) => (cause, retry_after),
            };
            let failed = self.failures_in_a_row.fetch_add(1, Ordering::Relaxed) + 1;
            if attempts > self.max_retries {
                return Err(RegistryError::Unavailable {
                    request,
                    attempts,
                    cause,
                });
            }
            let delay = self.delay(attempts).max(retry_after.unwrap_or_default());
            if Instant::now() + delay >= deadline {
                return Err(RegistryError::Unavailable {
                    request,
                    attempts,
                    cause: format!(
                        "{cause}; no time left for another attempt within fetch_timeout_secs"
                    ),
                });
            }
            if failed.is_power_of_two() {
                tracing::warn!(
                    request = %request,
                    attempt = attempts,
                    failed_in_a_row = failed,
                    "Schema registry call failed ({cause}); retrying in {delay:?}."
                );
            }
            std::thread::sleep(delay);
        }
    }

    /// The backoff before retry number `retry` (from 1): `backoff * 2^(retry-1)`, capped, with
    /// up to 50 % jitter so that clients failing together do not retry together.
    fn delay(&self, retry: u32) -> Duration {
        let exp = self
            .backoff
            .saturating_mul(1 << (retry - 1).min(20))
            .min(self.max_backoff);
        let random = std::collections::hash_map::RandomState::new()
            .build_hasher()
            .finish();
        let fraction = 0.5 + (random % 1000) as f64 / 2000.0;
        exp.mul_f64(fraction)
    }

    fn attempt(&self, method: Method<'_>, path: &str, timeout: Duration) -> Result<Reply, Failure> {
        let url = format!("{}{path}", self.base);
        let auth = self.auth.header();
        let result = match method {
            Method::Get => {
                let mut req = self
                    .agent
                    .get(&url)
                    .config()
                    .timeout_global(Some(timeout))
                    .build()
                    .header("Accept", MEDIA_TYPE);
                if let Some(h) = auth {
                    req = req.header("Authorization", h.expose());
                }
                req.call()
            }
            Method::Post(body) => {
                let mut req = self
                    .agent
                    .post(&url)
                    .config()
                    .timeout_global(Some(timeout))
                    .build()
                    .header("Accept", MEDIA_TYPE)
                    .header("Content-Type", MEDIA_TYPE);
                if let Some(h) = auth {
                    req = req.header("Authorization", h.expose());
                }
                req.send(body)
            }
        };
        let mut response = result.map_err(classify)?;
        let status = response.status().as_u16();
        let retry_after = response
            .headers()
            .get("retry-after")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse::<u64>().ok())
            .map(Duration::from_secs);
        let body = response
            .body_mut()
            .with_config()
            .limit(MAX_BODY)
            .lossy_utf8(true)
            .read_to_string()
            .map_err(classify)?;
        let reply = Reply { status, body };
        if status == 429 || status >= 500 {
            let (code, message) = reply.describe();
            let mut cause = format!("HTTP {status}");
            if let Some(c) = code {
                cause.push_str(&format!(", error code {c}"));
            }
            if !message.is_empty() {
                cause.push_str(": ");
                cause.push_str(&message);
            }
            return Err(Failure::Transient { cause, retry_after });
        }
        Ok(reply)
    }
}

/// Sorts a transport error into transient or permanent.
fn classify(e: ureq::Error) -> Failure {
    use ureq::Error as E;
    match e {
        E::Io(_)
        | E::Timeout(_)
        | E::HostNotFound
        | E::ConnectionFailed
        | E::Protocol(_)
        | E::BodyStalled => Failure::Transient {
            cause: e.to_string(),
            retry_after: None,
        },
        E::Tls(_) | E::Pem(_) | E::Rustls(_) | E::TlsRequired => Failure::Permanent(format!(
            "TLS failed: {e} (if the registry uses a private CA, set `ca_file`)"
        )),
        other => Failure::Permanent(other.to_string()),
    }
}

/// The certificates of a PEM file.
fn read_ca_file(
    path: &std::path::Path,
) -> Result<Vec<ureq::tls::Certificate<'static>>, ConfigError> {
    let err = |message: String| ConfigError::CaFile {
        path: path.display().to_string(),
        message,
    };
    let pem = std::fs::read(path).map_err(|e| err(e.to_string()))?;
    let mut certs = Vec::new();
    for item in ureq::tls::parse_pem(&pem) {
        match item.map_err(|e| err(format!("not a valid PEM file: {e}")))? {
            PemItem::Certificate(c) => certs.push(c),
            PemItem::PrivateKey(_) => {
                return Err(err(
                    "holds a private key: it should hold only CA certificates".into(),
                ))
            }
            // PemItem is non-exhaustive in spirit; ignore other sections.
            #[allow(unreachable_patterns)]
            _ => {}
        }
    }
    if certs.is_empty() {
        return Err(err(
            "holds no PEM certificate (-----BEGIN CERTIFICATE-----)".into(),
        ));
    }
    Ok(certs)
}

/// Percent-encodes one URL path segment (a subject name), keeping only RFC 3986 unreserved
/// characters.
pub(super) fn encode_segment(segment: &str) -> String {
    let mut out = String::with_capacity(segment.len());
    let dots_only = !segment.is_empty() && segment.bytes().all(|b| b == b'.');
    for b in segment.bytes() {
        match b {
            b'.' if dots_only => out.push_str("%2E"),
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                out.push(b as char)
            }
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}
