//! The DAG: declared nodes, checks, the validated plan, and its interpreter.

mod check;
mod explain;
mod interpret;

pub use check::{build_plan, NodeDecl};
pub use explain::explain;
pub use interpret::{
    queue_bytes, Evaluate, Inputs, Interpreter, InterpreterStats, Io, Layout, NodeStats, Queue,
    Session, SessionHeader, SessionParts, StepCtx, StepError, StringRemap, Wake,
};

use crate::error::Location;
use crate::kind::TimelineType;
use smallvec::SmallVec;

/// A checked node: its operator, resolved inputs, and output type.
#[derive(Clone, Debug)]
pub struct PlanNode<E> {
    /// The node id from the spec.
    pub id: String,
    /// The operator, immutable from here on.
    pub op: E,
    /// Indices of the input nodes in [`Plan::nodes`]; always smaller than this node's index.
    pub inputs: SmallVec<[usize; 4]>,
    /// The type of the timeline this node emits.
    pub ty: TimelineType,
    /// Where the node is defined in the spec.
    pub at: Option<Location>,
}

/// A validated DAG, its nodes in topological order (inputs before consumers).
#[derive(Clone, Debug)]
pub struct Plan<E> {
    /// The nodes, topologically sorted.
    pub nodes: Vec<PlanNode<E>>,
}

impl<E> Plan<E> {
    /// The index of the node with this id.
    pub fn index_of(&self, id: &str) -> Option<usize> {
        self.nodes.iter().position(|n| n.id == id)
    }

    /// The node with this id.
    pub fn node(&self, id: &str) -> Option<&PlanNode<E>> {
        self.nodes.iter().find(|n| n.id == id)
    }

    /// Ids of nodes that no other node reads (the DAG's sinks).
    pub fn unconsumed(&self) -> Vec<&str> {
        let mut used = vec![false; self.nodes.len()];
        for n in &self.nodes {
            for &i in &n.inputs {
                used[i] = true;
            }
        }
        self.nodes
            .iter()
            .zip(used)
            .filter(|(_, u)| !u)
            .map(|(n, _)| n.id.as_str())
            .collect()
    }
}
