//! The Confluent Schema Registry wire format. A message names its writer schema in one of two
//! ways, as Confluent's serializers write them:
//!
//! - by prefix (the default): magic byte `0`, a 4-byte big-endian schema id, then the Avro datum;
//! - by header (confluent-kafka's `header_schema_id_serializer`): the value is the bare Avro
//!   datum and the `__value_schema_id` header holds magic byte `1` and the schema's 16-byte GUID
//!   (looked up with `GET /schemas/guids/{guid}`), or magic byte `0` and a 4-byte id.
//!
//! A `__value_schema_id` header wins over the prefix, as in the client's own deserializer.

use super::error::FrameError;
use std::fmt;

/// The header Confluent's serializers name a value's schema in, when not in the prefix.
pub const VALUE_SCHEMA_ID_HEADER: &str = "__value_schema_id";

/// The magic byte before a schema GUID (header framing).
pub const MAGIC_GUID: u8 = 1;

/// A schema GUID, as the registry assigns it (`GET /schemas/guids/{guid}`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct SchemaGuid(pub [u8; 16]);

impl fmt::Display for SchemaGuid {
    /// The registry's spelling: lowercase hex in 8-4-4-4-12 groups.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, b) in self.0.iter().enumerate() {
            if matches!(i, 4 | 6 | 8 | 10) {
                f.write_str("-")?;
            }
            write!(f, "{b:02x}")?;
        }
        Ok(())
    }
}

/// How a message names its writer schema.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum SchemaRef {
    /// A registry schema id (prefix framing, or an id in the header).
    Id(u32),
    /// A registry schema GUID (header framing).
    Guid(SchemaGuid),
}

impl fmt::Display for SchemaRef {
    /// `id 7` or `GUID 0f8e…`, to follow the word "schema".
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SchemaRef::Id(id) => write!(f, "id {id}"),
            SchemaRef::Guid(guid) => write!(f, "GUID {guid}"),
        }
    }
}

/// Splits a message into its schema reference and Avro datum: by the `__value_schema_id`
/// header's value when the message has one, else by the prefix.
pub fn split_framed<'a>(
    payload: &'a [u8],
    header: Option<&[u8]>,
) -> Result<(SchemaRef, &'a [u8]), FrameError> {
    let Some(header) = header else {
        return match split_confluent(payload) {
            Ok((id, datum)) => Ok((SchemaRef::Id(id), datum)),
            Err(FrameError::BadMagic { found }) => Err(FrameError::NoSchemaFraming { found }),
            Err(e) => Err(e),
        };
    };
    if payload.is_empty() {
        return Err(FrameError::Tombstone);
    }
    let schema = match header {
        [MAGIC, a, b, c, d] => SchemaRef::Id(u32::from_be_bytes([*a, *b, *c, *d])),
        [MAGIC_GUID, guid @ ..] if guid.len() == 16 => {
            let mut bytes = [0; 16];
            bytes.copy_from_slice(guid);
            SchemaRef::Guid(SchemaGuid(bytes))
        }
        other => {
            return Err(FrameError::BadSchemaHeader {
                len: other.len().min(u16::MAX as usize) as u16,
                first: other.first().copied(),
            })
        }
    };
    Ok((schema, payload))
}

/// The Confluent magic byte.
pub const MAGIC: u8 = 0;

/// Length of the Confluent header (magic byte + schema id).
pub const HEADER_LEN: usize = 5;

/// Splits a Confluent-framed message into its schema id and Avro datum.
pub fn split_confluent(msg: &[u8]) -> Result<(u32, &[u8]), FrameError> {
    match msg {
        [MAGIC, a, b, c, d, datum @ ..] => Ok((u32::from_be_bytes([*a, *b, *c, *d]), datum)),
        [] => Err(FrameError::Tombstone),
        [found, ..] if *found != MAGIC => Err(FrameError::BadMagic { found: *found }),
        short => Err(FrameError::Truncated {
            len: short.len() as u8,
        }),
    }
}

/// Appends a Confluent header for `schema_id` to `out`.
pub fn write_confluent_header(schema_id: u32, out: &mut Vec<u8>) {
    out.push(MAGIC);
    out.extend_from_slice(&schema_id.to_be_bytes());
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_header_and_datum() {
        assert_eq!(
            split_confluent(&[0, 0, 0, 1, 2, 9, 8]),
            Ok((258, &[9u8, 8][..]))
        );
        assert_eq!(
            split_confluent(&[0, 0xff, 0xff, 0xff, 0xff]),
            Ok((u32::MAX, &[][..]))
        );
        let mut framed = Vec::new();
        write_confluent_header(7, &mut framed);
        framed.push(42);
        assert_eq!(split_confluent(&framed), Ok((7, &[42u8][..])));
    }

    #[test]
    fn rejects_bad_frames() {
        assert_eq!(split_confluent(&[]), Err(FrameError::Tombstone));
        assert_eq!(
            split_confluent(&[1, 0, 0, 0, 1, 5]),
            Err(FrameError::BadMagic { found: 1 })
        );
        assert_eq!(
            split_confluent(b"{\"json\":1}"),
            Err(FrameError::BadMagic { found: b'{' })
        );
        assert_eq!(
            split_confluent(&[0, 0, 1]),
            Err(FrameError::Truncated { len: 3 })
        );
        assert_eq!(split_confluent(&[0]), Err(FrameError::Truncated { len: 1 }));
        assert_eq!(FrameError::BadMagic { found: 1 }.reason(), "bad_magic");
    }

    /// The header value of confluent-kafka's `header_schema_id_serializer` for a GUID.
    fn guid_header(guid: [u8; 16]) -> Vec<u8> {
        let mut h = vec![MAGIC_GUID];
        h.extend_from_slice(&guid);
        h
    }

    #[test]
    fn a_header_names_the_schema_and_the_value_is_the_bare_datum() {
        let guid: [u8; 16] = std::array::from_fn(|i| i as u8 * 17);
        let datum = [0u8, 2, 4];
        assert_eq!(
            split_framed(&datum, Some(&guid_header(guid))),
            Ok((SchemaRef::Guid(SchemaGuid(guid)), &datum[..]))
        );
        assert_eq!(
            SchemaGuid(guid).to_string(),
            "00112233-4455-6677-8899-aabbccddeeff"
        );
        // An id in the header (`SchemaId.id_to_bytes`) is read too; the header wins over a
        // prefix-like start of the value.
        assert_eq!(
            split_framed(&datum, Some(&[0, 0, 0, 1, 0])),
            Ok((SchemaRef::Id(256), &datum[..]))
        );
        // Without the header the prefix is read.
        assert_eq!(
            split_framed(&[0, 0, 0, 0, 9, 42], None),
            Ok((SchemaRef::Id(9), &[42u8][..]))
        );
    }

    #[test]
    fn a_bad_header_says_what_it_should_hold() {
        let err = split_framed(&[2], Some(&[1, 2, 3])).unwrap_err();
        assert_eq!(
            err,
            FrameError::BadSchemaHeader {
                len: 3,
                first: Some(1)
            }
        );
        assert_eq!(err.reason(), "bad_schema_id_header");
        let text = err.to_string();
        assert!(
            text.contains("__value_schema_id") && text.contains("16-byte"),
            "{text}"
        );
        let err = split_framed(&[2], Some(&[])).unwrap_err();
        assert!(err.to_string().contains("empty"), "{err}");
        assert_eq!(
            split_framed(&[], Some(&guid_header([0; 16]))),
            Err(FrameError::Tombstone)
        );
        // A bare datum without the header: the error names both framings.
        let err = split_framed(&[2, 4, 6, 8, 10, 12], None).unwrap_err();
        assert_eq!(err.reason(), "bad_magic");
        let text = err.to_string();
        assert!(
            text.contains("__value_schema_id") && text.contains("prefix"),
            "{text}"
        );
    }
}
