//! Errors of the decode layer: schema/projection mismatches found at compile time, and per-message
//! decode failures. Every variant has a short, stable `reason()` label for metrics.

use super::confluent::SchemaRef;
use super::path::FieldPath;
use spanflow_engine::ValueType;
use std::fmt;
use std::sync::Arc;

/// A Confluent wire-format frame that cannot be split into schema id and datum.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum FrameError {
    /// An empty payload: a Kafka tombstone, not an event.
    #[error("empty message (tombstone): there is no Avro datum to decode")]
    Tombstone,
    /// The first byte is not the Confluent magic byte `0`.
    #[error("bad magic byte {found:#04x}: Confluent-framed Avro starts with 0x00 then a 4-byte schema id")]
    BadMagic {
        /// The byte found instead.
        found: u8,
    },
    /// A Kafka message whose value does not start with the magic byte `0` and that has no
    /// `__value_schema_id` header either.
    #[error("bad magic byte {found:#04x}: a message names its writer schema either by a prefix (0x00 then a 4-byte schema id) or by a `__value_schema_id` header (0x01 then a 16-byte schema GUID); this one has no such header and its value does not start with 0x00")]
    NoSchemaFraming {
        /// The value's first byte.
        found: u8,
    },
    /// The `__value_schema_id` header does not hold a schema GUID or id.
    #[error("the `__value_schema_id` header holds {}: it should hold 0x01 then a 16-byte schema GUID (17 bytes, confluent-kafka's header_schema_id_serializer), or 0x00 then a 4-byte schema id (5 bytes)", describe_header(*.len, *.first))]
    BadSchemaHeader {
        /// The header value's length.
        len: u16,
        /// Its first byte.
        first: Option<u8>,
    },
    /// Fewer than the 5 header bytes.
    #[error("message of {len} bytes is too short for the 5-byte Confluent header (magic byte + schema id)")]
    Truncated {
        /// The message length (always below 5).
        len: u8,
    },
}

impl FrameError {
    /// A short label for metrics.
    pub fn reason(&self) -> &'static str {
        match self {
            FrameError::Tombstone => "tombstone",
            FrameError::BadMagic { .. } | FrameError::NoSchemaFraming { .. } => "bad_magic",
            FrameError::Truncated { .. } => "truncated_header",
            FrameError::BadSchemaHeader { .. } => "bad_schema_id_header",
        }
    }
}

fn describe_header(len: u16, first: Option<u8>) -> String {
    match first {
        None => "an empty value".to_owned(),
        Some(b) => format!("{len} bytes starting with {b:#04x}"),
    }
}

/// An Avro schema that could not be read or parsed.
#[derive(Clone, Debug, thiserror::Error)]
#[error("{context}: {message}")]
pub struct InvalidSchema {
    /// Where the schema came from (file name, schema id, "OCF header").
    pub context: String,
    /// What is wrong with it.
    pub message: String,
}

/// What a projected path is used for; it decides which Avro types it may have.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Role {
    /// The session key (string, enum, int or long).
    SessionKey,
    /// The event time (int, long, float or double).
    Time,
    /// The sequence number (int or long).
    Sequence,
    /// A projected field of the given type.
    Field(ValueType),
    /// A field of whichever readable type it has (a `get` without `type:` takes the schema's).
    AnyField,
}

impl Role {
    /// The writer types this role accepts, for error messages.
    pub fn accepted(self) -> &'static str {
        match self {
            Role::SessionKey => "string, enum, int or long",
            Role::Time => "int, long, float or double (optionally a timestamp logical type)",
            Role::Sequence => "int or long",
            Role::Field(ValueType::F64) => "int, long, float or double",
            Role::Field(ValueType::Bool) => "boolean",
            Role::Field(ValueType::Str) => "string or enum",
            Role::Field(ValueType::Record) => "nothing: project the record's leaf fields instead",
            Role::AnyField => "boolean, int, long, float, double, string or enum",
        }
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Role::SessionKey => f.write_str("the session key"),
            Role::Time => f.write_str("the event time"),
            Role::Sequence => f.write_str("the sequence number"),
            Role::Field(t) => write!(f, "a {t} field"),
            Role::AnyField => f.write_str("a boolean, number or string"),
        }
    }
}

/// A projected path that names no field of the writer schema.
#[derive(Debug, PartialEq)]
pub struct UnknownField {
    /// The full projected path.
    pub path: FieldPath,
    /// The segment that does not exist.
    pub missing: String,
    /// Full name of the record that lacks it.
    pub record: String,
    /// The closest existing field name, if one is a likely typo.
    pub suggestion: Option<String>,
    /// The record's fields.
    pub valid: Vec<String>,
}

/// A projected path whose writer type cannot produce what the projection asks for.
#[derive(Debug, PartialEq)]
pub struct TypeMismatch {
    /// The full projected path.
    pub path: FieldPath,
    /// How far the path resolved before the mismatch (the whole path for leaf mismatches).
    pub at: FieldPath,
    /// The writer type at `at`, e.g. `["null","string"]`.
    pub writer_type: String,
    /// What the path is used for.
    pub role: Role,
    /// Extra explanation, e.g. why a union is not supported.
    pub note: Option<String>,
}

/// A projection that does not fit a writer schema; found once, when compiling a [`DecodePlan`].
///
/// [`DecodePlan`]: super::DecodePlan
#[derive(Debug, PartialEq, thiserror::Error)]
pub enum SchemaMismatch {
    /// The schema's top-level type is not a record.
    #[error("the writer schema's top-level type is {found}, not a record")]
    RootNotRecord {
        /// The top-level type.
        found: Box<str>,
    },
    /// The projection only accepts records with another full name.
    #[error(
        "the writer schema is record `{found}`, but this projection only accepts `{expected}`"
    )]
    OtherRecord {
        /// The full name the projection asks for.
        expected: Box<str>,
        /// The writer schema's full name.
        found: Box<str>,
    },
    /// A projected path names a field the writer schema does not have.
    #[error("{0}")]
    UnknownField(Box<UnknownField>),
    /// A projected path's writer type does not fit its use.
    #[error("{0}")]
    TypeMismatch(Box<TypeMismatch>),
    /// The writer schema does not resolve to the reader schema (`input.schema`) on a projected
    /// path: a missing field without default, types that do not promote, a bad default.
    #[error("{0}")]
    Unresolvable(Box<Unresolvable>),
}

/// A projected path on which the writer schema does not resolve to the reader schema.
#[derive(Debug, PartialEq)]
pub struct Unresolvable {
    /// The full projected path.
    pub path: FieldPath,
    /// A short label for metrics: `no_default`, `incompatible_types` or `bad_default`.
    pub reason: &'static str,
    /// What does not resolve, naming the field and both types, and what would.
    pub message: String,
}

impl fmt::Display for Unresolvable {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

/// A value of one record that the reader schema cannot take although the schemas resolve: an
/// enum symbol the reader lacks (without a default), a writer union branch no reader branch
/// matches.
#[derive(Debug, PartialEq)]
pub struct Unresolved {
    /// The projected path (or the record on it) whose value does not resolve.
    pub path: FieldPath,
    /// A short label for metrics: `unknown_enum_symbol` or `unmatched_union_branch`.
    pub reason: &'static str,
    /// Why, naming the writer value and the reader type.
    pub detail: String,
}

impl fmt::Display for UnknownField {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&describe_unknown(self))
    }
}

impl fmt::Display for TypeMismatch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&describe_type(self))
    }
}

fn describe_unknown(e: &UnknownField) -> String {
    let hint = match &e.suggestion {
        Some(s) => format!("; did you mean `{s}`?"),
        None => ".".to_owned(),
    };
    let full = if e.path.len() > 1 {
        format!(" (in `{}`)", e.path)
    } else {
        String::new()
    };
    format!(
        "record `{}` has no field `{}`{full}{hint} Valid fields: {}",
        e.record,
        e.missing,
        e.valid
            .iter()
            .map(|v| format!("`{v}`"))
            .collect::<Vec<_>>()
            .join(", ")
    )
}

fn describe_type(e: &TypeMismatch) -> String {
    let mut s = if e.at == e.path {
        format!(
            "`{}` has writer type {}, which cannot be read as {} (accepted: {})",
            e.path,
            e.writer_type,
            e.role,
            e.role.accepted()
        )
    } else {
        format!(
            "`{}` cannot be resolved: `{}` has writer type {}, which has no fields",
            e.path, e.at, e.writer_type
        )
    };
    if let Some(note) = &e.note {
        s.push_str("; ");
        s.push_str(note);
    }
    s
}

impl SchemaMismatch {
    /// A short label for metrics.
    pub fn reason(&self) -> &'static str {
        match self {
            SchemaMismatch::RootNotRecord { .. } => "root_not_record",
            SchemaMismatch::OtherRecord { .. } => "other_record_type",
            SchemaMismatch::UnknownField(_) => "unknown_field",
            SchemaMismatch::TypeMismatch(_) => "type_mismatch",
            SchemaMismatch::Unresolvable(u) => u.reason,
        }
    }
}

/// The kind of a malformed Avro datum.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MalformedKind {
    /// The datum ended in the middle of a value (or a length points past its end).
    Truncated,
    /// A union branch index outside the union.
    InvalidUnionIndex,
    /// An enum symbol index outside the enum.
    InvalidEnumIndex,
    /// A negative string/bytes length or block byte size.
    InvalidLength,
    /// A string that is not UTF-8.
    InvalidUtf8,
    /// A boolean byte other than 0 or 1.
    InvalidBool,
    /// A varint longer than 10 bytes.
    InvalidVarint,
    /// An array or map with more elements than the decoder allows.
    TooManyItems,
    /// Nesting deeper than the decoder allows.
    TooDeep,
    /// Bytes left after the datum.
    TrailingBytes,
    /// Any other malformation.
    Other,
}

impl MalformedKind {
    /// A short label for metrics.
    pub fn reason(self) -> &'static str {
        match self {
            MalformedKind::Truncated => "truncated",
            MalformedKind::InvalidUnionIndex => "invalid_union_index",
            MalformedKind::InvalidEnumIndex => "invalid_enum_index",
            MalformedKind::InvalidLength => "invalid_length",
            MalformedKind::InvalidUtf8 => "invalid_utf8",
            MalformedKind::InvalidBool => "invalid_bool",
            MalformedKind::InvalidVarint => "invalid_varint",
            MalformedKind::TooManyItems => "too_many_items",
            MalformedKind::TooDeep => "too_deep",
            MalformedKind::TrailingBytes => "trailing_bytes",
            MalformedKind::Other => "malformed",
        }
    }
}

/// Details of a malformed datum: what, where (byte offset and field), and the specifics.
#[derive(Debug, PartialEq)]
pub struct Malformed {
    /// What is wrong.
    pub kind: MalformedKind,
    /// Byte offset in the datum where the problem was found.
    pub offset: usize,
    /// The writer-schema field being read (dotted path), if inside a field.
    pub field: Option<String>,
    /// Specifics, e.g. "union branch 5 of a 2-branch union".
    pub detail: String,
}

impl fmt::Display for Malformed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "malformed Avro datum ({}) at byte {}",
            self.kind.reason(),
            self.offset
        )?;
        if let Some(field) = &self.field {
            write!(f, " in field `{field}`")?;
        }
        write!(f, ": {}", self.detail)
    }
}

/// A schema that could not be fetched (boxed in [`DecodeError`]: a GUID would double the size
/// of every decode result).
#[derive(Debug)]
pub struct SchemaFetchFailure {
    /// The schema id or GUID.
    pub id: SchemaRef,
    /// What went wrong.
    pub message: String,
}

/// Why a message could not be decoded into a record.
#[derive(Debug, thiserror::Error)]
pub enum DecodeError {
    /// The Confluent frame is unusable.
    #[error(transparent)]
    Frame(#[from] FrameError),
    /// No schema is known for this id or GUID.
    #[error("unknown schema {0}: no local .avsc file (found by id only) or registry entry has it")]
    UnknownSchemaId(Box<SchemaRef>),
    /// The schema for this id exists but cannot be used (invalid, or the projection does not fit).
    #[error("schema {id}: {error}")]
    UnusableSchema {
        /// The schema id or GUID (boxed: a GUID would double the size of every decode result).
        id: Box<SchemaRef>,
        /// Why (shared: the same cached error is returned for every message with this id).
        error: Arc<SchemaProblem>,
    },
    /// The schema source is temporarily unavailable (retry later; not cached).
    #[error("schema {} is unavailable: {}", .0.id, .0.message)]
    SchemaUnavailable(Box<SchemaFetchFailure>),
    /// The schema source cannot serve any schema until its configuration is fixed (e.g. the
    /// registry rejected the credentials): fatal, stop the pipeline (not cached).
    #[error("cannot get schema {}: {}", .0.id, .0.message)]
    SchemaSourceFailed(Box<SchemaFetchFailure>),
    /// The session-key field is null in this record.
    #[error("the session key `{0}` is null in this record")]
    MissingSessionKey(Box<FieldPath>),
    /// The time field is null in this record (or inside a null record).
    #[error("the event time `{0}` is null in this record")]
    MissingTime(Box<FieldPath>),
    /// The time value does not fit epoch milliseconds.
    #[error("the event time `{}` = {} is out of range for epoch milliseconds", .0 .0, .0 .1)]
    TimeOutOfRange(Box<(FieldPath, String)>),
    /// The bytes are not a valid datum of the writer schema.
    #[error("{0}")]
    Malformed(Box<Malformed>),
    /// A value of this record does not resolve to the reader schema.
    #[error("`{}` cannot be read with the reader schema (input.schema): {}", .0.path, .0.detail)]
    Unresolved(Box<Unresolved>),
    /// A value of a JSON Lines, CSV or Parquet record does not fit its field's type.
    #[error("{0}")]
    BadValue(Box<BadValue>),
    /// A line of a JSON Lines or CSV file that is not a record at all (invalid JSON, a CSV row
    /// with another number of cells than the header).
    #[error("{}", .0.detail)]
    Unparsable(Box<Unparsable>),
}

/// A value of a JSON Lines, CSV or Parquet record that its field's type does not take: never
/// coerced, the record is bad.
#[derive(Debug, PartialEq)]
pub struct BadValue {
    /// The column (the field's dotted path).
    pub column: String,
    /// The value as found, e.g. `"7"` (JSON), `7` (CSV), `null`.
    pub value: String,
    /// What the field takes, e.g. `one of the enum's symbols [init, play]`.
    pub expected: String,
}

impl fmt::Display for BadValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "column `{}`: {} is not {}",
            self.column, self.value, self.expected
        )
    }
}

/// A line that is no record: what is wrong with it.
#[derive(Debug, PartialEq)]
pub struct Unparsable {
    /// A short label for metrics: `invalid_json` or `malformed_row`.
    pub reason: &'static str,
    /// What is wrong, and what a line should be.
    pub detail: String,
}

/// Why a schema id cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum SchemaProblem {
    /// The schema text is invalid.
    #[error(transparent)]
    Invalid(#[from] InvalidSchema),
    /// The projection does not fit the schema.
    #[error(transparent)]
    Mismatch(#[from] SchemaMismatch),
}

impl SchemaProblem {
    /// A short label for metrics.
    pub fn reason(&self) -> &'static str {
        match self {
            SchemaProblem::Invalid(_) => "invalid_schema",
            SchemaProblem::Mismatch(m) => m.reason(),
        }
    }
}

impl DecodeError {
    /// A short label for metrics ("bad_magic", "unknown_schema_id", "truncated", …).
    pub fn reason(&self) -> &'static str {
        match self {
            DecodeError::Frame(e) => e.reason(),
            DecodeError::UnknownSchemaId(_) => "unknown_schema_id",
            DecodeError::UnusableSchema { error, .. } => error.reason(),
            DecodeError::SchemaUnavailable { .. } => "schema_unavailable",
            DecodeError::SchemaSourceFailed { .. } => "schema_source_failed",
            DecodeError::MissingSessionKey(_) => "missing_session_key",
            DecodeError::MissingTime(_) => "missing_time",
            DecodeError::TimeOutOfRange(_) => "time_out_of_range",
            DecodeError::Malformed(m) => m.kind.reason(),
            DecodeError::Unresolved(u) => u.reason,
            DecodeError::BadValue(_) => "bad_value",
            DecodeError::Unparsable(u) => u.reason,
        }
    }

    /// Whether retrying the same message later may succeed (only when the schema source was
    /// temporarily unavailable).
    pub fn is_retriable(&self) -> bool {
        matches!(self, DecodeError::SchemaUnavailable { .. })
    }

    /// Whether no later message can be decoded either until the configuration is fixed (the
    /// schema source failed fatally): stop instead of dropping messages.
    pub fn is_fatal(&self) -> bool {
        matches!(self, DecodeError::SchemaSourceFailed { .. })
    }

    /// Whether the message is of another record type than the spec's `input.record_name`
    /// (topics carrying several types): not bad data, just not this spec's.
    pub fn is_other_record_type(&self) -> bool {
        self.reason() == "other_record_type"
    }

    pub(crate) fn malformed(
        kind: MalformedKind,
        offset: usize,
        field: Option<String>,
        detail: impl Into<String>,
    ) -> Self {
        DecodeError::Malformed(Box::new(Malformed {
            kind,
            offset,
            field,
            detail: detail.into(),
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors_stay_small() {
        assert!(
            std::mem::size_of::<DecodeError>() <= 24,
            "{}",
            std::mem::size_of::<DecodeError>()
        );
        assert!(std::mem::size_of::<SchemaMismatch>() <= 40);
        assert!(std::mem::size_of::<Result<(), DecodeError>>() <= 24);
    }

    #[test]
    fn unknown_field_message_suggests_and_lists() {
        let e = SchemaMismatch::UnknownField(Box::new(UnknownField {
            path: "playerstate".parse().unwrap(),
            missing: "playerstate".into(),
            record: "io.x.Heartbeat".into(),
            suggestion: Some("playerState".into()),
            valid: vec!["sessionId".into(), "playerState".into()],
        }));
        assert_eq!(
            e.to_string(),
            "record `io.x.Heartbeat` has no field `playerstate`; did you mean `playerState`? \
             Valid fields: `sessionId`, `playerState`"
        );
        assert_eq!(e.reason(), "unknown_field");
    }

    #[test]
    fn type_mismatch_names_path_writer_type_and_request() {
        let e = SchemaMismatch::TypeMismatch(Box::new(TypeMismatch {
            path: "cdn".parse().unwrap(),
            at: "cdn".parse().unwrap(),
            writer_type: r#"["null","string"]"#.into(),
            role: Role::Field(ValueType::F64),
            note: None,
        }));
        assert_eq!(
            e.to_string(),
            r#"`cdn` has writer type ["null","string"], which cannot be read as a f64 field (accepted: int, long, float or double)"#
        );
    }
}
