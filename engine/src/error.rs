//! Plan errors: problems in a spec's graph or types, for the spec's author to fix.

use std::fmt;
use thiserror::Error;

/// A position in the spec file (1-based), carried opaquely by the engine.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct Location {
    /// Line, from 1.
    pub line: u32,
    /// Column, from 1.
    pub column: u32,
}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.line, self.column)
    }
}

/// Why an operator rejects its inputs (returned by `Evaluate::output_type`).
#[derive(Clone, Debug, PartialEq, Eq, Error)]
#[error("{message}")]
pub struct TypeMismatch {
    /// Which input is wrong, when one is; `None` for arity or parameter problems.
    pub input: Option<usize>,
    /// What is wrong and what would be valid.
    pub message: String,
}

impl TypeMismatch {
    /// A problem with input number `input`.
    pub fn input(input: usize, message: impl Into<String>) -> Self {
        Self {
            input: Some(input),
            message: message.into(),
        }
    }

    /// A problem with the node as a whole (arity, parameters).
    pub fn node(message: impl Into<String>) -> Self {
        Self {
            input: None,
            message: message.into(),
        }
    }
}

/// A graph or type problem in a spec. Messages name the node and suggest a fix.
#[derive(Clone, Debug, PartialEq, Eq, Error)]
pub enum PlanError {
    /// An input names no node.
    #[error("node `{node}`: input `{input}` doesn't match any node{}", did_you_mean(.suggestion))]
    UnknownInput {
        /// The node whose input is wrong.
        node: String,
        /// The unknown name.
        input: String,
        /// The closest existing node id.
        suggestion: Option<String>,
        /// Where the input is written.
        at: Option<Location>,
    },
    /// Two nodes share an id.
    #[error("duplicate node id `{id}` (first defined at line {})", .first_at.map_or(0, |l| l.line))]
    DuplicateId {
        /// The repeated id.
        id: String,
        /// Where it was first defined.
        first_at: Option<Location>,
        /// Where it is repeated.
        at: Option<Location>,
    },
    /// The inputs form a cycle.
    #[error("cycle between nodes: {}", .path.join(" -> "))]
    Cycle {
        /// The cycle, first node repeated at the end.
        path: Vec<String>,
        /// Where the first node of the cycle is defined.
        at: Option<Location>,
    },
    /// An operator rejects its inputs' types, their number, or its parameters.
    #[error("node `{node}` ({op}){}: {message}", .input.as_ref().map(|i| format!(", input `{i}`")).unwrap_or_default())]
    Type {
        /// The node.
        node: String,
        /// Its operator name.
        op: String,
        /// The offending input's node id, when one input is at fault.
        input: Option<String>,
        /// What is wrong and what would be valid.
        message: String,
        /// Where the node (or the offending input) is written.
        at: Option<Location>,
    },
}

impl PlanError {
    /// Where in the spec the problem is, when known.
    pub fn location(&self) -> Option<Location> {
        match self {
            PlanError::UnknownInput { at, .. }
            | PlanError::DuplicateId { at, .. }
            | PlanError::Cycle { at, .. }
            | PlanError::Type { at, .. } => *at,
        }
    }
}

fn did_you_mean(suggestion: &Option<String>) -> String {
    suggestion
        .as_ref()
        .map(|s| format!("; did you mean `{s}`?"))
        .unwrap_or_default()
}

/// The name in `candidates` closest to `wanted`, if it is close enough to be a likely typo.
pub fn closest<'a>(wanted: &str, candidates: impl IntoIterator<Item = &'a str>) -> Option<String> {
    candidates
        .into_iter()
        .map(|c| {
            (
                strsim::damerau_levenshtein(&wanted.to_lowercase(), &c.to_lowercase()),
                c,
            )
        })
        .filter(|(d, c)| *d <= 2.max(c.len() / 3))
        .min_by_key(|(d, _)| *d)
        .map(|(_, c)| c.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn suggestions_catch_typos_only() {
        let ids = ["is_buffering", "player_state", "cir"];
        assert_eq!(closest("is_bufering", ids).as_deref(), Some("is_buffering"));
        assert_eq!(closest("playerstate", ids).as_deref(), Some("player_state"));
        assert_eq!(closest("totally_else", ids), None);
    }

    #[test]
    fn messages_name_the_node_and_the_fix() {
        let e = PlanError::UnknownInput {
            node: "cir".into(),
            input: "is_bufering".into(),
            suggestion: Some("is_buffering".into()),
            at: None,
        };
        assert_eq!(
            e.to_string(),
            "node `cir`: input `is_bufering` doesn't match any node; did you mean `is_buffering`?"
        );
    }
}
