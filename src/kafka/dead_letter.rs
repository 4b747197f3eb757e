//! Dead letters: messages rejected by `input.on_bad_record: dead_letter` or
//! `input.on_late_event: dead_letter`, produced to `input.dead_letter.topic` so they can be
//! looked at and replayed instead of being lost.
//!
//! A dead letter is the original message, byte for byte: the same key, value and headers, plus
//! these headers (UTF-8 text):
//!
//! | header | value |
//! |---|---|
//! | [`REASON`] `spanflow.reason` | the reason code (`unknown_schema_id`, `late_event`, …) |
//! | [`ERROR`] `spanflow.error` | the full message: what is wrong, where, what would be valid |
//! | [`NODE`] `spanflow.node` | what rejected it: `decode`, the input field (`input.session_key` / `input.time` path) or `session` |
//! | [`SOURCE_TOPIC`] `spanflow.source.topic` | the topic it was read from |
//! | [`SOURCE_PARTITION`] `spanflow.source.partition` | its partition (decimal) |
//! | [`SOURCE_OFFSET`] `spanflow.source.offset` | its offset (decimal) |
//! | [`SPEC`] `spanflow.spec` | the spec's `name` |
//!
//! **At least once.** A dead letter holds its partition's commit like a row does (see
//! [`crate::delivery`]): a message in no session holds it at its own offset, a late event that
//! joined a session holds that session. Only the delivery report of the dead-letter topic
//! releases it, so a crash before then reads the message again and sends it again. Failed
//! produces are retried with backoff while the error may heal (the sinks' rule, see
//! [`kafka_error_is_retryable`]); a permanent one (unknown topic, denied authorization,
//! message too large) stops the run with an error naming the topic and the message.

use super::{Ack, Stream};
use crate::pipeline::{Offset, PipelineError};
use crate::sink::{kafka_error_is_retryable, DEFAULT_QUEUE_TIMEOUT};
use rdkafka::message::{BorrowedMessage, Header, Headers, OwnedHeaders};
use rdkafka::producer::{FutureProducer, FutureRecord, Producer};
use rdkafka::Message;
use spanflow_operators::Program;
use std::collections::{BTreeMap, VecDeque};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

/// Header: the reason code.
pub const REASON: &str = "spanflow.reason";
/// Header: the full error message.
pub const ERROR: &str = "spanflow.error";
/// Header: the spec node or stage that rejected the record.
pub const NODE: &str = "spanflow.node";
/// Header: the source topic.
pub const SOURCE_TOPIC: &str = "spanflow.source.topic";
/// Header: the source partition.
pub const SOURCE_PARTITION: &str = "spanflow.source.partition";
/// Header: the source offset.
pub const SOURCE_OFFSET: &str = "spanflow.source.offset";
/// Header: the spec's name.
pub const SPEC: &str = "spanflow.spec";

/// What holds the partition's commit until the dead letter is acknowledged.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Hold {
    /// The message's own offset (`CommitTracker::dead_letter_sent`).
    Offset,
    /// The session (by first offset) the late event joined, like one of its rows.
    Session(Offset),
}

/// A late event the session processor handed over (see `Emit::late`).
#[derive(Debug)]
pub(super) struct LateLetter {
    /// The session it joined, already holding the commit for it (`row_sent`).
    session_first: Option<Offset>,
    reason: &'static str,
    message: String,
}

impl LateLetter {
    /// A late event that joined the session starting at `session_first` (if any).
    pub(super) fn new(session_first: Option<Offset>, why: &PipelineError) -> Self {
        Self {
            session_first,
            reason: why.reason(),
            message: why.what(),
        }
    }
}

/// One rejected message, owned so it can cross into an I/O task.
struct Letter {
    partition: usize,
    generation: u64,
    hold: Hold,
    reason: &'static str,
    key: Option<Vec<u8>>,
    value: Option<Vec<u8>>,
    headers: OwnedHeaders,
    /// `topic/partition offset N`, for errors.
    source: String,
    offset: Offset,
}

/// The outcome of one dead letter, sent back to the consumer loop.
pub(super) struct Acked {
    partition: usize,
    generation: u64,
    hold: Hold,
    offset: Offset,
    reason: &'static str,
    result: Result<(), String>,
}

/// The dead-letter producer of a run and the letters waiting for a write slot.
pub(super) struct DeadLetters {
    producer: FutureProducer,
    topic: Arc<str>,
    spec: String,
    queue: VecDeque<Letter>,
    /// Letters queued so far, by reason (throttles the log).
    queued: BTreeMap<&'static str, u64>,
}

impl DeadLetters {
    /// The dead-letter producer of `program`, when one of its policies is `dead_letter`.
    /// `client` holds the brokers and credentials (`kafka.producer_config()`); `acks` is
    /// `all` unless it says otherwise. Warns when the topic does not exist (yet).
    pub(super) fn connect(
        program: &Program,
        client: &rdkafka::ClientConfig,
    ) -> Result<Option<Self>, String> {
        let Some(plan) = &program.input.dead_letter else {
            return Ok(None);
        };
        let mut config = client.clone();
        if config.get("acks").is_none() && config.get("request.required.acks").is_none() {
            config.set("acks", "all");
        }
        let producer: FutureProducer = config.create().map_err(|e| {
            format!(
                "dead-letter topic `{}`: cannot create the producer: {e}",
                plan.topic
            )
        })?;
        let exists = producer
            .client()
            .fetch_metadata(Some(&plan.topic), Duration::from_secs(10))
            .is_ok_and(|m| {
                m.topics().iter().any(|t| {
                    t.name() == plan.topic && t.error().is_none() && !t.partitions().is_empty()
                })
            });
        if exists {
            tracing::info!(topic = %plan.topic, "Dead-letter topic ready.");
        } else {
            tracing::warn!(topic = %plan.topic, "The dead-letter topic does not exist (yet): create it, or dead letters fail when the broker does not create topics on first write.");
        }
        Ok(Some(Self {
            producer,
            topic: plan.topic.as_str().into(),
            spec: program.name.clone(),
            queue: VecDeque::new(),
            queued: BTreeMap::new(),
        }))
    }

    /// Whether letters wait for a write slot.
    pub(super) fn has_queued(&self) -> bool {
        !self.queue.is_empty()
    }
}

/// The spec's name for what rejected a record with `reason`: the input field for a missing or
/// unusable key or time, `session` for late events, else `decode`.
fn node(program: &Program, reason: &str) -> String {
    match reason {
        "missing_session_key" => program.input.session_key.clone(),
        "missing_time" | "time_out_of_range" => program.input.time.clone(),
        "late_event" | "late_after_session_end" => "session".into(),
        _ => "decode".into(),
    }
}

/// A copy of the original headers of `msg`, or `None` when they cannot be read: rdkafka
/// panics on a header name that is not UTF-8, which any producer may write, and a bad record
/// must never crash the run.
fn original_headers(msg: &BorrowedMessage<'_>) -> Option<OwnedHeaders> {
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        let mut out = OwnedHeaders::new();
        if let Some(original) = msg.headers() {
            for h in original.iter() {
                out = out.insert(Header {
                    key: h.key,
                    value: h.value,
                });
            }
        }
        out
    }))
    .ok()
}

impl Stream<'_, '_> {
    /// `on_bad_record: dead_letter`: sets the message aside, holding the commit at its offset.
    pub(super) fn dead_letter_bad(
        &mut self,
        index: usize,
        msg: &BorrowedMessage<'_>,
        reason: &'static str,
        message: String,
    ) -> Result<(), String> {
        let Some(run) = self.partitions[index].as_mut() else {
            return Err(format!("internal error: partition slot {index} is empty"));
        };
        run.tracker
            .dead_letter_sent(msg.offset(), run.processor.watermark());
        run.tracker
            .consumed(msg.offset(), run.processor.watermark());
        self.queue_letter(index, msg, Hold::Offset, reason, message)
    }

    /// `on_late_event: dead_letter`: sets the late event at `msg` aside. A late event that
    /// joined a session already holds it (the collector counted it as one of its rows).
    pub(super) fn dead_letter_late(
        &mut self,
        index: usize,
        msg: &BorrowedMessage<'_>,
        late: LateLetter,
    ) -> Result<(), String> {
        let hold = match late.session_first {
            Some(first) => Hold::Session(first),
            None => {
                let Some(run) = self.partitions[index].as_mut() else {
                    return Err(format!("internal error: partition slot {index} is empty"));
                };
                run.tracker
                    .dead_letter_sent(msg.offset(), run.processor.watermark());
                Hold::Offset
            }
        };
        self.queue_letter(index, msg, hold, late.reason, late.message)
    }

    fn queue_letter(
        &mut self,
        index: usize,
        msg: &BorrowedMessage<'_>,
        hold: Hold,
        reason: &'static str,
        message: String,
    ) -> Result<(), String> {
        let source = super::message_at(msg);
        let Some(letters) = self.dead_letters.as_mut() else {
            return Err(format!(
                "internal error: a dead letter from {source} but no dead-letter producer"
            ));
        };
        let Some(run) = self.partitions[index].as_ref() else {
            return Err(format!("internal error: partition slot {index} is empty"));
        };
        let node = node(self.program, reason);
        let (original, message) = match original_headers(msg) {
            Some(h) => (h, message),
            None => (
                OwnedHeaders::new(),
                format!("{message} (its headers are not copied: one has a name that is not UTF-8)"),
            ),
        };
        let (partition, offset) = (msg.partition().to_string(), msg.offset().to_string());
        let ours = [
            (REASON, reason),
            (ERROR, message.as_str()),
            (NODE, node.as_str()),
            (SOURCE_TOPIC, msg.topic()),
            (SOURCE_PARTITION, partition.as_str()),
            (SOURCE_OFFSET, offset.as_str()),
            (SPEC, letters.spec.as_str()),
        ];
        let headers = ours.iter().fold(original, |out, (key, value)| {
            out.insert(Header {
                key,
                value: Some(*value),
            })
        });
        let n = letters.queued.entry(reason).or_default();
        *n += 1;
        if n.is_power_of_two() {
            tracing::warn!(reason, node = %node, at = %source, topic = %letters.topic, count = *n, "Sent a rejected record to the dead-letter topic: {message}.");
        }
        letters.queue.push_back(Letter {
            partition: index,
            generation: run.generation,
            hold,
            reason,
            key: msg.key().map(<[u8]>::to_vec),
            value: msg.payload().map(<[u8]>::to_vec),
            headers,
            source,
            offset: msg.offset(),
        });
        Ok(())
    }

    /// Starts producing queued dead letters while write slots last (they share the rows'
    /// `max_in_flight`, so a flood of bad records pauses consumption like slow sinks do).
    /// Letters of partitions revoked since are dropped: their new owner reads them again.
    pub(super) fn dispatch_dead_letters(&mut self) {
        let Some(letters) = self.dead_letters.as_mut() else {
            return;
        };
        let partitions = &self.partitions;
        letters.queue.retain(|l| {
            partitions[l.partition]
                .as_ref()
                .is_some_and(|p| p.generation == l.generation)
        });
        while !letters.queue.is_empty() {
            let Ok(permit) = self.permits.clone().try_acquire_owned() else {
                break;
            };
            let Some(letter) = letters.queue.pop_front() else {
                break;
            };
            let producer = letters.producer.clone();
            let topic = letters.topic.clone();
            let tx = self.acks_tx.clone();
            let stop = self.stop.clone();
            self.in_flight += 1;
            self.runtime.spawn(async move {
                let result = produce_with_retry(&producer, &topic, &letter, &stop).await;
                drop(permit);
                let _ = tx.send(Ack::DeadLetter(Acked {
                    partition: letter.partition,
                    generation: letter.generation,
                    hold: letter.hold,
                    offset: letter.offset,
                    reason: letter.reason,
                    result,
                }));
            });
        }
    }

    /// Whether dead letters wait for a write slot.
    pub(super) fn dead_letters_queued(&self) -> bool {
        self.dead_letters
            .as_ref()
            .is_some_and(DeadLetters::has_queued)
    }

    /// A dead letter's delivery report: releases its hold on the commit, or stops the run on a
    /// permanent failure.
    pub(super) fn dead_letter_acked(&mut self, ack: Acked) -> Result<(), String> {
        ack.result?;
        *self.summary.dead_lettered.entry(ack.reason).or_default() += 1;
        self.metrics
            .dead_letters
            .with_label_values(&[ack.reason])
            .inc();
        if let Some(d) = &self.dead_letters {
            self.metrics
                .messages_produced
                .with_label_values(&[&d.topic])
                .inc();
        }
        let Some(p) = self.partitions[ack.partition]
            .as_mut()
            .filter(|p| p.generation == ack.generation)
        else {
            return Ok(());
        };
        match ack.hold {
            Hold::Offset => p.tracker.dead_letter_acked(ack.offset),
            Hold::Session(first) => {
                if let Some(marker) = p.tracker.row_acked(first) {
                    self.markers.push(super::MarkerTask {
                        partition: ack.partition,
                        generation: ack.generation,
                        marker,
                    });
                }
            }
        }
        Ok(())
    }
}

/// Produces `letter` to `topic`, retrying errors that may heal with the sinks' backoff until
/// `stop`; one warning on the first retry and at each power of two, never one per attempt.
async fn produce_with_retry(
    producer: &FutureProducer,
    topic: &str,
    letter: &Letter,
    stop: &AtomicBool,
) -> Result<(), String> {
    let mut attempts = 0u32;
    loop {
        let mut record: FutureRecord<'_, [u8], [u8]> =
            FutureRecord::to(topic).headers(letter.headers.clone());
        if let Some(key) = &letter.key {
            record = record.key(key.as_slice());
        }
        if let Some(value) = &letter.value {
            record = record.payload(value.as_slice());
        }
        match producer.send(record, DEFAULT_QUEUE_TIMEOUT).await {
            Ok(_) => return Ok(()),
            Err((e, _)) if kafka_error_is_retryable(&e) && !stop.load(Ordering::Relaxed) => {
                attempts += 1;
                if attempts == 1 || attempts.is_power_of_two() {
                    tracing::warn!(topic, error = %e, attempts, at = %letter.source, "Producing a dead letter failed; retrying with backoff.");
                }
                tokio::time::sleep(crate::sink::retry_delay(attempts, letter.offset as u64)).await;
            }
            Err((e, _)) => {
                return Err(format!(
                    "cannot send the rejected record from {} ({}) to the dead-letter topic `{topic}`: {e}{}",
                    letter.source,
                    letter.reason,
                    if kafka_error_is_retryable(&e) {
                        " (stopping)"
                    } else {
                        "; check that the topic exists and that the producer may write to it"
                    }
                ))
            }
        }
    }
}
