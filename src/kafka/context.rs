//! The consumer's callbacks: rebalances are recorded for the consumer loop, and partitions
//! being revoked get their committable offsets committed first.

use crate::delivery::Checkpoint;
use prometheus::IntGaugeVec;
use rdkafka::consumer::{
    BaseConsumer, CommitMode, Consumer, ConsumerContext, Rebalance, RebalanceProtocol,
};
use rdkafka::error::RDKafkaErrorCode;
use rdkafka::statistics::Statistics;
use rdkafka::types::RDKafkaRespErr;
use rdkafka::{ClientContext, Offset, TopicPartitionList};
use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

/// A partition of a topic.
pub type PartitionId = (String, i32);

/// What the loop and the callbacks share.
pub struct LoopContext {
    /// Committable checkpoint per owned partition, kept current by the loop.
    pub committable: Mutex<HashMap<PartitionId, Checkpoint>>,
    /// Partitions revoked since the loop last looked.
    pub revoked: Mutex<Vec<PartitionId>>,
    /// Partitions assigned since the loop last looked.
    pub assigned: Mutex<Vec<PartitionId>>,
    /// `spanflow_consumer_lag{topic, partition}`, set from librdkafka's statistics.
    consumer_lag: IntGaugeVec,
    /// librdkafka's text of the last error (it says more than the code `poll` returns, e.g.
    /// `Decompression (codec 0x4) of message at 0 of 2439 bytes failed`), taken by the loop.
    last_error: Mutex<Option<String>>,
}

impl LoopContext {
    /// A context reporting lag to `consumer_lag`.
    pub fn new(consumer_lag: IntGaugeVec) -> Self {
        Self {
            committable: Mutex::default(),
            revoked: Mutex::default(),
            assigned: Mutex::default(),
            consumer_lag,
            last_error: Mutex::default(),
        }
    }

    /// The text librdkafka gave the error `poll` just returned, if any.
    pub fn take_error_text(&self) -> Option<String> {
        self.last_error
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .take()
    }
}

impl ClientContext for LoopContext {
    /// Every error event, just before `poll` returns it to the loop: kept for the loop, which
    /// logs once per change of state ([`super::stall`]) instead of once per error as
    /// rdkafka's default does (ten lines a second for a batch that cannot be decompressed).
    fn error(&self, error: rdkafka::error::KafkaError, reason: &str) {
        tracing::debug!(error = %error, reason, "librdkafka error.");
        *self.last_error.lock().unwrap_or_else(|p| p.into_inner()) = Some(reason.to_owned());
    }

    /// librdkafka's periodic statistics (`statistics.interval.ms`): the lag of each partition
    /// this consumer fetches, behind the committed offset. Partitions it stopped fetching are
    /// reported as unknown (-1) by librdkafka and skipped.
    fn stats(&self, statistics: Statistics) {
        for (topic, t) in &statistics.topics {
            for (partition, p) in &t.partitions {
                if *partition < 0 || p.consumer_lag < 0 {
                    continue;
                }
                self.consumer_lag
                    .with_label_values(&[topic.as_str(), &partition.to_string()])
                    .set(p.consumer_lag);
            }
        }
    }
}

/// `tpl` with `checkpoints` as offsets and metadata.
pub fn commit_list<'a>(
    checkpoints: impl IntoIterator<Item = (&'a PartitionId, &'a Checkpoint)>,
) -> TopicPartitionList {
    let mut tpl = TopicPartitionList::new();
    for ((topic, partition), cp) in checkpoints {
        let mut e = tpl.add_partition(topic, *partition);
        if e.set_offset(Offset::Offset(cp.offset)).is_ok() {
            e.set_metadata(cp.metadata());
        }
    }
    tpl
}

impl ConsumerContext for LoopContext {
    /// librdkafka's rebalance, except that an assignment starts at the committed offsets given
    /// explicitly: left to itself, librdkafka validates committed offsets against leader epochs,
    /// and brokers that answer that request loosely (tansu 0.6) make it jump to the log end,
    /// skipping everything after the commit.
    fn rebalance(
        &self,
        consumer: &BaseConsumer<Self>,
        err: RDKafkaRespErr,
        tpl: &mut TopicPartitionList,
    ) {
        let cooperative = matches!(
            consumer.rebalance_protocol(),
            RebalanceProtocol::Cooperative
        );
        let result = match err {
            RDKafkaRespErr::RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS => {
                self.pre_rebalance(consumer, &Rebalance::Assign(tpl));
                match consumer.committed_offsets(tpl.clone(), Duration::from_secs(30)) {
                    Ok(committed) => {
                        for e in committed.elements() {
                            if let Offset::Offset(o) = e.offset() {
                                let _ = tpl.set_partition_offset(
                                    e.topic(),
                                    e.partition(),
                                    Offset::Offset(o),
                                );
                            }
                        }
                    }
                    Err(e) => {
                        tracing::warn!(error = %e, "Could not read committed offsets; librdkafka will.")
                    }
                }
                if cooperative {
                    consumer.incremental_assign(tpl)
                } else {
                    consumer.assign(tpl)
                }
            }
            RDKafkaRespErr::RD_KAFKA_RESP_ERR__REVOKE_PARTITIONS => {
                self.pre_rebalance(consumer, &Rebalance::Revoke(tpl));
                if cooperative {
                    consumer.incremental_unassign(tpl)
                } else {
                    consumer.unassign()
                }
            }
            other => {
                let code: RDKafkaErrorCode = other.into();
                tracing::warn!(error = %code, "Rebalance failed.");
                Ok(())
            }
        };
        if let Err(e) = result {
            tracing::error!(error = %e, "Could not apply a rebalance.");
        }
    }

    fn pre_rebalance(&self, consumer: &BaseConsumer<Self>, rebalance: &Rebalance<'_>) {
        match rebalance {
            Rebalance::Revoke(tpl) => {
                let ids: Vec<PartitionId> = tpl
                    .elements()
                    .iter()
                    .map(|e| (e.topic().to_string(), e.partition()))
                    .collect();
                let committable = self.committable.lock().unwrap_or_else(|p| p.into_inner());
                let list = commit_list(ids.iter().filter_map(|id| committable.get_key_value(id)));
                drop(committable);
                if list.count() > 0 {
                    if let Err(e) = consumer.commit(&list, CommitMode::Sync) {
                        tracing::warn!(error = %e, "Could not commit revoked partitions; another process will replay more.");
                    }
                }
                tracing::info!(partitions = ?ids, "Partitions revoked.");
                self.revoked
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .extend(ids);
            }
            Rebalance::Assign(tpl) => {
                let ids: Vec<PartitionId> = tpl
                    .elements()
                    .iter()
                    .map(|e| (e.topic().to_string(), e.partition()))
                    .collect();
                let names: Vec<String> = ids.iter().map(|(t, p)| format!("{t}/{p}")).collect();
                tracing::info!(partitions = ?names, "Partitions assigned.");
                self.assigned
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .extend(ids);
            }
            Rebalance::Error(e) => tracing::warn!(error = %e, "Rebalance failed."),
        }
    }
}
