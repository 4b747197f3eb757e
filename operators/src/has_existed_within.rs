//! `has_existed_within`: true for a while after the input was true.

use crate::prelude::*;

/// The serde aliases, for the schema (`spanflow schema`).
fn aliases(schema: &mut schemars::Schema) {
    crate::schema::add_aliases(schema, &[("duration_secs", "within_secs")]);
}

/// Boolean events or state → boolean state. A true event at `t` keeps the output true on
/// `[t, t + within_secs)`, and every later true extends the window. A true state keeps it true
/// while true and for `within_secs` after it turns false. The window closes in the middle of a
/// step when it must, so the output is exact whatever the event spacing.
#[derive(Clone, Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(transform = aliases)]
pub struct HasExistedWithin {
    /// How long a true stays visible, in seconds.
    #[serde(alias = "duration_secs")]
    pub within_secs: Secs,
}

impl Operator for HasExistedWithin {
    fn name(&self) -> &'static str {
        "has_existed_within"
    }

    fn output_type(&self, inputs: &[TimelineType]) -> Result<TimelineType, TypeMismatch> {
        expect_arity(inputs, 1, 1)?;
        expect_bool(inputs, 0)?;
        Ok(TimelineType::BOOL_STATE)
    }

    fn layout(&self, _: &[TimelineType]) -> Layout {
        // One word: when the open window closes. Woken then, even without input.
        Layout {
            words: 1,
            wake: Wake::Deadline,
            ..Layout::default()
        }
    }

    fn init(&self, words: &mut [u64]) {
        words[0] = store_time(None);
    }

    fn step(&self, io: &mut Io<'_>) {
        let d = self.within_secs.millis();
        let now = io.cx.now;
        let mut until = load_time(io.words[0]);
        let events = io.inputs.kind(0) == Kind::Event;
        let mut input = io.inputs.before(0);
        let items = io.inputs.items(0);
        let mut pos = 0;
        loop {
            let next = items.get(pos).map(|&(t, _)| t);
            // Close a window that expires before the next instant (or by the end of the step).
            if let Some(u) = until {
                if next.map_or(u <= now, |t| u < t) {
                    io.out.push_state(io.last, u, Val::Bool(false));
                    until = None;
                }
            }
            let Some(t) = next else { break };
            if events {
                let n = items[pos..].iter().take_while(|(s, _)| *s == t).count();
                let any_true = items[pos..pos + n].iter().any(|(_, v)| v.is_true());
                pos += n;
                if any_true {
                    until = Some(t.saturating_add(d));
                    io.out.push_state(io.last, t, Val::Bool(true));
                } else if until.is_some_and(|u| u <= t) {
                    io.out.push_state(io.last, t, Val::Bool(false));
                    until = None;
                }
            } else {
                let was_true = input.is_true();
                input = items[pos].1;
                pos += 1;
                if input.is_true() {
                    until = None;
                    io.out.push_state(io.last, t, Val::Bool(true));
                } else if was_true {
                    until = Some(t.saturating_add(d));
                }
            }
        }
        // False from the session's start when its first instant had no true.
        if io.cx.is_first() && io.out.is_empty() {
            io.out.push_state(io.last, now, Val::Bool(false));
        }
        io.words[0] = store_time(until);
        io.deadline = until.unwrap_or(Time::MAX);
    }

    fn describe(&self) -> String {
        format!("within_secs: {}", self.within_secs.0)
    }
}

#[cfg(test)]
mod tests {
    use crate::testing::{op, run, Series};

    /// Acceptance case 2 (paper Table 1, D = 4).
    #[test]
    fn windows_after_true_events() {
        let out = run(
            op("has_existed_within", "within_secs: 4"),
            vec![Series::bool_events(&[(1, false), (3, true), (9, true)])],
            &[20],
        );
        assert_eq!(
            out.bool_spans(),
            vec![
                (1.0, Some(3.0), Some(false)),
                (3.0, Some(7.0), Some(true)),
                (7.0, Some(9.0), Some(false)),
                (9.0, Some(13.0), Some(true)),
                (13.0, None, Some(false)),
            ]
        );
    }

    /// Acceptance case 2b: a true inside the window extends it.
    #[test]
    fn a_second_true_extends_the_window() {
        let out = run(
            op("has_existed_within", "within_secs: 4"),
            vec![Series::bool_events(&[(3, true), (5, true)])],
            &[20],
        );
        assert_eq!(
            out.bool_spans(),
            vec![(3.0, Some(9.0), Some(true)), (9.0, None, Some(false))]
        );
    }

    #[test]
    fn states_stay_true_for_the_window_after_falling() {
        let out = run(
            op("has_existed_within", "within_secs: 2"),
            vec![Series::bool_state(&[(0, false), (1, true), (4, false)])],
            &[10],
        );
        assert_eq!(
            out.bool_spans(),
            vec![
                (0.0, Some(1.0), Some(false)),
                (1.0, Some(6.0), Some(true)),
                (6.0, None, Some(false))
            ]
        );
    }

    #[test]
    fn rejects_non_positive_windows() {
        let e = crate::spec::parse_operator("has_existed_within", "within_secs: 0").unwrap_err();
        assert!(
            e.contains("expected a positive number of seconds, got 0"),
            "{e}"
        );
    }
}
