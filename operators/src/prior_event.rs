//! `prior_event`: each event paired with the value of an earlier event (a lag).

use crate::prelude::*;

/// The serde aliases, for the schema (`spanflow schema`).
fn aliases(schema: &mut schemars::Schema) {
    crate::schema::add_aliases(schema, &[("window_size", "offset")]);
}

/// Events → events: at each event, the value of the event `offset` events earlier; while
/// fewer have been seen, `initial_value` if given, else nothing.
#[derive(Clone, Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(transform = aliases)]
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

    fn layout(&self, _: &[TimelineType]) -> Layout {
        // The last `offset` events, oldest first.
        Layout {
            queue: true,
            ..Layout::default()
        }
    }

    fn constants(&self) -> Vec<Scalar> {
        self.initial_value.iter().map(|c| c.0.clone()).collect()
    }

    fn step(&self, io: &mut Io<'_>) {
        let initial = io.consts.first().copied();
        let items = io.inputs.items(0);
        let Some(history) = io.queue.as_deref_mut() else {
            unreachable!("internal error: prior_event has a queue")
        };
        // Each output event stands for the input event it was emitted at (same record).
        let origins = io.inputs.origins(0);
        for (&(t, v), &origin) in items.iter().zip(origins) {
            if history.len() == self.offset {
                if let Some((_, old)) = history.pop_front() {
                    let o = old.at(t);
                    if o.is_defined() {
                        io.out.push_event_from(t, o, origin);
                    }
                }
            } else if let Some(init) = initial {
                io.out.push_event_from(t, init, origin);
            }
            history.push_back((t, v));
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
