//! Arbitrary UTF-8 text as a spec, through parsing, validation and problem rendering as
//! `spanflow validate` does (see `spanflow::fuzzing::SpecTarget`). Any verdict is fine; a panic,
//! a hang, or a valid spec whose decoder cannot be built is a finding.
#![no_main]

use libfuzzer_sys::fuzz_target;
use spanflow::fuzzing::SpecTarget;

thread_local! {
    /// Built once: the fixture schemas specs may name are read at start-up only.
    static TARGET: SpecTarget = SpecTarget::with_fixture_schemas()
        .unwrap_or_else(|e| panic!("the spec target does not build: {e}"));
}

fuzz_target!(|data: &[u8]| {
    let Ok(yaml) = std::str::from_utf8(data) else {
        return;
    };
    TARGET.with(|t| {
        if let Err(broken) = t.validate(yaml) {
            panic!("{broken}");
        }
    });
});
