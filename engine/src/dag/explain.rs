//! `explain`: the validated plan as text, one node per line in execution order.

use super::{Evaluate, Plan};
use std::fmt::Write;

/// Renders the plan: id, operator with inputs and parameters, and output type.
pub fn explain<E: Evaluate>(plan: &Plan<E>) -> String {
    let width = plan.nodes.iter().map(|n| n.id.len()).max().unwrap_or(0);
    let mut text = String::new();
    for n in &plan.nodes {
        let inputs: Vec<&str> = n
            .inputs
            .iter()
            .map(|&i| plan.nodes[i].id.as_str())
            .collect();
        let params = n.op.describe();
        let sep = if params.is_empty() || inputs.is_empty() {
            ""
        } else {
            "; "
        };
        let _ = writeln!(
            text,
            "{:width$}  {}({}{sep}{params}) -> {}",
            n.id,
            n.op.name(),
            inputs.join(", "),
            n.ty
        );
    }
    text
}
