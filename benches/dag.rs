//! W1 as criterion benchmarks: the CIR and play-time specs over decoded generated events,
//! single thread, in memory (records are built outside the timed loop).
//!
//! `cargo bench --bench dag`; `benches/report.rs` reports the same workload with targets.

#[allow(dead_code)]
mod support;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use std::hint::black_box;
use support::workload::{self, Spec, Workload};

const WORKLOAD: Workload = Workload {
    sessions: 100,
    events_per_session: 200,
    events_per_step: 1,
    seed: 42,
};

fn bench(c: &mut Criterion) {
    let mut group = c.benchmark_group("dag");
    group.throughput(Throughput::Elements(WORKLOAD.events() as u64));
    group.sample_size(20);
    eprintln!("dag workload: {WORKLOAD}");
    for spec in Spec::ALL {
        let program = spec.program();
        let events = workload::decoded_events(&program, &WORKLOAD);
        let keys = workload::keys_of(&events);
        let records = workload::records_of(&events);
        group.bench_function(spec.name(), |b| {
            b.iter(|| {
                workload::run_keyed_with(&program, &keys, &records, None, |_, row| {
                    black_box(row);
                })
            })
        });
    }
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
