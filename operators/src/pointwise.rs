//! The loops shared by pointwise operators: walk the inputs' instants in time order with each
//! input's current value, and compute the output at every instant (and at breakpoints where a
//! numeric input crosses a threshold between instants).

use spanflow_engine::{Io, Linear, Merge, Time, Val};

/// Runs a pointwise operator whose inputs are all state or numeric. Returns the first instant
/// after the step at which the output changes although no input does (the node's deadline).
///
/// `f` computes the output from the inputs' values at `t`. `next_break` returns the first instant
/// after `t` at which the output changes although no input does (a numeric input crossing a
/// threshold), if any.
pub(crate) fn run_continuous(
    io: &mut Io<'_>,
    f: impl Fn(Time, &[Val]) -> Val,
    next_break: impl Fn(Time, &[Val]) -> Option<Time>,
) -> Option<Time> {
    let cx = io.cx;
    let n = io.inputs.len();
    if n <= MAX_FAST_INPUTS {
        // Usually at most one input changed in the step: its changes are the instants, the
        // others keep their values, and no cursor is needed.
        let mut changing = None;
        let mut changed = 0;
        for k in 0..n {
            if io.inputs.emitted(k) {
                changing = Some(k);
                changed += 1;
            }
        }
        if changed <= 1 {
            let mut cur = [Val::Undef; MAX_FAST_INPUTS];
            for (k, c) in cur.iter_mut().enumerate().take(n) {
                *c = io.inputs.before(k);
            }
            return run_one_changing(io, changing, &mut cur[..n], f, next_break);
        }
    }
    let mut m = Merge::new(&io.inputs);
    let mut t_cur = cx.from();
    let mut computed = false;
    loop {
        let next = m.next_instant();
        let limit = next.unwrap_or(cx.now);
        while let Some(b) = next_break(t_cur, &m.cur) {
            if b <= t_cur || b > limit || (b == limit && next.is_some()) {
                break;
            }
            io.out.push_state(io.last, b, f(b, &m.cur));
            t_cur = b;
        }
        let Some(t) = next else { break };
        m.take_changes(t);
        io.out.push_state(io.last, t, f(t, &m.cur));
        t_cur = t;
        computed = true;
    }
    // The first step defines the output from the session's start even if no input changed
    // (e.g. a comparison with a still-undefined input is false from the start).
    if cx.is_first() && !computed {
        io.out.push_state(io.last, cx.now, f(cx.now, &m.cur));
    }
    next_break(t_cur, &m.cur)
}

/// Runs a pointwise operator whose output changes only where an input changes (no
/// breakpoints: the inputs are states, or numeric inputs the operator does not compare with a
/// threshold), none of them events. `f` computes the output from the inputs' values at each
/// instant where one of them changes.
///
/// The same output as [`run_continuous`] with no breakpoints, without its cursor: up to
/// [`MAX_FAST_INPUTS`] inputs are merged on the stack, since a step usually brings one change
/// of one input (this is most of the work of `and`, `or`, `not` and comparisons).
pub(crate) fn run_at_changes(io: &mut Io<'_>, f: impl Fn(Time, &[Val]) -> Val) {
    let n = io.inputs.len();
    if n > MAX_FAST_INPUTS {
        run_continuous(io, f, |_, _| None);
        return;
    }
    let mut items: [&[(Time, Val)]; MAX_FAST_INPUTS] = [&[]; MAX_FAST_INPUTS];
    let mut cur = [Val::Undef; MAX_FAST_INPUTS];
    let mut changed = 0;
    for k in 0..n {
        items[k] = io.inputs.items(k);
        cur[k] = io.inputs.before(k);
        changed += usize::from(!items[k].is_empty());
    }
    let cur = &mut cur[..n];
    match changed {
        0 => {
            // The first step defines the output from the session's start even if no input
            // changed (e.g. a comparison with a still-undefined input is false from the start).
            if io.cx.is_first() {
                let now = io.cx.now;
                io.out.push_state(io.last, now, f(now, cur));
            }
        }
        1 => {
            let k = (0..n).find(|&k| !items[k].is_empty()).unwrap_or(0);
            for &(t, v) in items[k] {
                cur[k] = v;
                io.out.push_state(io.last, t, f(t, cur));
            }
        }
        _ => {
            // A state changes at most once per instant: each instant takes one item from
            // every input that changes there.
            let mut pos = [0usize; MAX_FAST_INPUTS];
            loop {
                let mut next: Option<Time> = None;
                for k in 0..n {
                    if let Some(&(t, _)) = items[k].get(pos[k]) {
                        next = Some(next.map_or(t, |m: Time| m.min(t)));
                    }
                }
                let Some(t) = next else { break };
                for k in 0..n {
                    if let Some(&(s, v)) = items[k].get(pos[k]) {
                        if s == t {
                            cur[k] = v;
                            pos[k] += 1;
                        }
                    }
                }
                io.out.push_state(io.last, t, f(t, cur));
            }
        }
    }
}

/// The most inputs [`run_continuous`] handles without a cursor.
const MAX_FAST_INPUTS: usize = 4;

/// [`run_continuous`] when at most input `changing` emitted: its changes are the instants, and
/// `cur` holds every input's value.
fn run_one_changing(
    io: &mut Io<'_>,
    changing: Option<usize>,
    cur: &mut [Val],
    f: impl Fn(Time, &[Val]) -> Val,
    next_break: impl Fn(Time, &[Val]) -> Option<Time>,
) -> Option<Time> {
    let cx = io.cx;
    let mut t_cur = cx.from();
    let items = changing.map_or(&[][..], |k| io.inputs.items(k));
    for i in 0..=items.len() {
        let next = items.get(i).map(|&(t, _)| t);
        let limit = next.unwrap_or(cx.now);
        while let Some(b) = next_break(t_cur, cur) {
            if b <= t_cur || b > limit || (b == limit && next.is_some()) {
                break;
            }
            io.out.push_state(io.last, b, f(b, cur));
            t_cur = b;
        }
        let (Some((t, v)), Some(k)) = (items.get(i).copied(), changing) else {
            break;
        };
        cur[k] = v;
        io.out.push_state(io.last, t, f(t, cur));
        t_cur = t;
    }
    if cx.is_first() && items.is_empty() {
        io.out.push_state(io.last, cx.now, f(cx.now, cur));
    }
    next_break(t_cur, cur)
}

/// Runs a pointwise operator with one event input (`event_input`) sampled against the other
/// inputs' current values. `f` returns `Undef` to emit nothing for an event.
pub(crate) fn run_events(io: &mut Io<'_>, event_input: usize, f: impl Fn(Time, &[Val]) -> Val) {
    // Each result keeps the record of the event it was computed from.
    if io.inputs.len() == 1 {
        // One input: no cursor needed.
        let mut cur = [Val::Undef];
        let origins = io.inputs.origins(0);
        for (&(t, v), &origin) in io.inputs.items(0).iter().zip(origins) {
            cur[0] = v;
            let r = f(t, &cur).at(t);
            if r.is_defined() {
                io.out.push_event_from(t, r, origin);
            }
        }
        return;
    }
    let mut m = Merge::new(&io.inputs);
    while let Some(t) = m.next_instant() {
        m.take_changes(t);
        if let Some((events, origins)) = m.take_events(event_input, t) {
            for (&(_, v), &origin) in events.iter().zip(origins) {
                m.cur[event_input] = v;
                let r = f(t, &m.cur).at(t);
                if r.is_defined() {
                    io.out.push_event_from(t, r, origin);
                }
            }
            m.cur[event_input] = Val::Undef;
        }
    }
}

/// The first integer instant after `t` at which `holds` differs from `holds(t)`, where `holds`
/// is the operator's output test evaluated on its inputs and depends on the sign of `line` (a
/// linear piece valued at `t`; callers subtract their threshold first). A monotone line flips
/// such a test at most once.
///
/// `line` only locates the root; `holds` decides, evaluating the inputs' pieces from their own
/// starts like the output does. Testing `line` itself would carry its rebasing error
/// (`270.364 - 300` is not exactly `-29.636`) and could flip a millisecond late or, for an
/// equality, never.
pub(crate) fn flip_after(t: Time, line: Linear, holds: impl Fn(Time) -> bool) -> Option<Time> {
    if line.per_sec == 0.0 || !line.at_start.is_finite() {
        return None;
    }
    let now_truth = holds(t);
    let root = t as f64 + (-line.at_start / line.per_sec) * 1000.0;
    if !root.is_finite() || root < t as f64 - 1.0 || root > 9.0e15 {
        return None;
    }
    let base = root.floor() as Time;
    (base - 1..=base + 2).find(|&c| c > t && holds(c) != now_truth)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flips_at_the_first_instant_past_the_threshold() {
        // 0 at t=0, +1 per second: reaches 300 at t=300_000 ms.
        let line = Linear {
            at_start: -300.0,
            per_sec: 1.0,
        };
        let sign = |pred: fn(f64) -> bool| move |c| pred(line.value_at(0, c));
        assert_eq!(flip_after(0, line, sign(|x| x >= 0.0)), Some(300_000));
        assert_eq!(flip_after(0, line, sign(|x| x > 0.0)), Some(300_001));
        // Falling line crossing zero between milliseconds.
        let line = Linear {
            at_start: 1.0,
            per_sec: -3.0,
        };
        let falling = |c| line.value_at(10, c) >= 0.0;
        assert_eq!(flip_after(10, line, falling), Some(344));
        assert_eq!(
            flip_after(0, Linear::constant(5.0), |_: Time| unreachable!()),
            None
        );
        // Moving away from the threshold never flips.
        let rising = Linear {
            at_start: 5.0,
            per_sec: 1.0,
        };
        assert_eq!(flip_after(0, rising, |c| rising.value_at(0, c) > 0.0), None);
    }

    #[test]
    fn a_rebased_line_flips_where_the_original_piece_crosses() {
        // Seconds since 0; rebased at 270_364 ms its value is 270.364 - 300 = -29.636000000000024,
        // which is still below 0 at 300_000 ms. The piece itself is exactly 300 there.
        let piece = Linear {
            at_start: 0.0,
            per_sec: 1.0,
        };
        let t = 270_364;
        let rebased = Linear {
            at_start: piece.value_at(0, t) - 300.0,
            per_sec: 1.0,
        };
        let reaches_300 = |c| piece.value_at(0, c) >= 300.0;
        assert_eq!(flip_after(t, rebased, reaches_300), Some(300_000));
        let equals_300 = |c| piece.value_at(0, c) == 300.0;
        assert_eq!(flip_after(t, rebased, equals_300), Some(300_000));
    }
}
