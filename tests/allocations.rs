//! The steady state allocates nothing per event (PRODUCT.md, "Data model").
//!
//! A counting global allocator wraps the system one. It counts per thread, and only while a
//! thread asks it to, so the other tests of this binary, running in parallel, neither disturb
//! the count nor pay for it. Set `SPANFLOW_ALLOC_BACKTRACE=1` to print where the first 20
//! counted allocations come from.

// A `GlobalAlloc` impl is unsafe by definition: the workspace denies `unsafe_code` and this
// module, whose unsafe code only forwards to `System`, is the exception.
#![allow(unsafe_code)]

use spanflow::pipeline::SessionProcessor;
use spanflow_engine::{FieldValue, Record};
use spanflow_operators::evaluate_at::Row;
use spanflow_operators::Program;
use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::path::Path;

struct CountingAllocator;

#[global_allocator]
static ALLOCATOR: CountingAllocator = CountingAllocator;

thread_local! {
    /// Whether this thread is being measured.
    static COUNTING: Cell<bool> = const { Cell::new(false) };
    /// Allocations (and reallocations) counted on this thread.
    static COUNT: Cell<u64> = const { Cell::new(0) };
    /// How many more counted allocations to print a backtrace for.
    static BACKTRACES: Cell<u32> = const { Cell::new(0) };
}

/// Counts one allocation if this thread is measuring. The thread-locals are const-initialised
/// `Cell`s, so touching them never allocates; `try_with` keeps thread teardown safe.
fn note_allocation() {
    let counting = COUNTING.try_with(Cell::get).unwrap_or(false);
    if !counting {
        return;
    }
    let _ = COUNT.try_with(|n| n.set(n.get() + 1));
    if BACKTRACES.try_with(Cell::get).unwrap_or(0) > 0 {
        // Capturing allocates: stop counting meanwhile so this does not recurse.
        COUNTING.with(|c| c.set(false));
        BACKTRACES.with(|b| b.set(b.get() - 1));
        eprintln!(
            "allocation during the measured phase:\n{}",
            std::backtrace::Backtrace::force_capture()
        );
        COUNTING.with(|c| c.set(true));
    }
}

unsafe impl GlobalAlloc for CountingAllocator {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        note_allocation();
        unsafe { System.alloc(layout) }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        note_allocation();
        unsafe { System.alloc_zeroed(layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        note_allocation();
        unsafe { System.realloc(ptr, layout, new_size) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        unsafe { System.dealloc(ptr, layout) }
    }
}

/// Runs `f` and returns how many allocations this thread made meanwhile.
fn allocations_in(f: impl FnOnce()) -> u64 {
    let trace = std::env::var_os("SPANFLOW_ALLOC_BACKTRACE").is_some();
    BACKTRACES.with(|b| b.set(if trace { 20 } else { 0 }));
    COUNT.with(|n| n.set(0));
    COUNTING.with(|c| c.set(true));
    f();
    COUNTING.with(|c| c.set(false));
    COUNT.with(Cell::get)
}

#[test]
fn the_counter_sees_allocations() {
    // Guards the test below against a counter that never counts.
    let n = allocations_in(|| {
        let v: Vec<u64> = std::hint::black_box(Vec::with_capacity(16));
        drop(v);
    });
    assert_eq!(n, 1);
}

const SESSIONS: usize = 30;
const WARM_UP_PER_SESSION: usize = 200;
const MEASURED: usize = 10_000;

/// The heartbeat fields of event `i` of a session: a fixed pattern of player states, CDNs,
/// networks and seeks whose combined period (60 events) is shorter than the warm-up, so every
/// per-session buffer (e.g. a 60 s sliding window's pending changes) has reached its largest
/// size before the measured phase.
fn heartbeat(path: &str, i: usize) -> FieldValue {
    let v = match path {
        "playerState" => ["buffer", "play", "play", "pause"][i % 4],
        "cdn" if i.is_multiple_of(3) => ["CDN1", "CDN2"][(i / 3) % 2],
        "network" if i.is_multiple_of(5) => ["wifi", "cellular"][(i / 5) % 2],
        "userAction" if i % 10 == 7 => "seek",
        _ => return FieldValue::Null,
    };
    FieldValue::Str(v.into())
}

/// Event `i` of session `s`: one event per second per session, sessions slightly offset.
fn record(program: &Program, s: usize, i: usize) -> Record {
    Record {
        time: 1_700_000_000_000 + i as i64 * 1000 + s as i64,
        sequence: Some(i as i64),
        fields: program
            .input
            .fields
            .iter()
            .map(|(path, _)| heartbeat(path, i))
            .collect(),
    }
}

fn load(rel: &str) -> Program {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join(rel);
    spanflow::spec_file::load(&path)
        .program
        .unwrap_or_else(|e| panic!("{rel}: {e:?}"))
}

/// Warms a processor up over every session, then counts the allocations of 10 000 more events
/// of those sessions. Records and keys are built before the measured phase and moved in.
fn steady_state_allocations(program: &Program) -> (u64, u64) {
    let keys: Vec<String> = (0..SESSIONS).map(|s| format!("session-{s:04}")).collect();
    let mut processor = SessionProcessor::new(program);
    let rows = Cell::new(0u64);
    let mut sink = |_: &str, _: &Row| rows.set(rows.get() + 1);
    for i in 0..WARM_UP_PER_SESSION {
        for (s, key) in keys.iter().enumerate() {
            processor
                .push(key, record(program, s, i), &mut sink)
                .expect("in order");
        }
    }
    let measured: Vec<(usize, Record)> = (0..MEASURED)
        .map(|n| {
            let s = n % SESSIONS;
            (s, record(program, s, WARM_UP_PER_SESSION + n / SESSIONS))
        })
        .collect();
    let rows_before = rows.get();
    let mut events = measured.into_iter();
    let n = allocations_in(|| {
        for (s, r) in events.by_ref() {
            processor.push(&keys[s], r, &mut sink).expect("in order");
        }
    });
    assert_eq!(processor.open_sessions(), SESSIONS);
    (n, rows.get() - rows_before)
}

#[test]
fn steady_state_allocates_nothing_per_event() {
    for spec in [
        "dag-specs/video/connection_induced_rebuffering.yaml",
        "dag-specs/video/play_time_on_cdn.yaml",
    ] {
        let program = load(spec);
        let (allocations, rows) = steady_state_allocations(&program);
        assert_eq!(
            allocations, 0,
            "{spec}: {MEASURED} events of open sessions made {allocations} allocations; rerun with \
             SPANFLOW_ALLOC_BACKTRACE=1 to see where"
        );
        // The CIR spec only reports at session end; the play-time spec reports at every event.
        if spec.contains("play_time") {
            assert!(
                rows >= MEASURED as u64,
                "{spec}: only {rows} rows, the digest path was not exercised"
            );
        }
    }
}
