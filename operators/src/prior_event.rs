//! `prior_event`: each event paired with the value of an earlier event (a lag).

use crate::prelude::*;

/// Events → events: at each event, the value of the event `offset` events earlier; while
/// fewer have been seen, `initial_value` if given, else nothing.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PriorEvent {
    /// How many events back (1 = the previous event).
    #[serde(default = "one", alias = "window_size")]
    pub offset: usize,
    /// What to emit before `offset` events have been seen.
    #[serde(default)]
    pub initial_value: Option<Constant>,
}

fn one() -> usize {
    1
}

impl Operator for PriorEvent {
    fn name(&self) -> &'static str {
        "prior_event"
    }

    fn output_type(&self, inputs: &[TimelineType]) -> Result<TimelineType, TypeMismatch> {
        expect_arity(inputs, 1, 1)?;
        expect_kind(inputs, 0, Kind::Event, "")?;
        if inputs[0].value == ValueType::Record {
            return Err(TypeMismatch::input(
                0,
                "expects the events of one field; extract it first with `get`",
            ));
        }
        if self.offset == 0 || self.offset > 1024 {
            return Err(TypeMismatch::node(format!(
                "`offset` must be between 1 and 1024, got {}",
                self.offset
            )));
        }
        if let Some(c) = self
            .initial_value
            .as_ref()
            .filter(|c| constant_type(c) != inputs[0].value)
        {
            return Err(TypeMismatch::node(format!(
                "`initial_value` {c} is not of the input's type {}",
                inputs[0].value
            )));
        }
        Ok(inputs[0])
    }

    fn init_state(&self) -> NodeState {
        NodeState::History {
            items: Default::default(),
            input: Current::Undefined,
            out: Current::Undefined,
        }
    }

    fn idle_without_input(&self, _: &NodeState, _: bool, _: &StepCtx<'_>) -> bool {
        // Output changes only when an input changes or has events.
        true
    }

    fn step(
        &self,
        state: &mut NodeState,
        inputs: &[&Timeline],
        cx: &StepCtx<'_>,
        out: &mut Timeline,
    ) {
        let items = state!(state, NodeState::History { items, .. } => items);
        let mut m = Merge::new(inputs, cx.now);
        while let Some(t) = m.next_instant() {
            let Some(events) = m.take_events(0, t) else {
                continue;
            };
            for v in events.iter() {
                if items.len() == self.offset {
                    if let Some((_, old)) = items.pop_front() {
                        if let Some(o) = old.scalar_at(t) {
                            out.push_event(cx.from(), t, o);
                        }
                    }
                } else if let Some(init) = &self.initial_value {
                    out.push_event(cx.from(), t, init.0.as_ref());
                }
                items.push_back((t, Current::from_scalar(Some(v))));
            }
        }
    }

    fn describe(&self) -> String {
        match &self.initial_value {
            Some(v) => format!("offset: {}, initial_value: {v}", self.offset),
            None => format!("offset: {}", self.offset),
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::testing::{op, run, Series};
    use spanflow_engine::Scalar;

    #[test]
    fn lags_by_offset() {
        let s = |v: &str| Scalar::Str(v.into());
        let input = || Series::str_events(&[(1, "a"), (2, "b"), (3, "c")]);
        let out = run(op("prior_event", ""), vec![input()], &[]);
        assert_eq!(out.events(), &[(2.0, s("a")), (3.0, s("b"))]);
        let out = run(
            op("priorEvent", "offset: 2\ninitial_value: none"),
            vec![input()],
            &[],
        );
        assert_eq!(
            out.events(),
            &[(1.0, s("none")), (2.0, s("none")), (3.0, s("a"))]
        );
    }
}
