//! Crash points for deterministic crash tests: with `SPANFLOW_CRASH_AT=<name>` in its
//! environment the process aborts at the point of that name, as a `kill -9` landing exactly
//! there would, so a test can check the recovery of a protocol step by step. Only rare paths
//! have crash points (the variable is read once).

use std::sync::OnceLock;

/// Aborts the process if `SPANFLOW_CRASH_AT` names this point.
pub fn crash_point(name: &str) {
    static AT: OnceLock<Option<String>> = OnceLock::new();
    if AT
        .get_or_init(|| std::env::var("SPANFLOW_CRASH_AT").ok())
        .as_deref()
        == Some(name)
    {
        eprintln!("crash point `{name}`: aborting (SPANFLOW_CRASH_AT)");
        std::process::abort();
    }
}
