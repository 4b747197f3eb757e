//! The DAG as a picture: Mermaid (renders in GitHub and most wikis) or Graphviz DOT.

use spanflow_engine::Evaluate;
use spanflow_operators::Program;
use std::fmt::Write;

/// Mermaid flowchart, inputs on the left; outputs drawn as rounded nodes.
pub fn mermaid(program: &Program) -> String {
    let mut s = String::from("flowchart LR\n");
    for n in &program.plan.nodes {
        let _ = writeln!(
            s,
            "  {}[\"{}<br/><small>{} → {}</small>\"]",
            n.id,
            n.id,
            n.op.name(),
            n.ty
        );
    }
    for n in &program.plan.nodes {
        for &i in &n.inputs {
            let _ = writeln!(s, "  {} --> {}", program.plan.nodes[i].id, n.id);
        }
    }
    for o in &program.outputs {
        let _ = writeln!(s, "  out_{}([\"output {}\"])", o.name, o.name);
        for c in &o.columns {
            let _ = writeln!(s, "  {c} -.-> out_{}", o.name);
        }
    }
    s
}

/// Graphviz DOT digraph.
pub fn dot(program: &Program) -> String {
    let mut s = format!(
        "digraph \"{}\" {{\n  rankdir=LR;\n  node [shape=box, fontname=\"Helvetica\"];\n",
        program.name
    );
    for n in &program.plan.nodes {
        let _ = writeln!(
            s,
            "  \"{}\" [label=\"{}\\n{} → {}\"];",
            n.id,
            n.id,
            n.op.name(),
            n.ty
        );
    }
    for n in &program.plan.nodes {
        for &i in &n.inputs {
            let _ = writeln!(s, "  \"{}\" -> \"{}\";", program.plan.nodes[i].id, n.id);
        }
    }
    for o in &program.outputs {
        let _ = writeln!(s, "  \"output {}\" [shape=oval];", o.name);
        for c in &o.columns {
            let _ = writeln!(s, "  \"{c}\" -> \"output {}\" [style=dashed];", o.name);
        }
    }
    s.push_str("}\n");
    s
}
