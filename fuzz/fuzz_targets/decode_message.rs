//! Arbitrary bytes as a Kafka message value, through the decoder `spanflow run` builds for the
//! CIR spec (see `spanflow::fuzzing::DecodeTarget`). Any error is fine; a panic, an abort or an
//! allocation over libFuzzer's limit is a finding.
#![no_main]

use libfuzzer_sys::fuzz_target;
use spanflow::fuzzing::DecodeTarget;
use std::cell::RefCell;

thread_local! {
    /// Built once: the spec, the projection and the fixture registry are read at start-up only.
    static TARGET: RefCell<DecodeTarget> = RefCell::new(
        DecodeTarget::cir().unwrap_or_else(|e| panic!("the decode target does not build: {e}")),
    );
}

fuzz_target!(|data: &[u8]| {
    TARGET.with(|t| {
        let _ = t.borrow_mut().decode(data);
    });
});
