//! Secrets (passwords, tokens) that must never reach a log line, an error message or a spec.
//!
//! Specs name *where* a secret is (`password_env: NAME` or `password_file: PATH`), never the
//! secret itself; [`resolve`] reads it at startup into a [`Secret`], whose `Debug` and `Display`
//! print `***`. The value is only reachable through [`Secret::expose`], so every place that uses
//! it is easy to find.

use std::fmt;
use std::path::{Path, PathBuf};

/// A secret string. `Debug` and `Display` print `***`; [`Secret::expose`] gives the value.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(Box<str>);

impl Secret {
    /// Wraps a value obtained elsewhere (prefer [`Secret::from_env`] / [`Secret::from_file`]).
    pub fn new(value: impl Into<String>) -> Self {
        Secret(value.into().into_boxed_str())
    }

    /// The value of environment variable `var`, which must be set, Unicode and non-empty.
    pub fn from_env(var: &str) -> Result<Self, SecretError> {
        match std::env::var(var) {
            Ok(v) if v.is_empty() => Err(SecretError::Empty {
                origin: format!("environment variable {var}"),
            }),
            Ok(v) => Ok(Secret::new(v)),
            Err(std::env::VarError::NotPresent) => Err(SecretError::EnvNotSet {
                var: var.to_owned(),
            }),
            Err(std::env::VarError::NotUnicode(_)) => Err(SecretError::EnvNotUnicode {
                var: var.to_owned(),
            }),
        }
    }

    /// The contents of the file at `path`, without trailing line breaks (so `echo secret > f`
    /// works). The file must be UTF-8 and the secret non-empty.
    pub fn from_file(path: &Path) -> Result<Self, SecretError> {
        let text = std::fs::read_to_string(path).map_err(|e| SecretError::File {
            path: path.to_owned(),
            // The io error names no content, only what went wrong.
            message: e.to_string(),
        })?;
        let value = text.trim_end_matches(['\n', '\r']);
        if value.is_empty() {
            return Err(SecretError::Empty {
                origin: format!("file {}", path.display()),
            });
        }
        Ok(Secret::new(value))
    }

    /// The secret value. Do not log it.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

/// Why a secret could not be read. Messages name where the secret was looked for, never a value.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum SecretError {
    /// The environment variable is not set.
    #[error("environment variable {var} is not set")]
    EnvNotSet {
        /// The variable's name.
        var: String,
    },
    /// The environment variable is not valid Unicode.
    #[error("environment variable {var} is not valid Unicode")]
    EnvNotUnicode {
        /// The variable's name.
        var: String,
    },
    /// The file cannot be read.
    #[error("cannot read {}: {message}", path.display())]
    File {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        message: String,
    },
    /// The source exists but holds an empty value.
    #[error("{origin} is empty")]
    Empty {
        /// Where the value came from ("environment variable X", "file Y").
        origin: String,
    },
    /// Both `<field>_env` and `<field>_file` were given.
    #[error("give either `{field}_env` or `{field}_file`, not both")]
    Ambiguous {
        /// The secret's field name, e.g. `password`.
        field: String,
    },
}

/// Resolves the spec pair `<field>_env` / `<field>_file`: reads the variable or the file that is
/// given (at most one may be), or returns `None` when neither is.
pub fn resolve(
    field: &str,
    env: Option<&str>,
    file: Option<&Path>,
) -> Result<Option<Secret>, SecretError> {
    match (env, file) {
        (Some(_), Some(_)) => Err(SecretError::Ambiguous {
            field: field.to_owned(),
        }),
        (Some(var), None) => Secret::from_env(var).map(Some),
        (None, Some(path)) => Secret::from_file(path).map(Some),
        (None, None) => Ok(None),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_and_display_hide_the_value() {
        let s = Secret::new("hunter2");
        assert_eq!(format!("{s:?} {s} {:?}", Some(&s)), "*** *** Some(***)");
        assert_eq!(s.expose(), "hunter2");
    }

    #[test]
    fn reads_files_without_trailing_newlines_and_rejects_empty_ones() {
        let dir = std::env::temp_dir().join(format!("spanflow-secret-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("pw");
        std::fs::write(&path, "s3cret \r\n").unwrap();
        assert_eq!(Secret::from_file(&path).unwrap().expose(), "s3cret ");
        std::fs::write(&path, "\n").unwrap();
        let e = Secret::from_file(&path).unwrap_err();
        assert!(matches!(e, SecretError::Empty { .. }), "{e}");
        let missing = dir.join("missing");
        let e = Secret::from_file(&missing).unwrap_err().to_string();
        assert!(
            e.starts_with("cannot read ") && e.contains("missing"),
            "{e}"
        );
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn resolves_env_variables_and_rejects_ambiguity() {
        // PATH is set in any test environment; reading it needs no `set_var`.
        let path = std::env::var("PATH").unwrap();
        let s = resolve("password", Some("PATH"), None).unwrap().unwrap();
        assert_eq!(s.expose(), path);
        let unset = "SPANFLOW_TEST_SECRET_THAT_IS_NEVER_SET";
        assert_eq!(
            resolve("token", Some(unset), None).unwrap_err(),
            SecretError::EnvNotSet { var: unset.into() }
        );
        assert_eq!(resolve("token", None, None).unwrap(), None);
        let e = resolve("password", Some("PATH"), Some(Path::new("/x"))).unwrap_err();
        assert_eq!(
            e.to_string(),
            "give either `password_env` or `password_file`, not both"
        );
    }
}
