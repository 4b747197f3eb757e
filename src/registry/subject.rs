//! Which subject a producer registers its value schema under.

use serde::Deserialize;

/// How a producer names the subject of a record's value schema (Confluent's
/// `value.subject.name.strategy`). Written in snake_case in specs: `topic_name`, `record_name`,
/// `topic_record_name`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SubjectNameStrategy {
    /// `<topic>-value`: one schema lineage per topic (Confluent's default).
    #[default]
    TopicName,
    /// `<full.record.Name>`: one lineage per record type, shared by every topic.
    RecordName,
    /// `<topic>-<full.record.Name>`: one lineage per record type and topic.
    TopicRecordName,
}

impl SubjectNameStrategy {
    /// The subject for values written to `topic` whose schema is the record
    /// `record_full_name` (namespace included, e.g. `io.spanflow.Span`).
    pub fn subject(self, topic: &str, record_full_name: &str) -> String {
        match self {
            SubjectNameStrategy::TopicName => format!("{topic}-value"),
            SubjectNameStrategy::RecordName => record_full_name.to_owned(),
            SubjectNameStrategy::TopicRecordName => format!("{topic}-{record_full_name}"),
        }
    }
}

impl From<spanflow_operators::spec::SubjectStrategy> for SubjectNameStrategy {
    fn from(s: spanflow_operators::spec::SubjectStrategy) -> Self {
        use spanflow_operators::spec::SubjectStrategy;
        match s {
            SubjectStrategy::TopicName => SubjectNameStrategy::TopicName,
            SubjectStrategy::RecordName => SubjectNameStrategy::RecordName,
            SubjectStrategy::TopicRecordName => SubjectNameStrategy::TopicRecordName,
        }
    }
}
