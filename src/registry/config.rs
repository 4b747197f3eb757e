//! How to reach a Schema Registry: the spec/config section and the environment constructor.

use super::errors::ConfigError;
use crate::secret::{self, Secret};
use serde::{de, Deserialize, Deserializer};
use std::path::PathBuf;
use std::time::Duration;

/// Environment variable with the registry's base URL (see [`RegistryConfig::from_env`]).
pub const ENV_URL: &str = "SPANFLOW_SCHEMA_REGISTRY_URL";
/// Environment variable with the basic-auth username (API key).
pub const ENV_USERNAME: &str = "SPANFLOW_SCHEMA_REGISTRY_USERNAME";
/// Environment variable with the basic-auth password (API secret).
pub const ENV_PASSWORD: &str = "SPANFLOW_SCHEMA_REGISTRY_PASSWORD";

/// Connection settings for a Confluent-compatible Schema Registry.
///
/// Secrets are never part of this struct: it names the environment variable (`password_env`,
/// `token_env`) or file (`password_file`, `token_file`) that holds them, and
/// [`RegistryClient::new`](super::RegistryClient::new) reads them once, at startup.
///
/// ```yaml
/// url: https://registry.example.com:8081
/// username: SR-API-KEY           # basic auth; the password comes from the environment
/// password_env: SR_API_SECRET
/// ca_file: /etc/spanflow/private-ca.pem
/// timeout_secs: 5
/// ```
#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RegistryConfig {
    /// Base URL, e.g. `https://registry:8081` (a path prefix is allowed; no credentials in it).
    pub url: String,
    /// Basic-auth username (Confluent Cloud: the API key). Needs a password.
    #[serde(default)]
    pub username: Option<String>,
    /// Environment variable holding the basic-auth password.
    #[serde(default)]
    pub password_env: Option<String>,
    /// File holding the basic-auth password (trailing newlines are ignored).
    #[serde(default)]
    pub password_file: Option<PathBuf>,
    /// Environment variable holding a bearer token (instead of basic auth).
    #[serde(default)]
    pub token_env: Option<String>,
    /// File holding a bearer token.
    #[serde(default)]
    pub token_file: Option<PathBuf>,
    /// PEM file with the CA certificate(s) to trust instead of the built-in Mozilla roots, for
    /// registries behind a private CA.
    #[serde(default)]
    pub ca_file: Option<PathBuf>,
    /// Time limit of one HTTP request, in seconds (default 10).
    #[serde(
        default = "defaults::timeout",
        rename = "timeout_secs",
        deserialize_with = "secs"
    )]
    pub timeout: Duration,
    /// Time limit of one whole schema fetch or registration, retries and references included,
    /// in seconds (default 30).
    #[serde(
        default = "defaults::fetch_timeout",
        rename = "fetch_timeout_secs",
        deserialize_with = "secs"
    )]
    pub fetch_timeout: Duration,
    /// Retries after a connection error, a timeout, HTTP 429 or 5xx (default 3; 4xx are never
    /// retried).
    #[serde(default = "defaults::max_retries")]
    pub max_retries: u32,
    /// Delay before the first retry, in seconds (default 0.1); it doubles for each further
    /// retry, up to `max_backoff_secs`.
    #[serde(
        default = "defaults::backoff",
        rename = "backoff_secs",
        deserialize_with = "secs"
    )]
    pub backoff: Duration,
    /// Upper bound of the delay between retries, in seconds (default 2).
    #[serde(
        default = "defaults::max_backoff",
        rename = "max_backoff_secs",
        deserialize_with = "secs"
    )]
    pub max_backoff: Duration,
}

mod defaults {
    use std::time::Duration;

    pub fn timeout() -> Duration {
        Duration::from_secs(10)
    }
    pub fn fetch_timeout() -> Duration {
        Duration::from_secs(30)
    }
    pub fn max_retries() -> u32 {
        3
    }
    pub fn backoff() -> Duration {
        Duration::from_millis(100)
    }
    pub fn max_backoff() -> Duration {
        Duration::from_secs(2)
    }
}

/// A positive number of seconds (at most a day) as a `Duration`.
fn secs<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
    let v = f64::deserialize(d)?;
    if v.is_finite() && v > 0.0 && v <= 86_400.0 {
        Ok(Duration::from_secs_f64(v))
    } else {
        Err(de::Error::custom(format!(
            "expected a positive number of seconds (at most 86400), got {v}"
        )))
    }
}

impl RegistryConfig {
    /// Settings for the registry at `url`, without authentication, with the default timeouts
    /// and retries.
    pub fn new(url: impl Into<String>) -> Self {
        RegistryConfig {
            url: url.into(),
            username: None,
            password_env: None,
            password_file: None,
            token_env: None,
            token_file: None,
            ca_file: None,
            timeout: defaults::timeout(),
            fetch_timeout: defaults::fetch_timeout(),
            max_retries: defaults::max_retries(),
            backoff: defaults::backoff(),
            max_backoff: defaults::max_backoff(),
        }
    }

    /// Settings from the process environment, or `None` when no registry is configured there:
    ///
    /// - `SPANFLOW_SCHEMA_REGISTRY_URL`: the base URL (unset or empty: `Ok(None)`);
    /// - `SPANFLOW_SCHEMA_REGISTRY_USERNAME`: optional basic-auth username (API key);
    /// - `SPANFLOW_SCHEMA_REGISTRY_PASSWORD`: its password (API secret), required with a
    ///   username. It stays in the environment: the config only records the variable's name
    ///   (`password_env`), and the client reads it when it is built.
    ///
    /// Timeouts and retries keep their defaults.
    pub fn from_env() -> Result<Option<Self>, ConfigError> {
        Self::from_env_vars(|name| std::env::var(name).ok())
    }

    /// [`RegistryConfig::from_env`] over any variable lookup (for tests). The password itself is
    /// still read from the process environment, when the client is built.
    pub fn from_env_vars(
        var: impl Fn(&str) -> Option<String>,
    ) -> Result<Option<Self>, ConfigError> {
        let set = |name: &str| var(name).filter(|v| !v.is_empty());
        let Some(url) = set(ENV_URL) else {
            return Ok(None);
        };
        let mut config = RegistryConfig::new(url);
        match (set(ENV_USERNAME), set(ENV_PASSWORD).is_some()) {
            (Some(user), true) => {
                config.username = Some(user);
                config.password_env = Some(ENV_PASSWORD.to_owned());
            }
            (None, false) => {}
            (Some(_), false) => {
                return Err(ConfigError::Invalid(format!(
                    "{ENV_USERNAME} is set but {ENV_PASSWORD} is not"
                )))
            }
            (None, true) => {
                return Err(ConfigError::Invalid(format!(
                    "{ENV_PASSWORD} is set but {ENV_USERNAME} is not"
                )))
            }
        }
        Ok(Some(config))
    }

    /// Checks the settings and reads the secrets they point to.
    pub(super) fn resolve(&self) -> Result<Resolved, ConfigError> {
        let base = base_url(&self.url)?;
        let password = secret::resolve(
            "password",
            self.password_env.as_deref(),
            self.password_file.as_deref(),
        )
        .map_err(|e| ConfigError::Secret {
            field: "password",
            error: e,
        })?;
        let token = secret::resolve(
            "token",
            self.token_env.as_deref(),
            self.token_file.as_deref(),
        )
        .map_err(|e| ConfigError::Secret {
            field: "token",
            error: e,
        })?;
        let auth =
            match (&self.username, password, token) {
                (Some(user), Some(password), None) => {
                    if user.contains(':') {
                        return Err(ConfigError::Invalid(
                            "`username` cannot contain `:` (HTTP basic auth separates it from the \
                         password with one)"
                                .into(),
                        ));
                    }
                    Auth::Basic {
                        username: user.clone(),
                        header: Secret::new(format!(
                            "Basic {}",
                            base64(format!("{user}:{}", password.expose()).as_bytes())
                        )),
                    }
                }
                (None, None, Some(token)) => Auth::Bearer {
                    header: Secret::new(format!("Bearer {}", token.expose())),
                },
                (None, None, None) => Auth::None,
                (Some(_), None, _) => {
                    return Err(ConfigError::Invalid(
                        "`username` needs a password: set `password_env` or `password_file`".into(),
                    ))
                }
                (None, Some(_), _) => {
                    return Err(ConfigError::Invalid("a password needs a `username`".into()))
                }
                (Some(_), Some(_), Some(_)) => return Err(ConfigError::Invalid(
                    "give either basic auth (`username` + password) or a bearer token, not both"
                        .into(),
                )),
            };
        if self.backoff > self.max_backoff {
            return Err(ConfigError::Invalid(format!(
                "`backoff_secs` ({}) is above `max_backoff_secs` ({})",
                self.backoff.as_secs_f64(),
                self.max_backoff.as_secs_f64()
            )));
        }
        Ok(Resolved { base, auth })
    }
}

/// What [`RegistryConfig::resolve`] produces besides the plain settings.
pub(super) struct Resolved {
    /// The base URL without trailing slashes.
    pub base: String,
    pub auth: Auth,
}

/// The `Authorization` header to send, if any.
#[derive(Clone, Debug)]
pub(super) enum Auth {
    None,
    Basic { username: String, header: Secret },
    Bearer { header: Secret },
}

impl Auth {
    pub fn header(&self) -> Option<&Secret> {
        match self {
            Auth::None => None,
            Auth::Basic { header, .. } | Auth::Bearer { header } => Some(header),
        }
    }
}

/// Validates `url` and strips trailing slashes.
fn base_url(url: &str) -> Result<String, ConfigError> {
    let invalid = |why: &str| ConfigError::Invalid(format!("`url` {why}"));
    let rest = url
        .strip_prefix("https://")
        .or_else(|| url.strip_prefix("http://"))
        .ok_or_else(|| invalid("must start with http:// or https://"))?;
    let authority = rest.split(['/', '?', '#']).next().unwrap_or("");
    if authority.is_empty() {
        return Err(invalid("has no host"));
    }
    if authority.contains('@') {
        // Never echo the URL here: it holds credentials.
        return Err(invalid(
            "must not contain credentials: use `username` with `password_env`/`password_file`",
        ));
    }
    if rest.contains(['?', '#']) {
        return Err(invalid("must not have a query or fragment"));
    }
    Ok(url.trim_end_matches('/').to_owned())
}

/// Standard base64 with padding (RFC 4648), for the basic-auth header.
pub(super) fn base64(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let b = [
            chunk[0],
            chunk.get(1).copied().unwrap_or(0),
            chunk.get(2).copied().unwrap_or(0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(ALPHABET[(n >> (18 - 6 * i)) as usize & 63] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}
