//! The trace as an SVG picture, the way the Timeline paper's Fig. 1 draws a query: a row per
//! node in plan order (its id and type on the left), time running right with an axis in
//! seconds since the session's start, and each output's evaluation points as vertical rules.
//!
//! - state timelines: coloured spans labelled with their values; booleans as a tall band
//!   (true) or a low one (false);
//! - numeric timelines: their exact piecewise-linear line over a shaded area;
//! - events: ticks with their values;
//! - undefined stretches: hatched.
//!
//! Every mark has a `<title>` (hover text) with its exact values and times; no script.

use super::model::{Lane, NodeLane, OutputLane, Piece, SessionTrace, Span};
use super::text::{interval_text, piece_values, value_text};
use spanflow_engine::{Scalar, Time, ValueType};
use std::fmt::Write;

/// Row label cells alternate these two colours (a screenshot test counts the bands).
pub const NODE_LABEL_COLOURS: [&str; 2] = ["#dbe4f0", "#edf1f7"];
/// The label cells of the output rows.
pub const OUTPUT_LABEL_COLOUR: &str = "#f3e3c3";

const PLOT_COLOURS: [&str; 2] = ["#ffffff", "#f7f8fa"];
const OUTPUT_PLOT_COLOUR: &str = "#fffaf0";
/// Colours of a state's values, by order of first appearance in the node.
const PALETTE: [&str; 10] = [
    "#8ecae6", "#ffc857", "#a7c957", "#f4a261", "#cdb4db", "#84a59d", "#f28482", "#bde0fe",
    "#e9c46a", "#b8c0ff",
];
const TRUE_COLOUR: &str = "#2a9d8f";
const FALSE_COLOUR: &str = "#c3c9d2";
const RULE_COLOUR: &str = "#c1121f";
const EVENT_COLOUR: &str = "#264653";
const LINE_COLOUR: &str = "#1d4ed8";

const TITLE_H: f64 = 54.0;
const AXIS_H: f64 = 30.0;
const ROW_H: f64 = 40.0;
const LABEL_W: f64 = 250.0;
const GUTTER: f64 = 14.0;
const RIGHT_PAD: f64 = 90.0;
const BOTTOM_PAD: f64 = 12.0;
/// Plot width per input instant: room for a short label at each.
const PX_PER_INSTANT: f64 = 40.0;
/// Width of one character of 11 px text, to decide whether a label fits.
const CHAR_W: f64 = 6.4;

/// The plot's width: wide enough for the instants drawn, within bounds (wider pictures
/// scroll in the HTML page; `--from`/`--to` zoom in).
fn plot_width(trace: &SessionTrace) -> f64 {
    let mut instants: Vec<Time> = trace
        .nodes
        .iter()
        .filter_map(|n| match &n.lane {
            Lane::Records(v) => Some(v.iter().map(|(t, _)| *t).collect::<Vec<_>>()),
            _ => None,
        })
        .flatten()
        .collect();
    instants.dedup();
    (instants.len() as f64 * PX_PER_INSTANT).clamp(1_000.0, 16_000.0)
}

/// Maps event time to x (and knows the trace, for hover text).
struct Scale<'a> {
    trace: &'a SessionTrace,
    from: Time,
    /// The drawn range ends a little after the window, so changes at its last instant show.
    until: f64,
    x0: f64,
    width: f64,
}

impl Scale<'_> {
    fn x(&self, t: Time) -> f64 {
        let f = (t - self.from) as f64 / (self.until - self.from as f64);
        self.x0 + f.clamp(0.0, 1.0) * self.width
    }

    fn right(&self) -> f64 {
        self.x0 + self.width
    }
}

/// The SVG text of `trace`.
pub fn render(trace: &SessionTrace) -> String {
    let width = plot_width(trace);
    let span = (trace.to - trace.from).max(1) as f64;
    let scale = Scale {
        trace,
        from: trace.from,
        until: trace.to as f64 + (span * 0.03).max(1.0),
        x0: LABEL_W + GUTTER,
        width,
    };
    let rows = trace.nodes.len() + trace.outputs.len();
    let total_w = LABEL_W + GUTTER + width + RIGHT_PAD;
    let total_h = TITLE_H + AXIS_H + rows as f64 * ROW_H + BOTTOM_PAD;
    let mut s = String::new();
    let _ = write!(
        s,
        r##"<svg xmlns="http://www.w3.org/2000/svg" width="{total_w}" height="{total_h}" viewBox="0 0 {total_w} {total_h}" font-family="DejaVu Sans, Helvetica, Arial, sans-serif" font-size="11">"##
    );
    s.push_str(concat!(
        r##"<defs><pattern id="undefined" width="6" height="6" patternUnits="userSpaceOnUse" "##,
        r##"patternTransform="rotate(45)"><rect width="6" height="6" fill="#f1f2f4"/>"##,
        r##"<line x1="0" y1="0" x2="0" y2="6" stroke="#b9bec7" stroke-width="2"/></pattern></defs>"##
    ));
    let _ = write!(
        s,
        r##"<rect width="{total_w}" height="{total_h}" fill="#ffffff"/>"##
    );
    title(&mut s, trace);
    let rows_top = TITLE_H + AXIS_H;
    let rows_bottom = rows_top + rows as f64 * ROW_H;
    axis(&mut s, trace, &scale, rows_top, rows_bottom);
    for (i, node) in trace.nodes.iter().enumerate() {
        let top = rows_top + i as f64 * ROW_H;
        row_background(
            &mut s,
            top,
            total_w,
            NODE_LABEL_COLOURS[i % 2],
            PLOT_COLOURS[i % 2],
        );
        node_label(&mut s, node, top);
        lane(&mut s, node, &scale, top);
    }
    for (k, out) in trace.outputs.iter().enumerate() {
        let top = rows_top + (trace.nodes.len() + k) as f64 * ROW_H;
        row_background(
            &mut s,
            top,
            total_w,
            OUTPUT_LABEL_COLOUR,
            OUTPUT_PLOT_COLOUR,
        );
        label(
            &mut s,
            top,
            &format!("output {}", out.name),
            &format!("at {}", out.when),
        );
    }
    for (k, out) in trace.outputs.iter().enumerate() {
        let top = rows_top + (trace.nodes.len() + k) as f64 * ROW_H;
        evaluation_rules(&mut s, trace, out, &scale, rows_top, top);
    }
    s.push_str("</svg>\n");
    s
}

/// Text content, escaped.
fn esc(text: &str) -> std::borrow::Cow<'_, str> {
    html_escape::encode_text(text)
}

/// A value as a label in the picture: strings without quotes, numbers to 3 decimals (hover
/// text has them exact).
fn label_text(v: Option<&Scalar>) -> String {
    match v {
        Some(Scalar::Str(s)) => s.to_string(),
        Some(Scalar::F64(x)) => number(*x),
        v => value_text(v),
    }
}

/// Seconds since the session's start, for labels: `12.5 s`.
fn rel_secs(trace: &SessionTrace, t: Time) -> String {
    format!("{} s", (t - trace.start) as f64 / 1000.0)
}

/// A time for hover text: epoch ms and seconds since the session's start.
fn when(trace: &SessionTrace, t: Time) -> String {
    format!("{t} ms (+{})", rel_secs(trace, t))
}

/// `[a, b) ms (+x s to +y s)`.
fn interval_when(trace: &SessionTrace, start: Time, end: Option<Time>) -> String {
    let rel = match end {
        Some(e) => format!("+{} to +{}", rel_secs(trace, start), rel_secs(trace, e)),
        None => format!("from +{}", rel_secs(trace, start)),
    };
    format!("{} ms ({rel})", interval_text(start, end))
}

fn title(s: &mut String, trace: &SessionTrace) {
    let _ = write!(
        s,
        r##"<text x="14" y="22" font-size="15" font-weight="bold">{} · session {}</text>"##,
        esc(&trace.spec),
        esc(&trace.key)
    );
    let mut sub = format!(
        "{} events from {} ms to {} ms ({}); axis: seconds since the session's start; hatched: undefined",
        trace.events,
        trace.start,
        trace.last,
        rel_secs(trace, trace.last)
    );
    if (trace.from, trace.to) != (trace.start, trace.last) {
        sub.push_str(&format!("; showing {} ms to {} ms", trace.from, trace.to));
    }
    let _ = write!(
        s,
        r##"<text x="14" y="41" fill="#555">{}</text>"##,
        esc(&sub)
    );
}

/// A tick step in ms giving ticks at least `min_px` apart.
fn tick_step(span_ms: f64, width: f64, min_px: f64) -> i64 {
    let mut step: i64 = 1;
    loop {
        for m in [1, 2, 5] {
            let candidate = step * m;
            if width * candidate as f64 / span_ms >= min_px {
                return candidate;
            }
        }
        step *= 10;
    }
}

fn axis(s: &mut String, trace: &SessionTrace, scale: &Scale, top: f64, bottom: f64) {
    let y = top - 6.0;
    let _ = write!(
        s,
        r##"<line x1="{}" y1="{y}" x2="{}" y2="{y}" stroke="#333"/>"##,
        scale.x0,
        scale.right()
    );
    let step = tick_step(scale.until - scale.from as f64, scale.width, 80.0);
    // Ticks at whole multiples of the step since the session's start.
    let first = trace.start + (trace.from - trace.start).div_euclid(step) * step;
    let mut t = first;
    while (t as f64) <= scale.until {
        if t >= trace.from {
            let x = scale.x(t);
            let _ = write!(
                s,
                r##"<line x1="{x}" y1="{}" x2="{x}" y2="{y}" stroke="#333"/><line x1="{x}" y1="{top}" x2="{x}" y2="{bottom}" stroke="#e3e6ea"/><text x="{x}" y="{}" text-anchor="middle">{}</text>"##,
                y - 4.0,
                y - 8.0,
                esc(&rel_secs(trace, t))
            );
        }
        t += step;
    }
}

fn row_background(s: &mut String, top: f64, total_w: f64, label: &str, plot: &str) {
    let _ = writeln!(
        s,
        r##"<rect x="0" y="{top}" width="{LABEL_W}" height="{ROW_H}" fill="{label}"/><rect x="{LABEL_W}" y="{top}" width="{}" height="{ROW_H}" fill="{plot}" fill-opacity="0.85"/>"##,
        total_w - LABEL_W
    );
}

fn label(s: &mut String, top: f64, name: &str, detail: &str) {
    let _ = writeln!(
        s,
        r##"<text x="14" y="{}" font-size="12" font-weight="bold">{}</text><text x="14" y="{}" font-size="10" fill="#555">{}</text>"##,
        top + 17.0,
        esc(name),
        top + 31.0,
        esc(detail)
    );
}

fn node_label(s: &mut String, node: &NodeLane, top: f64) {
    label(s, top, &node.id, &format!("{} · {}", node.op, node.ty));
}

fn fits(text: &str, width: f64) -> bool {
    text.chars().count() as f64 * CHAR_W + 8.0 <= width
}

fn lane(s: &mut String, node: &NodeLane, scale: &Scale, top: f64) {
    match &node.lane {
        Lane::Records(v) => {
            let items: Vec<(Time, String)> = v
                .iter()
                .map(|(t, k)| {
                    (
                        *t,
                        if *k == 1 {
                            String::new()
                        } else {
                            format!("×{k}")
                        },
                    )
                })
                .collect();
            ticks(s, node, scale, top, &items, "#8d99ae", |i| match v[i].1 {
                1 => "1 record".into(),
                k => format!("{k} records"),
            });
        }
        Lane::Events(v) => {
            let items: Vec<(Time, String)> = v
                .iter()
                .map(|(t, value)| (*t, label_text(value.as_ref())))
                .collect();
            let hovers: Vec<String> = v
                .iter()
                .map(|(_, value)| value_text(value.as_ref()))
                .collect();
            ticks(s, node, scale, top, &items, EVENT_COLOUR, |i| {
                hovers[i].clone()
            });
        }
        Lane::State(spans) if node.ty.value == ValueType::Bool => {
            for span in spans {
                bool_span(s, node, scale, top, span);
            }
        }
        Lane::State(spans) => {
            let mut seen: Vec<&Scalar> = Vec::new();
            for span in spans {
                let colour = match &span.value {
                    Some(v) => {
                        let k = seen.iter().position(|s| *s == v).unwrap_or_else(|| {
                            seen.push(v);
                            seen.len() - 1
                        });
                        PALETTE[k % PALETTE.len()]
                    }
                    None => "url(#undefined)",
                };
                state_span(s, node, scale, top, span, colour);
            }
        }
        Lane::Numeric(pieces) => numeric(s, node, scale, top, pieces),
    }
}

/// The span's x range on the plot.
fn span_x(scale: &Scale, start: Time, end: Option<Time>) -> (f64, f64) {
    let x1 = scale.x(start);
    let x2 = end.map_or(scale.right(), |e| scale.x(e));
    (x1, x2)
}

fn hover(s: &mut String, node: &NodeLane, what: &str) {
    let _ = write!(s, "<title>{}: {}</title>", esc(&node.id), esc(what));
}

fn state_span(s: &mut String, node: &NodeLane, scale: &Scale, top: f64, span: &Span, colour: &str) {
    let (x1, x2) = span_x(scale, span.start, span.end);
    let text = label_text(span.value.as_ref());
    let _ = write!(
        s,
        r##"<g><rect x="{x1}" y="{}" width="{}" height="{}" fill="{colour}" stroke="#ffffff" stroke-width="1"/>"##,
        top + 6.0,
        (x2 - x1).max(0.5),
        ROW_H - 12.0
    );
    if span.value.is_some() && fits(&text, x2 - x1) {
        let _ = write!(
            s,
            r##"<text x="{}" y="{}">{}</text>"##,
            x1 + 4.0,
            top + ROW_H / 2.0 + 4.0,
            esc(&text)
        );
    }
    hover(
        s,
        node,
        &format!(
            "{} over {}",
            value_text(span.value.as_ref()),
            interval_when(scale.trace, span.start, span.end)
        ),
    );
    s.push_str("</g>\n");
}

fn bool_span(s: &mut String, node: &NodeLane, scale: &Scale, top: f64, span: &Span) {
    let (x1, x2) = span_x(scale, span.start, span.end);
    let w = (x2 - x1).max(0.5);
    let text = value_text(span.value.as_ref());
    let (y, h, fill) = match span.value {
        Some(Scalar::Bool(true)) => (top + 6.0, ROW_H - 12.0, TRUE_COLOUR),
        Some(_) => (top + ROW_H - 12.0, 6.0, FALSE_COLOUR),
        None => (top + 6.0, ROW_H - 12.0, "url(#undefined)"),
    };
    let _ = write!(
        s,
        r##"<g><rect x="{x1}" y="{y}" width="{w}" height="{h}" fill="{fill}"/>"##
    );
    if matches!(span.value, Some(Scalar::Bool(true))) && fits(&text, w) {
        let _ = write!(
            s,
            r##"<text x="{}" y="{}" fill="#ffffff">true</text>"##,
            x1 + 4.0,
            top + ROW_H / 2.0 + 4.0
        );
    } else if matches!(span.value, Some(Scalar::Bool(false))) && fits(&text, w) {
        let _ = write!(
            s,
            r##"<text x="{}" y="{}" fill="#6b7280" font-size="10">false</text>"##,
            x1 + 4.0,
            top + ROW_H - 16.0
        );
    }
    hover(
        s,
        node,
        &format!(
            "{text} over {}",
            interval_when(scale.trace, span.start, span.end)
        ),
    );
    s.push_str("</g>\n");
}

fn ticks(
    s: &mut String,
    node: &NodeLane,
    scale: &Scale,
    top: f64,
    items: &[(Time, String)],
    colour: &str,
    describe: impl Fn(usize) -> String,
) {
    // A label is drawn when it does not run into the next labelled event.
    let mut label_end = f64::MIN;
    for (i, (t, text)) in items.iter().enumerate() {
        let x = scale.x(*t);
        let _ = write!(
            s,
            r##"<g><rect x="{}" y="{}" width="8" height="{}" fill="transparent"/><line x1="{x}" y1="{}" x2="{x}" y2="{}" stroke="{colour}" stroke-width="1.5"/><circle cx="{x}" cy="{}" r="2.5" fill="{colour}"/>"##,
            x - 4.0,
            top + 4.0,
            ROW_H - 8.0,
            top + 8.0,
            top + ROW_H - 6.0,
            top + ROW_H - 6.0,
        );
        let next_x = items[i + 1..]
            .iter()
            .map(|(u, _)| scale.x(*u))
            .find(|&u| u > x)
            .unwrap_or(scale.right() + RIGHT_PAD);
        if !text.is_empty() && x + 3.0 > label_end && fits(text, next_x - x) {
            let _ = write!(
                s,
                r##"<text x="{}" y="{}" font-size="10">{}</text>"##,
                x + 3.0,
                top + 16.0,
                esc(text)
            );
            label_end = x + 3.0 + text.chars().count() as f64 * CHAR_W;
        }
        hover(
            s,
            node,
            &format!("{} at {}", describe(i), when(scale.trace, *t)),
        );
        s.push_str("</g>\n");
    }
}

fn numeric(s: &mut String, node: &NodeLane, scale: &Scale, top: f64, pieces: &[Piece]) {
    // The piece ends as drawn (open and clipped pieces end at the plot's edge).
    let right_t = scale.until.floor() as Time;
    let ends: Vec<(Time, Time)> = pieces
        .iter()
        .map(|p| {
            (
                p.start.max(scale.from),
                p.end.unwrap_or(right_t).min(right_t),
            )
        })
        .collect();
    let values: Vec<f64> = pieces
        .iter()
        .zip(&ends)
        .flat_map(|(p, &(a, b))| [p.value_at(a), p.value_at(b)])
        .flatten()
        .filter(|v| v.is_finite())
        .collect();
    let lo = values
        .iter()
        .copied()
        .fold(f64::INFINITY, f64::min)
        .min(0.0);
    let hi = values
        .iter()
        .copied()
        .fold(f64::NEG_INFINITY, f64::max)
        .max(lo);
    let (y_top, y_bottom) = (top + 8.0, top + ROW_H - 5.0);
    let y = |v: f64| {
        if hi > lo {
            y_bottom - (v - lo) / (hi - lo) * (y_bottom - y_top)
        } else {
            y_bottom
        }
    };
    let mut label_end = f64::MIN;
    for (p, &(a, b)) in pieces.iter().zip(&ends) {
        let (x1, x2) = (scale.x(a), scale.x(b));
        let what = format!(
            "{} over {}",
            piece_values(p),
            interval_when(scale.trace, p.start, p.end)
        );
        match (p.value_at(a), p.value_at(b)) {
            (Some(v1), Some(v2)) if v1.is_finite() && v2.is_finite() => {
                let (y1, y2) = (y(v1), y(v2));
                let _ = write!(
                    s,
                    r##"<g><polygon points="{x1},{y_bottom} {x1},{y1} {x2},{y2} {x2},{y_bottom}" fill="#bfdbfe" fill-opacity="0.7"/><line x1="{x1}" y1="{y1}" x2="{x2}" y2="{y2}" stroke="{LINE_COLOUR}" stroke-width="2"/>"##
                );
                let text = number(v1);
                if x1 > label_end && fits(&text, x2 - x1) {
                    let _ = write!(
                        s,
                        r##"<text x="{}" y="{}" font-size="10" fill="{LINE_COLOUR}" stroke="#ffffff" stroke-width="3" paint-order="stroke">{}</text>"##,
                        x1 + 3.0,
                        (y1 - 3.0).max(top + 11.0),
                        esc(&text)
                    );
                    label_end = x1 + 3.0 + text.chars().count() as f64 * CHAR_W;
                }
            }
            _ => {
                let _ = write!(
                    s,
                    r##"<g><rect x="{x1}" y="{}" width="{}" height="{}" fill="url(#undefined)"/>"##,
                    top + 6.0,
                    (x2 - x1).max(0.5),
                    ROW_H - 12.0
                );
            }
        }
        hover(s, node, &what);
        s.push_str("</g>\n");
    }
}

/// A number as a label: up to 3 decimals (hover text has the exact value).
fn number(v: f64) -> String {
    let r = (v * 1000.0).round() / 1000.0;
    format!("{r}")
}

fn evaluation_rules(
    s: &mut String,
    trace: &SessionTrace,
    out: &OutputLane,
    scale: &Scale,
    rows_top: f64,
    top: f64,
) {
    let mut label_end = f64::MIN;
    for (i, (t, values)) in out.rows.iter().enumerate() {
        let x = scale.x(*t);
        let cells: Vec<String> = out
            .columns
            .iter()
            .zip(values)
            .map(|(c, v)| format!("{c} = {}", value_text(v.as_ref())))
            .collect();
        let _ = write!(
            s,
            r##"<g><line x1="{x}" y1="{rows_top}" x2="{x}" y2="{}" stroke="{RULE_COLOUR}" stroke-width="1.2" stroke-dasharray="4 3" stroke-opacity="0.75"/><rect x="{}" y="{top}" width="8" height="{ROW_H}" fill="transparent"/><path d="M{x},{} l5,5 l-5,5 l-5,-5 z" fill="{RULE_COLOUR}"/>"##,
            top + ROW_H,
            x - 4.0,
            top + 6.0,
        );
        let text = cells.join(", ");
        let next_x = out.rows[i + 1..]
            .iter()
            .map(|(u, _)| scale.x(*u))
            .find(|&u| u > x)
            .unwrap_or(f64::MAX);
        let width = text.chars().count() as f64 * CHAR_W;
        // Near the right edge the label goes left of the rule.
        let (tx, anchor, start) = if x + 8.0 + width > scale.right() + RIGHT_PAD {
            (x - 8.0, "end", x - 8.0 - width)
        } else {
            (x + 8.0, "start", x + 8.0)
        };
        if start > label_end && (anchor == "end" || next_x - x > width + 12.0) {
            let _ = write!(
                s,
                r##"<text x="{tx}" y="{}" text-anchor="{anchor}" fill="{RULE_COLOUR}">{}</text>"##,
                top + ROW_H / 2.0 + 4.0,
                esc(&text)
            );
            label_end = start + width;
        }
        let _ = write!(
            s,
            "<title>{}: row at {}\n{}</title></g>\n",
            esc(&out.name),
            esc(&when(trace, *t)),
            esc(&cells.join("\n"))
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ticks_are_at_least_the_asked_distance_apart() {
        assert_eq!(tick_step(30_000.0, 900.0, 80.0), 5_000);
        assert_eq!(tick_step(1_000.0, 900.0, 80.0), 100);
        assert_eq!(tick_step(3_600_000.0, 1_000.0, 80.0), 500_000);
    }

    #[test]
    fn labels_are_escaped() {
        assert_eq!(esc("a<b & c"), "a&lt;b &amp; c");
    }
}
