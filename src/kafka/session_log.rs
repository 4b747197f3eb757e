//! The session log: a topic of completion markers and checkpoints (see [`crate::delivery`]).
//!
//! - One message per completed session, keyed `<topic>/<partition>/<first offset>` so a
//!   compacted topic keeps every marker. A process that takes over a partition reads the
//!   markers of that partition and skips those sessions' events when it replays them.
//! - Before each offset commit, the checkpoint (offset and watermark), keyed
//!   `<topic>/<partition>/checkpoint`.
//! - Before a quiet partition's open sessions end (idleness, a wall-clock decision), the
//!   offset at which they end, keyed `<topic>/<partition>/idle/<offset>`: a replay ends the
//!   same sessions at the same place, whatever arrived after it. The watermark also travels in the commit's metadata,
//!   but some brokers drop commit metadata (tansu 0.6), so the log is the fallback.

use crate::delivery::{Checkpoint, CompletionMarker};
use crate::pipeline::Offset;
use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::error::RDKafkaErrorCode;
use rdkafka::producer::{FutureProducer, FutureRecord};
use rdkafka::{Message, Offset as KafkaOffset, TopicPartitionList};
use serde::{Deserialize, Serialize};
use spanflow_engine::Time;
use std::collections::HashMap;
use std::time::{Duration, Instant};

/// A log record.
#[derive(Debug, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
enum Stored {
    Completed {
        topic: String,
        partition: i32,
        first: Offset,
        last: Offset,
        key: String,
    },
    Checkpoint {
        topic: String,
        partition: i32,
        offset: Offset,
        watermark: Option<Time>,
    },
    IdleEnd {
        topic: String,
        partition: i32,
        offset: Offset,
    },
}

/// What the log says about one partition.
#[derive(Debug, Default)]
pub struct PartitionLog {
    /// Completed sessions.
    pub completed: Vec<CompletionMarker>,
    /// Checkpoints written before commits, oldest first.
    pub checkpoints: Vec<Checkpoint>,
    /// Offsets before which every open session ended because the partition was quiet.
    pub idle_ends: Vec<Offset>,
}

impl PartitionLog {
    /// The watermark of the checkpoint at `offset`, if one was written.
    pub fn watermark_at(&self, offset: Offset) -> Option<Time> {
        self.checkpoints
            .iter()
            .rev()
            .find(|c| c.offset == offset)
            .and_then(|c| c.watermark)
    }
}

/// Writes markers and reads them back.
#[derive(Clone)]
pub struct SessionLog {
    topic: String,
    producer: FutureProducer,
    client: ClientConfig,
}

impl SessionLog {
    /// Opens the log topic `topic`, creating it (compacted, one partition) when missing. A
    /// broker that cannot create topics this way (librdkafka's mock cluster) gets a warning:
    /// the topic must then exist or be auto-created on first write.
    pub async fn open(client: &ClientConfig, topic: &str) -> Result<Self, String> {
        let admin: AdminClient<DefaultClientContext> = client
            .create()
            .map_err(|e| format!("session log: cannot create an admin client: {e}"))?;
        let exists = admin
            .inner()
            .fetch_metadata(Some(topic), Duration::from_secs(10))
            .is_ok_and(|m| {
                m.topics()
                    .iter()
                    .any(|t| t.name() == topic && t.error().is_none() && !t.partitions().is_empty())
            });
        let new =
            NewTopic::new(topic, 1, TopicReplication::Fixed(-1)).set("cleanup.policy", "compact");
        let options = AdminOptions::new()
            .operation_timeout(Some(Duration::from_secs(10)))
            .request_timeout(Some(Duration::from_secs(10)));
        let created = if exists {
            Ok(Vec::new())
        } else {
            admin.create_topics([&new], &options).await
        };
        match created {
            Ok(results) => {
                for r in results {
                    match r {
                        Ok(_) | Err((_, RDKafkaErrorCode::TopicAlreadyExists)) => {}
                        Err((t, code)) => {
                            tracing::warn!(topic = %t, error = %code, "Could not create the session log topic; using it as it is.");
                        }
                    }
                }
            }
            Err(e) => {
                tracing::warn!(topic, error = %e, "Could not create the session log topic; using it as it is.");
            }
        }
        let producer = client
            .clone()
            .set("acks", "all")
            .create()
            .map_err(|e| format!("session log: cannot create a producer: {e}"))?;
        Ok(Self {
            topic: topic.to_string(),
            producer,
            client: client.clone(),
        })
    }

    /// The topic's name.
    pub fn topic(&self) -> &str {
        &self.topic
    }

    /// Writes the marker of a session of `topic`/`partition`; resolves when it is durable.
    pub async fn record(
        &self,
        topic: &str,
        partition: i32,
        marker: &CompletionMarker,
    ) -> Result<(), String> {
        let key = format!("{topic}/{partition}/{}", marker.first);
        self.write(
            &key,
            &Stored::Completed {
                topic: topic.to_string(),
                partition,
                first: marker.first,
                last: marker.last,
                key: marker.key.to_string(),
            },
        )
        .await
    }

    /// Removes the marker of the session of `topic`/`partition` that started at `first` (a
    /// tombstone): once the commit is past the session, no replay can meet its events.
    pub async fn forget(&self, topic: &str, partition: i32, first: Offset) -> Result<(), String> {
        let key = format!("{topic}/{partition}/{first}");
        self.producer
            .send(
                FutureRecord::<str, [u8]>::to(&self.topic).key(&key),
                Duration::from_secs(30),
            )
            .await
            .map(|_| ())
            .map_err(|(e, _)| format!("session log `{}`: {e}", self.topic))
    }

    /// Writes that every session of `topic`/`partition` open before `offset` ends there
    /// (the partition was quiet); resolves when it is durable.
    pub async fn record_idle_end(
        &self,
        topic: &str,
        partition: i32,
        offset: Offset,
    ) -> Result<(), String> {
        let key = format!("{topic}/{partition}/idle/{offset}");
        self.write(
            &key,
            &Stored::IdleEnd {
                topic: topic.to_string(),
                partition,
                offset,
            },
        )
        .await
    }

    /// Writes the checkpoint about to be committed for `topic`/`partition`.
    pub async fn record_checkpoint(
        &self,
        topic: &str,
        partition: i32,
        checkpoint: Checkpoint,
    ) -> Result<(), String> {
        let key = format!("{topic}/{partition}/checkpoint");
        self.write(
            &key,
            &Stored::Checkpoint {
                topic: topic.to_string(),
                partition,
                offset: checkpoint.offset,
                watermark: checkpoint.watermark,
            },
        )
        .await
    }

    async fn write(&self, key: &str, record: &Stored) -> Result<(), String> {
        let value = serde_json::to_vec(record).map_err(|e| e.to_string())?;
        self.producer
            .send(
                FutureRecord::to(&self.topic).key(key).payload(&value),
                Duration::from_secs(30),
            )
            .await
            .map(|_| ())
            .map_err(|(e, _)| format!("session log `{}`: {e}", self.topic))
    }

    /// What the log holds for the given partitions, read from the start to the current end
    /// of the log (blocking; done when partitions are assigned).
    pub fn read(
        &self,
        partitions: &[(String, i32)],
        timeout: Duration,
    ) -> Result<HashMap<(String, i32), PartitionLog>, String> {
        let consumer: BaseConsumer = self
            .client
            .clone()
            .set("group.id", format!("{}.reader", self.topic))
            .set("enable.auto.commit", "false")
            .set("enable.partition.eof", "false")
            .create()
            .map_err(|e| format!("session log: cannot create a reader: {e}"))?;
        let metadata = consumer
            .fetch_metadata(Some(&self.topic), timeout)
            .map_err(|e| format!("session log `{}`: {e}", self.topic))?;
        let mut tpl = TopicPartitionList::new();
        let mut ends = HashMap::new();
        for t in metadata.topics() {
            for p in t.partitions() {
                let (low, high) = consumer
                    .fetch_watermarks(&self.topic, p.id(), timeout)
                    .map_err(|e| format!("session log `{}`: {e}", self.topic))?;
                if high > low {
                    tpl.add_partition_offset(&self.topic, p.id(), KafkaOffset::Beginning)
                        .map_err(|e| e.to_string())?;
                    ends.insert(p.id(), high);
                }
            }
        }
        let mut out: HashMap<(String, i32), PartitionLog> = HashMap::new();
        if ends.is_empty() {
            return Ok(out);
        }
        consumer.assign(&tpl).map_err(|e| e.to_string())?;
        // Tombstoned keys, with the tombstone's offset; and the records read, with their keys,
        // so a tombstone that comes after a record removes it.
        let mut forgotten: HashMap<Vec<u8>, i64> = HashMap::new();
        let mut records: Vec<(Option<Vec<u8>>, i64, Stored)> = Vec::new();
        let deadline = Instant::now() + timeout;
        while !ends.is_empty() {
            if Instant::now() > deadline {
                return Err(format!(
                    "session log `{}`: not read to its end within {timeout:?}",
                    self.topic
                ));
            }
            let Some(msg) = consumer.poll(Duration::from_millis(100)) else {
                continue;
            };
            let msg = msg.map_err(|e| format!("session log `{}`: {e}", self.topic))?;
            if ends
                .get(&msg.partition())
                .is_some_and(|end| msg.offset() + 1 >= *end)
            {
                ends.remove(&msg.partition());
            }
            let Some(payload) = msg.payload() else {
                // A tombstone: the marker under this key is no longer needed.
                if let Some(key) = msg.key() {
                    forgotten.insert(key.to_vec(), msg.offset());
                }
                continue;
            };
            let Ok(record) = serde_json::from_slice::<Stored>(payload) else {
                tracing::warn!(topic = %self.topic, offset = msg.offset(), "Ignored an unreadable session-log message.");
                continue;
            };
            records.push((msg.key().map(<[u8]>::to_vec), msg.offset(), record));
        }
        let wanted = |topic: &str, partition: i32| {
            partitions
                .iter()
                .any(|(t, p)| t == topic && *p == partition)
        };
        for (key, offset, record) in records {
            let removed = key
                .as_ref()
                .and_then(|k| forgotten.get(k))
                .is_some_and(|at| *at > offset);
            match record {
                Stored::Completed {
                    topic,
                    partition,
                    first,
                    last,
                    key,
                } if !removed && wanted(&topic, partition) => {
                    out.entry((topic, partition))
                        .or_default()
                        .completed
                        .push(CompletionMarker {
                            key: key.into(),
                            first,
                            last,
                        });
                }
                Stored::Checkpoint {
                    topic,
                    partition,
                    offset,
                    watermark,
                } if wanted(&topic, partition) => {
                    out.entry((topic, partition))
                        .or_default()
                        .checkpoints
                        .push(Checkpoint { offset, watermark });
                }
                Stored::IdleEnd {
                    topic,
                    partition,
                    offset,
                } if wanted(&topic, partition) => {
                    out.entry((topic, partition))
                        .or_default()
                        .idle_ends
                        .push(offset);
                }
                _ => {}
            }
        }
        Ok(out)
    }
}
