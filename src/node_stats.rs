//! `run --stats`: what each node of the DAG did over a file run, as an aligned table, so an
//! analyst sees where events were filtered away and which nodes did the work.
//!
//! The counts are the interpreter's (see [`spanflow_engine::Interpreter::enable_stats`]): a
//! node's `in` is what its inputs emitted (a node is skipped only when they emitted nothing; a
//! node without inputs receives what it emits, as `spanflow_node_events_in_total` counts), `out`
//! is the events or state changes it emitted, `steps` the steps it ran.

use spanflow_engine::InterpreterStats;
use spanflow_operators::{Operator, Program};
use std::fmt::Write;

/// The table of `stats` (taken from a run of `program`), one line per node in plan order.
pub fn node_table(program: &Program, stats: &InterpreterStats) -> String {
    let nodes = &program.plan.nodes;
    let outputs = |i: usize| stats.nodes.get(i).map_or(0, |n| n.outputs);
    let total_steps: u64 = stats.nodes.iter().map(|n| n.steps).sum();
    let rows: Vec<[String; 6]> = nodes
        .iter()
        .enumerate()
        .map(|(i, node)| {
            let steps = stats.nodes.get(i).map_or(0, |n| n.steps);
            let received: u64 = if node.inputs.is_empty() {
                outputs(i)
            } else {
                node.inputs.iter().map(|&j| outputs(j)).sum()
            };
            [
                node.id.to_string(),
                node.op.name().to_owned(),
                received.to_string(),
                outputs(i).to_string(),
                steps.to_string(),
                share(steps, total_steps),
            ]
        })
        .collect();
    let header = ["node", "op", "in", "out", "steps", "share of steps"];
    let mut widths = header.map(str::len);
    for row in &rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let mut out = String::new();
    let line = |out: &mut String, cells: [&str; 6]| {
        // Names left-aligned, numbers right-aligned; no trailing spaces.
        let mut text = String::new();
        for (k, (cell, w)) in cells.iter().zip(widths).enumerate() {
            let sep = if k == 0 { "" } else { "  " };
            if k < 2 {
                let _ = write!(text, "{sep}{cell:<w$}");
            } else {
                let _ = write!(text, "{sep}{cell:>w$}");
            }
        }
        out.push_str(text.trim_end());
        out.push('\n');
    };
    line(&mut out, header);
    for row in &rows {
        line(&mut out, row.each_ref().map(String::as_str));
    }
    out
}

/// `part` of `total` as a percentage with one decimal (`-` when nothing ran).
fn share(part: u64, total: u64) -> String {
    if total == 0 {
        "-".to_owned()
    } else {
        format!("{:.1}%", part as f64 * 100.0 / total as f64)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use spanflow_engine::NodeStats;

    const SPEC: &str = "name: t
input: { session_key: s, time: t }
nodes:
  - { id: events, op: event_source }
  - { id: cdn, op: get, inputs: [events], with: { field: cdn, type: string } }
  - { id: on_cdn1, op: equals, inputs: [cdn], with: { value: CDN1 } }
outputs:
  - { name: o, evaluate_at: every_event, columns: [on_cdn1] }
";

    #[test]
    fn rows_follow_the_plan_with_inputs_summed_and_shares_of_all_steps() {
        let program = Program::parse(SPEC, None).expect("valid spec");
        let counts = [(4, 4), (4, 3), (3, 2)];
        let stats = InterpreterStats {
            nodes: counts
                .iter()
                .map(|&(steps, outputs)| NodeStats { steps, outputs })
                .collect(),
            timings: Vec::new(),
        };
        assert_eq!(
            node_table(&program, &stats),
            "\
node     op            in  out  steps  share of steps
events   event_source   4    4      4           36.4%
cdn      get            4    3      4           36.4%
on_cdn1  equals         3    2      3           27.3%
"
        );
    }

    #[test]
    fn a_run_without_steps_has_no_shares() {
        let program = Program::parse(SPEC, None).expect("valid spec");
        let table = node_table(&program, &InterpreterStats::default());
        assert!(table.lines().skip(1).all(|l| l.ends_with(" -")), "{table}");
    }
}
