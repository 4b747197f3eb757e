//! The DAG as a picture: Mermaid (renders in GitHub and most wikis) or Graphviz DOT.
//!
//! Node ids, parameters and output names come from the spec and may hold any text (a compared
//! value like `"<none>"`), so every label is escaped for its language, and Mermaid node ids that
//! are not plain identifiers are replaced by generated ones.

use spanflow_engine::Evaluate;
use spanflow_operators::Program;
use std::fmt::Write;

/// A node's label text: operator with its parameters (as `explain` shows them) and output type.
fn summary(op: &impl Evaluate) -> String {
    let params = op.describe();
    if params.is_empty() {
        op.name().to_owned()
    } else {
        format!("{}({params})", op.name())
    }
}

/// Mermaid flowchart, inputs on the left; outputs drawn as rounded nodes.
pub fn mermaid(program: &Program) -> String {
    let nodes = &program.plan.nodes;
    let ids: Vec<String> = nodes
        .iter()
        .enumerate()
        .map(|(i, n)| mermaid_id(&n.id).unwrap_or_else(|| format!("_n{i}")))
        .collect();
    let mut s = String::from("flowchart LR\n");
    for (n, id) in nodes.iter().zip(&ids) {
        let _ = writeln!(
            s,
            "  {id}[\"{}<br/><small>{} → {}</small>\"]",
            mermaid_text(&n.id),
            mermaid_text(&summary(&n.op)),
            mermaid_text(&n.ty.to_string())
        );
    }
    for (n, id) in nodes.iter().zip(&ids) {
        for &i in &n.inputs {
            let _ = writeln!(s, "  {} --> {id}", ids[i]);
        }
    }
    for (k, o) in program.outputs.iter().enumerate() {
        // Node ids never start with `_`, so output ids cannot collide with them.
        let out = match mermaid_id(&o.name) {
            Some(name) => format!("_out_{name}"),
            None => format!("_out{k}"),
        };
        let _ = writeln!(s, "  {out}([\"output {}\"])", mermaid_text(&o.name));
        for c in &o.columns {
            if let Some(i) = program.plan.index_of(c) {
                let _ = writeln!(s, "  {} -.-> {out}", ids[i]);
            }
        }
    }
    s
}

/// Words Mermaid's flowchart grammar reads as keywords at the start of a statement.
const MERMAID_KEYWORDS: &[&str] = &[
    "end",
    "graph",
    "flowchart",
    "subgraph",
    "style",
    "linkstyle",
    "classdef",
    "class",
    "click",
    "call",
    "href",
    "callback",
    "direction",
    "default",
    "interpolate",
    "acctitle",
    "accdescr",
];

/// `id` itself when Mermaid reads it as a plain node id (an ASCII letter, then letters, digits
/// or `_`, and no keyword); `None` when a generated id must stand in.
fn mermaid_id(id: &str) -> Option<String> {
    let mut chars = id.chars();
    let plain = chars.next().is_some_and(|c| c.is_ascii_alphabetic())
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
        && !MERMAID_KEYWORDS.contains(&id.to_ascii_lowercase().as_str());
    plain.then(|| id.to_owned())
}

/// Text for inside a quoted Mermaid label: characters Mermaid or HTML would interpret become
/// Mermaid entity codes (`#quot;`, `#lt;`, …; `#` itself too, as it starts a code).
fn mermaid_text(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '"' => out.push_str("#quot;"),
            '<' => out.push_str("#lt;"),
            '>' => out.push_str("#gt;"),
            '&' => out.push_str("#amp;"),
            '#' => out.push_str("#35;"),
            c if c.is_control() => {
                let _ = write!(out, "#{};", u32::from(c));
            }
            c => out.push(c),
        }
    }
    out
}

/// Graphviz DOT digraph.
pub fn dot(program: &Program) -> String {
    let mut s = format!(
        "digraph \"{}\" {{\n  rankdir=LR;\n  node [shape=box, fontname=\"Helvetica\"];\n",
        dot_text(&program.name)
    );
    let nodes = &program.plan.nodes;
    for n in nodes {
        let _ = writeln!(
            s,
            "  \"{}\" [label=\"{}\\n{} → {}\"];",
            dot_text(&n.id),
            dot_text(&n.id),
            dot_text(&summary(&n.op)),
            dot_text(&n.ty.to_string())
        );
    }
    for n in nodes {
        for &i in &n.inputs {
            let _ = writeln!(
                s,
                "  \"{}\" -> \"{}\";",
                dot_text(&nodes[i].id),
                dot_text(&n.id)
            );
        }
    }
    for o in &program.outputs {
        let out = dot_text(&format!("output {}", o.name));
        let _ = writeln!(s, "  \"{out}\" [shape=oval];");
        for c in &o.columns {
            let _ = writeln!(s, "  \"{}\" -> \"{out}\" [style=dashed];", dot_text(c));
        }
    }
    s.push_str("}\n");
    s
}

/// Text for inside a double-quoted DOT string: `"` and `\` escaped (a lone `\` would start a
/// label escape such as `\N`, the node's name), line breaks as `\n`.
fn dot_text(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => {}
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A spec whose ids, compared value and output name hold characters both languages treat
    /// specially.
    const SPEC: &str = r##"
name: 'odd "names"'
input: { session_key: s, time: t }
nodes:
  - id: events
    op: event_source
  - id: state updates
    op: get
    inputs: [events]
    with: { field: state, type: string }
  - id: end
    op: latest_event_to_state
    inputs: [state updates]
  - id: is_odd
    op: equals
    inputs: [end]
    with: { value: "<none> & \"x\" #1 \\N" }
outputs:
  - name: "a<b>"
    evaluate_at: session_end
    columns: [is_odd]
"##;

    fn program() -> Program {
        Program::parse(SPEC, None).unwrap_or_else(|p| panic!("{p:?}"))
    }

    /// The text between the quotes of every `["..."]` / `(["..."])` label.
    fn mermaid_labels(text: &str) -> Vec<&str> {
        text.lines()
            .filter_map(|l| {
                let start = l.find("[\"")? + 2;
                let end = l.rfind("\"]")?;
                Some(&l[start..end])
            })
            .collect()
    }

    #[test]
    fn mermaid_labels_escape_quotes_angle_brackets_and_entities() {
        let text = mermaid(&program());
        let labels = mermaid_labels(&text);
        assert_eq!(labels.len(), 5, "{text}");
        for label in &labels {
            // Only the label's own markup remains as HTML.
            let rest = label
                .replace("<br/>", "")
                .replace("<small>", "")
                .replace("</small>", "");
            assert!(
                !rest.contains(['<', '>', '"', '&']),
                "unescaped label {label} in:\n{text}"
            );
        }
        assert!(
            text.contains(
                "equals(value: #quot;#lt;none#gt; #amp; \\#quot;x\\#quot; #35;1 \\\\N#quot;)"
            ),
            "{text}"
        );
        assert!(text.contains("state#lt;bool#gt;"), "{text}");
        assert!(text.contains("([\"output a#lt;b#gt;\"])"), "{text}");
        // Ids that are not plain identifiers, or are keywords, are replaced.
        assert!(text.contains("  _n1[\"state updates<br/>"), "{text}");
        assert!(text.contains("  _n2[\"end<br/>"), "{text}");
        assert!(text.contains("  _n1 --> _n2\n  _n2 --> is_odd\n"), "{text}");
        assert!(text.contains("  is_odd -.-> _out0\n"), "{text}");
    }

    #[test]
    fn dot_strings_escape_quotes_and_backslashes() {
        let text = dot(&program());
        assert!(
            text.starts_with("digraph \"odd \\\"names\\\"\" {"),
            "{text}"
        );
        assert!(
            text.contains(r#"equals(value: \"<none> & \\\"x\\\" #1 \\\\N\") → state<bool>"];"#),
            "{text}"
        );
        assert!(text.contains("\"state updates\" -> \"end\";"), "{text}");
        assert!(text.contains("\"is_odd\" -> \"output a<b>\""), "{text}");
        // Outside escapes, every line has an even number of quotes: no string is cut short.
        for line in text.lines() {
            let quotes = line
                .replace("\\\\", "")
                .replace("\\\"", "")
                .matches('"')
                .count();
            assert_eq!(quotes % 2, 0, "unbalanced quotes in {line}");
        }
    }
}
