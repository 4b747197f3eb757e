//! `duration_where` (alias `durationTrue`): seconds a boolean state has been true.

use crate::prelude::*;

/// The serde aliases, for the schema (`spanflow schema`).
fn aliases(schema: &mut schemars::Schema) {
    crate::schema::add_aliases(schema, &[("sliding_window_secs", "window_secs")]);
}

/// Boolean state → numeric seconds. Cumulative from the session's start (slope 1 while true,
/// 0 otherwise), or, with `window_secs`, the true time within the trailing window `(t − W, t]`,
/// whose slope also drops when a true stretch leaves the window.
#[derive(Clone, Debug, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(transform = aliases)]
pub struct DurationWhere {
    /// Only count the last this-many seconds. Leave out for "since the session started".
    #[serde(default, alias = "sliding_window_secs")]
    pub window_secs: Option<Secs>,
}

impl Operator for DurationWhere {
    fn name(&self) -> &'static str {
        "duration_where"
    }

    fn output_type(&self, inputs: &[TimelineType]) -> Result<TimelineType, TypeMismatch> {
        expect_arity(inputs, 1, 1)?;
        if inputs[0] != TimelineType::BOOL_STATE {
            return Err(TypeMismatch::input(
                0,
                format!(
                    "expects state<bool>, got {}{}",
                    inputs[0],
                    if inputs[0] == TimelineType::BOOL_EVENTS {
                        "; make it a state with `latest_event_to_state`"
                    } else {
                        ""
                    }
                ),
            ));
        }
        Ok(TimelineType::NUMERIC)
    }

    fn layout(&self, _: &[TimelineType]) -> Layout {
        // With a window: a word for the input's value at the trailing edge, a queue of the
        // input's changes the edge has not passed yet, and a wake-up when it passes one.
        Layout {
            words: usize::from(self.window_secs.is_some()),
            queue: self.window_secs.is_some(),
            wake: if self.window_secs.is_some() {
                Wake::Deadline
            } else {
                Wake::Inputs
            },
        }
    }

    fn step(&self, io: &mut Io<'_>) {
        let window = self.window_secs.map(Secs::millis);
        let now = io.cx.now;
        let mut input = io.inputs.before(0).is_true();
        let mut trailing = io.words.first().is_some_and(|&w| w != 0);
        let items = io.inputs.items(0);
        let mut pos = 0;
        let mut computed = false;
        let mut pending = io.queue.as_deref_mut();
        loop {
            let next = items.get(pos).map(|&(t, _)| t);
            // The next time the trailing edge passes a remembered change, if within this step.
            let edge = window
                .and_then(|w| {
                    let front = pending.as_ref()?.front()?;
                    Some(front.0.saturating_add(w))
                })
                .filter(|&e| e <= next.unwrap_or(now));
            let t = match (edge, next) {
                (Some(e), _) => e,
                (None, Some(t)) => t,
                (None, None) => break,
            };
            if let (true, Some(w), Some(q)) = (edge == Some(t), window, pending.as_mut()) {
                while let Some(&(tc, v)) = q.front() {
                    if tc.saturating_add(w) == t {
                        trailing = v.is_true();
                        q.pop_front();
                    } else {
                        break;
                    }
                }
            }
            if next == Some(t) {
                input = items[pos].1.is_true();
                pos += 1;
                if let Some(q) = pending.as_mut() {
                    q.push_back((t, Val::Bool(input)));
                }
            }
            let so_far = match *io.last {
                Val::Lin { start, line } => line.value_at(start, t),
                _ => 0.0,
            };
            let slope =
                f64::from(u8::from(input)) - f64::from(u8::from(window.is_some() && trailing));
            io.out.push_state(
                io.last,
                t,
                Val::Lin {
                    start: t,
                    line: Linear {
                        at_start: so_far,
                        per_sec: slope,
                    },
                },
            );
            computed = true;
        }
        if io.cx.is_first() && !computed {
            io.out.push_state(
                io.last,
                now,
                Val::Lin {
                    start: now,
                    line: Linear::constant(0.0),
                },
            );
        }
        if let Some(w) = io.words.first_mut() {
            *w = u64::from(trailing);
        }
        if let (Some(w), Some(q)) = (window, pending) {
            io.deadline = q.front().map_or(Time::MAX, |&(tc, _)| tc.saturating_add(w));
        }
    }

    fn describe(&self) -> String {
        self.window_secs
            .map(|w| format!("window_secs: {}", w.0))
            .unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use crate::testing::{op, run, Series};

    /// Acceptance case 3 (paper Table 1): 0, 5, 5, 11 at t = 3, 8, 14, 20.
    #[test]
    fn cumulative_true_time() {
        let out = run(
            op("duration_where", ""),
            vec![Series::bool_state(&[
                (0, false),
                (3, true),
                (8, false),
                (14, true),
            ])],
            &[20],
        );
        let at: Vec<f64> = [3.0, 8.0, 14.0, 20.0]
            .iter()
            .map(|&t| out.f64_at(t))
            .collect();
        assert_eq!(at, [0.0, 5.0, 5.0, 11.0]);
        assert_eq!(out.f64_at(5.5), 2.5);
    }

    /// Acceptance case 8 (LSP unit test): level T,T,T,F,F,T,T at t = 0…6 → 0,1,2,3,3,3,4.
    #[test]
    fn sampled_per_event() {
        let level = [true, true, true, false, false, true, true];
        let items: Vec<(i64, bool)> = level
            .iter()
            .enumerate()
            .map(|(i, v)| (i as i64, *v))
            .collect();
        let out = run(
            op("durationTrue", ""),
            vec![Series::bool_state(&items)],
            &[],
        );
        let at: Vec<f64> = (0..7).map(|t| out.f64_at(t as f64)).collect();
        assert_eq!(at, [0.0, 1.0, 2.0, 3.0, 3.0, 3.0, 4.0]);
    }

    /// With a 5 s window, true on [3,8) and [14,∞): the window fills to 5, drains, refills.
    #[test]
    fn sliding_window() {
        let out = run(
            op("duration_where", "window_secs: 5"),
            vec![Series::bool_state(&[
                (0, false),
                (3, true),
                (8, false),
                (14, true),
            ])],
            &[30],
        );
        let at = |t: f64| out.f64_at(t);
        assert_eq!(
            (
                at(3.0),
                at(6.0),
                at(8.0),
                at(10.0),
                at(13.0),
                at(14.0),
                at(16.0),
                at(19.0),
                at(30.0)
            ),
            (0.0, 3.0, 5.0, 3.0, 0.0, 0.0, 2.0, 5.0, 5.0)
        );
    }
}
