//! Whether the consumer makes progress: librdkafka reports a batch it cannot decompress or
//! parse, or a fetch the broker refuses, as a consumer error and fetches the same offset again,
//! forever. Errors that keep coming with no message between them make the run not ready (with
//! the reason on `/ready`); a message, or errors that stop, make it ready again. One log line
//! per change of state, not one per error.

use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use std::time::{Duration, Instant};

/// Errors for this long with no message between them mean the consumer cannot make progress.
pub const STALLED_AFTER: Duration = Duration::from_secs(5);
/// ... and at least this many of them (one error followed by a quiet broker is not a stall).
pub const STALLED_AFTER_ERRORS: u64 = 3;
/// No error for this long ends a failing spell even without a message (the partitions may
/// simply have nothing more to read). librdkafka fetches again after a failed fetch within
/// `fetch.error.backoff.ms` (500 ms by default), so a stall reports far more often than this.
pub const QUIET_AFTER: Duration = Duration::from_secs(5);

/// A change of state the loop reports (health and one log line).
#[derive(Debug, PartialEq, Eq)]
pub enum Change {
    /// The first consumer error after progress: logged once as a warning.
    Failing(String),
    /// An error of another code than those seen since: logged once too.
    Another(String),
    /// Errors kept coming and nothing else: not ready, with this reason.
    Stalled(String),
    /// A message arrived, or errors stopped, after a stall.
    Recovered(String),
}

struct Spell {
    since: Instant,
    last: Instant,
    errors: u64,
    last_error: String,
    hint: Option<&'static str>,
    stalled: bool,
    /// The error types seen in this spell.
    seen: Vec<String>,
}

/// Follows consumer errors and messages.
#[derive(Default)]
pub struct StallWatch {
    spell: Option<Spell>,
}

impl StallWatch {
    /// A message arrived: the consumer makes progress.
    pub fn message(&mut self, now: Instant) -> Option<Change> {
        let spell = self.spell.take()?;
        spell.stalled.then(|| {
            Change::Recovered(format!(
                "a message arrived after {} consumer error(s) over {:.0} s",
                spell.errors,
                now.duration_since(spell.since).as_secs_f64()
            ))
        })
    }

    /// librdkafka reported `error`, with its own text of it when it gave one.
    pub fn error(
        &mut self,
        error: &KafkaError,
        text: Option<&str>,
        now: Instant,
    ) -> Option<Change> {
        let mut described = error.to_string();
        if let Some(t) = text.filter(|t| !t.is_empty()) {
            described.push_str(&format!(": {t}"));
        }
        let hint = error.rdkafka_error_code().and_then(hint);
        let kind = error_type(error);
        let line = match hint {
            Some(h) => format!("{described} ({h})"),
            None => described.clone(),
        };
        match &mut self.spell {
            None => {
                self.spell = Some(Spell {
                    since: now,
                    last: now,
                    errors: 1,
                    last_error: described,
                    hint,
                    stalled: false,
                    seen: vec![kind],
                });
                Some(Change::Failing(line))
            }
            Some(spell) => {
                spell.last = now;
                spell.errors += 1;
                spell.last_error = described;
                spell.hint = hint;
                let another = !spell.seen.contains(&kind);
                if another {
                    spell.seen.push(kind);
                }
                match self.check(now) {
                    Some(change) => Some(change),
                    None if another => Some(Change::Another(line)),
                    None => None,
                }
            }
        }
    }

    /// Called every turn of the loop: a failing spell becomes a stall, or ends when quiet.
    pub fn check(&mut self, now: Instant) -> Option<Change> {
        let spell = self.spell.as_mut()?;
        if now.duration_since(spell.last) >= QUIET_AFTER {
            let spell = self.spell.take()?;
            return spell.stalled.then(|| {
                Change::Recovered(format!(
                    "no consumer error for {:.0} s",
                    QUIET_AFTER.as_secs_f64()
                ))
            });
        }
        if spell.stalled
            || spell.errors < STALLED_AFTER_ERRORS
            || now.duration_since(spell.since) < STALLED_AFTER
        {
            return None;
        }
        spell.stalled = true;
        let mut why = format!(
            "the Kafka consumer cannot make progress: {} consumer errors in {:.0} s and no message (last: {})",
            spell.errors,
            now.duration_since(spell.since).as_secs_f64(),
            spell.last_error
        );
        if let Some(h) = spell.hint {
            why.push_str(&format!("; {h}"));
        }
        Some(Change::Stalled(why))
    }
}

/// What an error code usually means for a consumer, where librdkafka's text does not say.
fn hint(code: RDKafkaErrorCode) -> Option<&'static str> {
    Some(match code {
        RDKafkaErrorCode::NotImplemented => {
            "librdkafka reports this for a record batch compressed with a codec it was built \
             without; this build reads gzip, snappy, lz4 and zstd"
        }
        RDKafkaErrorCode::BadCompression
        | RDKafkaErrorCode::InvalidMessage
        | RDKafkaErrorCode::BadMessage
        | RDKafkaErrorCode::InvalidRecord => {
            "a record batch on the broker is corrupt or cannot be decompressed"
        }
        RDKafkaErrorCode::TopicAuthorizationFailed => {
            "the configured credentials may not read the topic"
        }
        _ => return None,
    })
}

/// The `spanflow_errors_total` type of a consumer error: `kafka_` and librdkafka's error code
/// in snake case (`kafka_not_implemented`, `kafka_invalid_message`, ...), a bounded set.
pub fn error_type(error: &KafkaError) -> String {
    let Some(code) = error.rdkafka_error_code() else {
        return "kafka_consumer".to_owned();
    };
    let mut out = String::from("kafka");
    for c in format!("{code:?}").chars() {
        if c.is_ascii_uppercase() {
            out.push('_');
        }
        out.push(c.to_ascii_lowercase());
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn not_implemented() -> KafkaError {
        KafkaError::MessageConsumption(RDKafkaErrorCode::NotImplemented)
    }

    #[test]
    fn errors_without_messages_stall_once_and_a_message_recovers() {
        let t0 = Instant::now();
        let mut w = StallWatch::default();
        assert!(
            matches!(w.error(&not_implemented(), None, t0), Some(Change::Failing(l)) if l.contains("Not implemented") && l.contains("codec"))
        );
        let mut changes = Vec::new();
        // Ten errors a second for twelve seconds: one change, to stalled.
        for i in 1..120 {
            let now = t0 + Duration::from_millis(100 * i);
            changes.extend(w.error(&not_implemented(), None, now));
            changes.extend(w.check(now));
        }
        assert_eq!(changes.len(), 1, "{changes:?}");
        let Change::Stalled(why) = &changes[0] else {
            panic!("{changes:?}")
        };
        assert!(why.contains("cannot make progress"), "{why}");
        assert!(why.contains("Not implemented"), "{why}");
        assert!(why.contains("zstd"), "{why}");
        let now = t0 + Duration::from_secs(13);
        assert!(
            matches!(w.message(now), Some(Change::Recovered(r)) if r.contains("message arrived"))
        );
        assert_eq!(w.message(now), None);
    }

    #[test]
    fn a_few_errors_or_a_short_spell_are_not_a_stall() {
        let t0 = Instant::now();
        let mut w = StallWatch::default();
        // Two errors far apart in time: too few.
        assert!(w.error(&not_implemented(), None, t0).is_some());
        assert_eq!(
            w.error(&not_implemented(), None, t0 + Duration::from_secs(4)),
            None
        );
        assert_eq!(w.check(t0 + Duration::from_secs(6)), None);
        // Many errors within a short time, then a message: never stalled, nothing to report.
        let mut w = StallWatch::default();
        for i in 0..40 {
            let now = t0 + Duration::from_millis(100 * i);
            let change = w.error(&not_implemented(), None, now);
            assert!(i == 0 || change.is_none(), "{change:?}");
        }
        assert_eq!(w.message(t0 + Duration::from_secs(4)), None);
    }

    #[test]
    fn librdkafkas_text_is_kept_and_another_kind_of_error_is_logged_once() {
        let t0 = Instant::now();
        let mut w = StallWatch::default();
        let text = "Decompression (codec 0x4) of message at 0 of 2439 bytes failed";
        let first = w.error(&not_implemented(), Some(text), t0);
        assert!(
            matches!(&first, Some(Change::Failing(l)) if l.contains(text)),
            "{first:?}"
        );
        let corrupt = KafkaError::MessageConsumption(RDKafkaErrorCode::InvalidMessage);
        let t1 = t0 + Duration::from_millis(100);
        assert!(
            matches!(w.error(&corrupt, None, t1), Some(Change::Another(l)) if l.contains("corrupt"))
        );
        assert_eq!(w.error(&corrupt, None, t1), None);
        assert_eq!(w.error(&not_implemented(), Some(text), t1), None);
        let stalled = w.error(&not_implemented(), Some(text), t0 + STALLED_AFTER);
        assert!(
            matches!(&stalled, Some(Change::Stalled(why)) if why.contains(text)),
            "{stalled:?}"
        );
    }

    #[test]
    fn errors_that_stop_end_a_stall() {
        let t0 = Instant::now();
        let mut w = StallWatch::default();
        for i in 0..=60 {
            w.error(
                &not_implemented(),
                None,
                t0 + Duration::from_millis(100 * i),
            );
        }
        assert!(w.spell.as_ref().is_some_and(|s| s.stalled));
        let quiet = t0 + Duration::from_secs(6) + QUIET_AFTER;
        assert!(
            matches!(w.check(quiet), Some(Change::Recovered(r)) if r.contains("no consumer error"))
        );
        assert_eq!(w.check(quiet), None);
    }

    #[test]
    fn error_types_are_librdkafka_codes_in_snake_case() {
        assert_eq!(error_type(&not_implemented()), "kafka_not_implemented");
        assert_eq!(
            error_type(&KafkaError::MessageConsumption(
                RDKafkaErrorCode::InvalidMessage
            )),
            "kafka_invalid_message"
        );
        assert_eq!(error_type(&KafkaError::Canceled), "kafka_consumer");
    }
}
