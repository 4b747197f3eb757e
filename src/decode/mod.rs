//! Avro input decoding: Confluent framing, schemas by id, and schema-compiled projections that
//! read only the fields a spec needs straight into engine [`Record`](spanflow_engine::Record)s.
//!
//! The hot path is [`DecodePlan::decode`]: compiled once per writer schema from a
//! [`Projection`], it walks the writer's fields by position, converts the projected leaves and
//! skips everything else without allocating (strings longer than 23 bytes excepted: they are
//! stored on the heap by `Str`).
//!
//! Conversions: Avro int/long/float/double read as `F64` (longs beyond 2^53 round to the nearest
//! f64), boolean as `Bool`, string and enum symbols as `Str`; a union reads as `Null` or the
//! value of its branch, and a nullable record on the path makes every field below it `Null`.
//!
//! With a reader schema ([`Projection::reader`]) the writer schema is resolved against it per
//! the Avro specification (see [`plan`](DecodePlan::compile)).

mod confluent;
mod cursor;
mod error;
pub mod files;
mod path;
mod plan;
mod projection;
mod reader;
mod reader_schema;
mod schema;
mod sink;
mod skip;
mod store;

pub use confluent::{
    split_confluent, split_framed, write_confluent_header, SchemaGuid, SchemaRef, HEADER_LEN,
    MAGIC, MAGIC_GUID, VALUE_SCHEMA_ID_HEADER,
};
pub use error::{
    BadValue, DecodeError, FrameError, InvalidSchema, Malformed, MalformedKind, Role,
    SchemaFetchFailure, SchemaMismatch, SchemaProblem, TypeMismatch, UnknownField, Unparsable,
    Unresolvable, Unresolved,
};
pub use path::{FieldPath, FieldPathError};
pub use plan::{logical_time_unit, resolve_path, DecodePlan};
pub use projection::{DecodedEvent, Projection};
pub use reader_schema::ReaderSchema;
pub use schema::SchemaSource;
pub use store::{DirFetcher, FetchError, SchemaFetcher, SchemaStore, MAX_UNKNOWN_SCHEMA_IDS};

impl DecodePlan {
    /// Decodes one Avro datum (without Confluent header) into `out`, overwriting it.
    ///
    /// The whole datum must be consumed: bytes left over are a
    /// [`MalformedKind::TrailingBytes`] error. On error `out` holds unspecified values.
    pub fn decode(&self, datum: &[u8], out: &mut DecodedEvent) -> Result<(), DecodeError> {
        let (res, len) = self.decode_prefix(datum, out);
        res?;
        match len {
            Some(len) if len < datum.len() => Err(DecodeError::malformed(
                MalformedKind::TrailingBytes,
                len,
                None,
                format!(
                    "the datum ends after {len} bytes but the message has {} more",
                    datum.len() - len
                ),
            )),
            _ => Ok(()),
        }
    }

    /// Decodes the datum at the start of `buf`, returning the result and the datum's length
    /// when it is known (after success or a value error such as a null session key, not after
    /// malformed bytes).
    pub(crate) fn decode_prefix(
        &self,
        buf: &[u8],
        out: &mut DecodedEvent,
    ) -> (Result<(), DecodeError>, Option<usize>) {
        reader::decode_prefix(self, buf, out)
    }
}

/// The same plans run through serde_avro_fast: a second, independent reader the tests compare
/// ours against.
#[cfg(test)]
mod seed;
#[cfg(test)]
mod tests;
