//! The Confluent Schema Registry wire format: magic byte `0`, a 4-byte big-endian schema id,
//! then the Avro datum.

use super::error::FrameError;

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
}
