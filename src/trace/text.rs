//! The trace as text, for terminals and snapshots: per node its spans as `[start, end) value`
//! (the last one open: `[start, ∞)`), events as `@t value`; then each output's rows.

use super::model::{Lane, Piece, SessionTrace, Span};
use spanflow_engine::{Scalar, Time};
use std::fmt::Write;

/// Renders `trace` as text (times in epoch ms, as in output rows).
pub fn render(trace: &SessionTrace) -> String {
    let mut s = String::new();
    let _ = writeln!(
        s,
        "{} · session {} · [{}, {}] ms ({} events){}",
        trace.spec,
        trace.key,
        trace.start,
        trace.last,
        trace.events,
        window_note(trace)
    );
    for n in &trace.nodes {
        let _ = writeln!(s, "\n{} ({}, {})", n.id, n.op, n.ty);
        match &n.lane {
            Lane::Records(v) => {
                for (t, k) in v {
                    let noun = if *k == 1 { "record" } else { "records" };
                    let _ = writeln!(s, "  @{t} {k} {noun}");
                }
            }
            Lane::Events(v) => {
                for (t, value) in v {
                    let _ = writeln!(s, "  @{t} {}", value_text(value.as_ref()));
                }
            }
            Lane::State(spans) => {
                for span in spans {
                    let _ = writeln!(s, "  {}", span_text(span));
                }
            }
            Lane::Numeric(pieces) => {
                for p in pieces {
                    let _ = writeln!(s, "  {}", piece_text(p));
                }
            }
        }
        if lane_is_empty(&n.lane) {
            let _ = writeln!(s, "  (nothing in this window)");
        }
    }
    for o in &trace.outputs {
        let _ = writeln!(s, "\noutput {} (at {})", o.name, o.when);
        for (t, values) in &o.rows {
            let cells: Vec<String> = o
                .columns
                .iter()
                .zip(values)
                .map(|(c, v)| format!("{c}={}", value_text(v.as_ref())))
                .collect();
            let _ = writeln!(s, "  @{t} {}", cells.join(" "));
        }
        if o.rows.is_empty() {
            let _ = writeln!(s, "  (no rows in this window)");
        }
    }
    s
}

fn window_note(trace: &SessionTrace) -> String {
    if (trace.from, trace.to) == (trace.start, trace.last) {
        String::new()
    } else {
        format!(", showing [{}, {}]", trace.from, trace.to)
    }
}

fn lane_is_empty(lane: &Lane) -> bool {
    match lane {
        Lane::Records(v) => v.is_empty(),
        Lane::Events(v) => v.is_empty(),
        Lane::State(v) => v.is_empty(),
        Lane::Numeric(v) => v.is_empty(),
    }
}

/// A value as rows show it: strings quoted, undefined as `undefined`.
pub fn value_text(v: Option<&Scalar>) -> String {
    match v {
        Some(s) => s.to_string(),
        None => "undefined".into(),
    }
}

/// `[start, end)` or `[start, ∞)`.
pub fn interval_text(start: Time, end: Option<Time>) -> String {
    match end {
        Some(e) => format!("[{start}, {e})"),
        None => format!("[{start}, ∞)"),
    }
}

fn span_text(span: &Span) -> String {
    format!(
        "{} {}",
        interval_text(span.start, span.end),
        value_text(span.value.as_ref())
    )
}

/// A piece's values: `2`, `0 → 3 (+1/s)`, or `7 (+1/s)` when open.
pub fn piece_values(p: &Piece) -> String {
    let Some(line) = p.line else {
        return "undefined".into();
    };
    if line.per_sec == 0.0 {
        return format!("{}", line.at_start);
    }
    match p.end.and_then(|e| p.value_at(e)) {
        Some(end) => format!("{} → {} ({:+}/s)", line.at_start, end, line.per_sec),
        None => format!("{} ({:+}/s)", line.at_start, line.per_sec),
    }
}

fn piece_text(p: &Piece) -> String {
    format!("{} {}", interval_text(p.start, p.end), piece_values(p))
}
