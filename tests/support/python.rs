//! Confluent's Python client for the tests that produce as a user would
//! (`tests/python/produce.py`).
//!
//! The interpreter is `$SPANFLOW_TEST_PYTHON`, else `<target>/test-venv/bin/python`, the virtual
//! environment `.ci/run` creates with [`PY_CLIENT_INSTALL`]. Without it the tests are skipped
//! with a message, unless `SPANFLOW_REQUIRE_PY_CLIENT=1` (CI), which turns the skip into a
//! failure.

use std::path::PathBuf;
use std::process::Command;

/// How `.ci/run` installs the client (pinned).
pub const PY_CLIENT_INSTALL: &str =
    "python3 -m venv <target>/test-venv && <target>/test-venv/bin/pip install 'confluent-kafka[avro,schemaregistry]==2.16.2'";

/// The Python with confluent-kafka's Avro serializer, or `None` (after printing why) when it
/// is not installed; panics then under `SPANFLOW_REQUIRE_PY_CLIENT=1`.
pub fn client_python() -> Option<PathBuf> {
    let python = std::env::var_os("SPANFLOW_TEST_PYTHON")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            // CARGO_TARGET_TMPDIR is `<target>/tmp`.
            PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("../test-venv/bin/python")
        });
    let probe = Command::new(&python)
        .args([
            "-c",
            "import confluent_kafka; from confluent_kafka.schema_registry.avro import AvroSerializer; \
             from confluent_kafka.schema_registry import header_schema_id_serializer; \
             print(confluent_kafka.__version__)",
        ])
        .output();
    let why = match probe {
        Ok(out) if out.status.success() => return Some(python),
        Ok(out) => String::from_utf8_lossy(&out.stderr).trim().to_owned(),
        Err(e) => e.to_string(),
    };
    let message = format!(
        "confluent-kafka's Python client is not usable at {} ({why}); install it with: \
         {PY_CLIENT_INSTALL}, or set SPANFLOW_TEST_PYTHON",
        python.display()
    );
    if std::env::var("SPANFLOW_REQUIRE_PY_CLIENT").is_ok_and(|v| v == "1") {
        panic!("SPANFLOW_REQUIRE_PY_CLIENT=1 but {message}");
    }
    eprintln!("skipped: {message}");
    None
}

/// The producer script.
pub fn producer_script() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/python/produce.py")
}
