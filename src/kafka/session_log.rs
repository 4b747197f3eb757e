//! The session log: a topic of completion markers (see [`crate::delivery`]).
//!
//! One message per completed session, keyed `<topic>/<partition>/<first offset>` so a
//! compacted topic keeps every marker. A process that takes over a partition reads the markers
//! of that partition and skips those sessions' events when it replays them.

use crate::delivery::CompletionMarker;
use crate::pipeline::Offset;
use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::error::RDKafkaErrorCode;
use rdkafka::producer::{FutureProducer, FutureRecord};
use rdkafka::{Message, Offset as KafkaOffset, TopicPartitionList};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::time::{Duration, Instant};

/// A marker as stored in the log.
#[derive(Debug, Serialize, Deserialize)]
struct Stored {
    topic: String,
    partition: i32,
    first: Offset,
    last: Offset,
    key: String,
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
        let value = serde_json::to_vec(&Stored {
            topic: topic.to_string(),
            partition,
            first: marker.first,
            last: marker.last,
            key: marker.key.to_string(),
        })
        .map_err(|e| e.to_string())?;
        self.producer
            .send(
                FutureRecord::to(&self.topic).key(&key).payload(&value),
                Duration::from_secs(30),
            )
            .await
            .map(|_| ())
            .map_err(|(e, _)| format!("session log `{}`: {e}", self.topic))
    }

    /// Every marker in the log for the given partitions, read from the start to the current
    /// end of the log (blocking; done when partitions are assigned).
    pub fn read(
        &self,
        partitions: &[(String, i32)],
        timeout: Duration,
    ) -> Result<HashMap<(String, i32), Vec<CompletionMarker>>, String> {
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
        let mut out: HashMap<(String, i32), Vec<CompletionMarker>> = HashMap::new();
        if ends.is_empty() {
            return Ok(out);
        }
        consumer.assign(&tpl).map_err(|e| e.to_string())?;
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
                continue;
            };
            let Ok(m) = serde_json::from_slice::<Stored>(payload) else {
                tracing::warn!(topic = %self.topic, offset = msg.offset(), "Ignored an unreadable session-log message.");
                continue;
            };
            if partitions
                .iter()
                .any(|(t, p)| *t == m.topic && *p == m.partition)
            {
                out.entry((m.topic, m.partition))
                    .or_default()
                    .push(CompletionMarker {
                        key: m.key.into(),
                        first: m.first,
                        last: m.last,
                    });
            }
        }
        Ok(out)
    }
}
