//! Graph and type checks that turn declared nodes into a [`Plan`], reporting every problem.

use super::{Evaluate, Plan, PlanNode};
use crate::error::{closest, Location, PlanError};
use crate::kind::TimelineType;
use smallvec::SmallVec;
use std::collections::HashMap;

/// A node as declared in a spec, before any check.
#[derive(Clone, Debug)]
pub struct NodeDecl<E> {
    /// The node id.
    pub id: String,
    /// Where the id is written.
    pub at: Option<Location>,
    /// The input node ids, each with where it is written.
    pub inputs: Vec<(String, Option<Location>)>,
    /// The parsed operator.
    pub op: E,
}

/// Checks ids, inputs, cycles and types, and returns the plan in topological order.
///
/// All problems are reported at once: unknown inputs, duplicate ids and cycles first; types are
/// checked for every node whose inputs are themselves sound.
pub fn build_plan<E: Evaluate>(decls: Vec<NodeDecl<E>>) -> Result<Plan<E>, Vec<PlanError>> {
    let mut errors = Vec::new();
    let mut index: HashMap<&str, usize> = HashMap::new();
    for (i, d) in decls.iter().enumerate() {
        if let Some(&first) = index.get(d.id.as_str()) {
            errors.push(PlanError::DuplicateId {
                id: d.id.clone(),
                first_at: decls[first].at,
                at: d.at,
            });
        } else {
            index.insert(&d.id, i);
        }
    }

    // Resolve inputs; unknown ones are reported and left out of the graph.
    let mut edges: Vec<SmallVec<[usize; 4]>> = Vec::with_capacity(decls.len());
    let mut broken = vec![false; decls.len()];
    for (i, d) in decls.iter().enumerate() {
        let mut resolved = SmallVec::new();
        for (name, at) in &d.inputs {
            match index.get(name.as_str()) {
                Some(&j) => resolved.push(j),
                None => {
                    broken[i] = true;
                    errors.push(PlanError::UnknownInput {
                        node: d.id.clone(),
                        input: name.clone(),
                        suggestion: closest(
                            name,
                            decls.iter().map(|d| d.id.as_str()).filter(|id| *id != d.id),
                        ),
                        at: at.or(d.at),
                    });
                }
            }
        }
        edges.push(resolved);
    }

    let order = match topological_order(&edges) {
        Ok(order) => order,
        Err(cycle) => {
            let path: Vec<String> = cycle.iter().map(|&i| decls[i].id.clone()).collect();
            errors.push(PlanError::Cycle {
                at: decls[cycle[0]].at,
                path,
            });
            return Err(errors);
        }
    };

    // Type-check in topological order; a node with a broken input is skipped, not blamed again.
    let mut types: Vec<Option<TimelineType>> = vec![None; decls.len()];
    for &i in &order {
        if broken[i] || edges[i].iter().any(|&j| broken[j]) {
            broken[i] = true;
            continue;
        }
        let input_types: SmallVec<[TimelineType; 4]> =
            edges[i].iter().filter_map(|&j| types[j]).collect();
        match decls[i].op.output_type(&input_types) {
            Ok(t) => types[i] = Some(t),
            Err(e) => {
                broken[i] = true;
                let input = e.input.and_then(|k| decls[i].inputs.get(k));
                errors.push(PlanError::Type {
                    node: decls[i].id.clone(),
                    op: decls[i].op.name().to_string(),
                    input: input.map(|(n, _)| n.clone()),
                    message: e.message,
                    at: input.and_then(|(_, at)| *at).or(decls[i].at),
                });
            }
        }
    }
    if !errors.is_empty() {
        return Err(errors);
    }

    // Renumber into topological order.
    let mut new_index = vec![0; decls.len()];
    for (pos, &i) in order.iter().enumerate() {
        new_index[i] = pos;
    }
    let mut slots: Vec<Option<NodeDecl<E>>> = decls.into_iter().map(Some).collect();
    let nodes = order
        .iter()
        .map(|&i| {
            let d = slots[i].take().expect("each node is placed once");
            PlanNode {
                id: d.id,
                op: d.op,
                inputs: edges[i].iter().map(|&j| new_index[j]).collect(),
                ty: types[i].expect("typed when no errors"),
                at: d.at,
            }
        })
        .collect();
    Ok(Plan { nodes })
}

/// Kahn's algorithm, keeping declaration order among ready nodes; on a cycle, returns one cycle
/// as a path whose first node is repeated at the end.
fn topological_order(edges: &[SmallVec<[usize; 4]>]) -> Result<Vec<usize>, Vec<usize>> {
    let n = edges.len();
    let mut pending: Vec<usize> = edges.iter().map(|e| e.len()).collect();
    let mut consumers: Vec<Vec<usize>> = vec![Vec::new(); n];
    for (i, e) in edges.iter().enumerate() {
        for &j in e {
            consumers[j].push(i);
        }
    }
    let mut ready: std::collections::BTreeSet<usize> =
        (0..n).filter(|&i| pending[i] == 0).collect();
    let mut order = Vec::with_capacity(n);
    while let Some(i) = ready.pop_first() {
        order.push(i);
        for &c in &consumers[i] {
            pending[c] -= 1;
            if pending[c] == 0 {
                ready.insert(c);
            }
        }
    }
    if order.len() == n {
        return Ok(order);
    }
    // Walk inputs from a node left in a cycle until one repeats.
    let start = (0..n).find(|&i| pending[i] > 0).expect("a node is left");
    let mut seen = vec![usize::MAX; n];
    let mut path = Vec::new();
    let mut cur = start;
    while seen[cur] == usize::MAX {
        seen[cur] = path.len();
        path.push(cur);
        cur = *edges[cur]
            .iter()
            .find(|&&j| pending[j] > 0)
            .expect("a cyclic node has a cyclic input");
    }
    let mut cycle = path.split_off(seen[cur]);
    // Print in data-flow direction: producer -> consumer.
    cycle.reverse();
    let first = cycle
        .iter()
        .enumerate()
        .min_by_key(|(_, &i)| i)
        .map_or(0, |(k, _)| k);
    cycle.rotate_left(first);
    cycle.push(cycle[0]);
    Err(cycle)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dag::Io;
    use crate::error::TypeMismatch;

    /// A toy operator: `src` has no inputs; `bool` wants one bool-state input.
    #[derive(Debug)]
    struct Toy(&'static str);

    impl Evaluate for Toy {
        fn name(&self) -> &'static str {
            self.0
        }
        fn output_type(&self, inputs: &[TimelineType]) -> Result<TimelineType, TypeMismatch> {
            match (self.0, inputs) {
                ("src", []) => Ok(TimelineType::BOOL_STATE),
                ("num", []) => Ok(TimelineType::NUMERIC),
                ("bool", [t]) if *t == TimelineType::BOOL_STATE => Ok(*t),
                ("bool", [t]) => Err(TypeMismatch::input(
                    0,
                    format!("expects state<bool>, got {t}"),
                )),
                _ => Err(TypeMismatch::node(format!(
                    "wrong number of inputs: {}",
                    inputs.len()
                ))),
            }
        }
        fn step(&self, _: &mut Io<'_>) {}
    }

    fn decl(id: &str, op: &'static str, inputs: &[&str]) -> NodeDecl<Toy> {
        NodeDecl {
            id: id.into(),
            at: None,
            inputs: inputs.iter().map(|s| (s.to_string(), None)).collect(),
            op: Toy(op),
        }
    }

    #[test]
    fn orders_nodes_topologically() {
        let plan = build_plan(vec![
            decl("b", "bool", &["a"]),
            decl("a", "src", &[]),
            decl("c", "bool", &["b"]),
        ])
        .unwrap();
        let ids: Vec<_> = plan.nodes.iter().map(|n| n.id.as_str()).collect();
        assert_eq!(ids, ["a", "b", "c"]);
        assert_eq!(plan.nodes[2].inputs.as_slice(), &[1]);
        assert_eq!(plan.unconsumed(), ["c"]);
    }

    #[test]
    fn reports_every_problem_at_once() {
        let errs = build_plan(vec![
            decl("a", "src", &[]),
            decl("a", "src", &[]),
            decl("b", "bool", &["aa"]),
            decl("n", "num", &[]),
            decl("c", "bool", &["n"]),
        ])
        .unwrap_err();
        let text: Vec<String> = errs.iter().map(|e| e.to_string()).collect();
        assert_eq!(
            text,
            [
                "duplicate node id `a` (first defined at line 0)",
                "node `b`: input `aa` doesn't match any node; did you mean `a`?",
                "node `c` (bool), input `n`: expects state<bool>, got numeric",
            ]
        );
    }

    #[test]
    fn prints_cycles_as_paths() {
        let errs = build_plan(vec![
            decl("s", "src", &[]),
            decl("x", "bool", &["z"]),
            decl("y", "bool", &["x"]),
            decl("z", "bool", &["y"]),
        ])
        .unwrap_err();
        assert_eq!(errs[0].to_string(), "cycle between nodes: x -> y -> z -> x");
    }
}
