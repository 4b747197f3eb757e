//! Reading Avro binary primitives from a byte slice, with specific errors.

use super::error::MalformedKind;

/// A malformation found at the cursor: what, and two numbers for the message.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Fail {
    pub(crate) kind: MalformedKind,
    pub(crate) a: i64,
    pub(crate) b: i64,
}

impl Fail {
    pub(crate) fn new(kind: MalformedKind, a: i64, b: i64) -> Self {
        Fail { kind, a, b }
    }

    /// A human-readable account of the failure.
    pub(crate) fn detail(&self) -> String {
        let Fail { kind, a, b } = *self;
        match kind {
            MalformedKind::Truncated => format!("{a} more bytes needed but only {b} left"),
            MalformedKind::InvalidUnionIndex => {
                format!("union branch {a} does not exist (the union has {b} branches)")
            }
            MalformedKind::InvalidEnumIndex => {
                format!("enum symbol {a} does not exist (the enum has {b} symbols)")
            }
            MalformedKind::InvalidLength => format!("negative length or block size {a}"),
            MalformedKind::InvalidUtf8 => {
                format!("string of {b} bytes is not UTF-8 (first bad byte at {a})")
            }
            MalformedKind::InvalidBool => format!("boolean byte {a} (only 0 and 1 are valid)"),
            MalformedKind::InvalidVarint if b == 0 => "varint longer than 10 bytes".to_owned(),
            MalformedKind::InvalidVarint => format!("int value {a} does not fit 32 bits"),
            MalformedKind::TooManyItems => {
                format!("more than {b} array or map items in one datum")
            }
            MalformedKind::TooDeep => format!("values nested deeper than {b} levels"),
            MalformedKind::TrailingBytes | MalformedKind::Other => String::new(),
        }
    }
}

pub(crate) type Res<T> = Result<T, Fail>;

/// A read position in a datum.
pub(crate) struct Cursor<'a> {
    buf: &'a [u8],
    pub(crate) pos: usize,
}

impl<'a> Cursor<'a> {
    pub(crate) fn new(buf: &'a [u8]) -> Self {
        Cursor { buf, pos: 0 }
    }

    fn left(&self) -> usize {
        self.buf.len() - self.pos
    }

    fn truncated(&self, need: usize) -> Fail {
        Fail::new(MalformedKind::Truncated, need as i64, self.left() as i64)
    }

    /// A zigzag varint long.
    #[inline(always)]
    pub(crate) fn long(&mut self) -> Res<i64> {
        let mut value: u64 = 0;
        for shift in (0..70).step_by(7) {
            let Some(&b) = self.buf.get(self.pos) else {
                return Err(self.truncated(1));
            };
            self.pos += 1;
            value |= u64::from(b & 0x7f) << shift;
            if b & 0x80 == 0 {
                return Ok((value >> 1) as i64 ^ -((value & 1) as i64));
            }
        }
        Err(Fail::new(MalformedKind::InvalidVarint, 0, 0))
    }

    /// A zigzag varint int.
    #[inline(always)]
    pub(crate) fn int(&mut self) -> Res<i32> {
        let v = self.long()?;
        i32::try_from(v).map_err(|_| Fail::new(MalformedKind::InvalidVarint, v, 1))
    }

    /// `n` raw bytes.
    #[inline(always)]
    pub(crate) fn take(&mut self, n: usize) -> Res<&'a [u8]> {
        if n > self.left() {
            return Err(self.truncated(n));
        }
        let out = &self.buf[self.pos..self.pos + n];
        self.pos += n;
        Ok(out)
    }

    /// A fixed-size array of bytes.
    #[inline(always)]
    pub(crate) fn array<const N: usize>(&mut self) -> Res<[u8; N]> {
        let mut out = [0u8; N];
        out.copy_from_slice(self.take(N)?);
        Ok(out)
    }

    /// A non-negative length.
    #[inline(always)]
    pub(crate) fn len(&mut self) -> Res<usize> {
        let n = self.long()?;
        usize::try_from(n).map_err(|_| Fail::new(MalformedKind::InvalidLength, n, 0))
    }

    /// Length-prefixed bytes.
    #[inline(always)]
    pub(crate) fn bytes(&mut self) -> Res<&'a [u8]> {
        let n = self.len()?;
        self.take(n)
    }

    /// A length-prefixed UTF-8 string.
    #[inline(always)]
    pub(crate) fn str(&mut self) -> Res<&'a str> {
        let b = self.bytes()?;
        std::str::from_utf8(b).map_err(|e| {
            Fail::new(
                MalformedKind::InvalidUtf8,
                e.valid_up_to() as i64,
                b.len() as i64,
            )
        })
    }

    /// A boolean byte.
    #[inline(always)]
    pub(crate) fn bool(&mut self) -> Res<bool> {
        match self.take(1)?[0] {
            0 => Ok(false),
            1 => Ok(true),
            other => Err(Fail::new(MalformedKind::InvalidBool, other.into(), 0)),
        }
    }

    /// An index in `0..n` (union branch or enum symbol).
    #[inline(always)]
    pub(crate) fn index(&mut self, n: usize, kind: MalformedKind) -> Res<usize> {
        let i = self.long()?;
        usize::try_from(i)
            .ok()
            .filter(|i| *i < n)
            .ok_or(Fail::new(kind, i, n as i64))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_primitives_and_reports_specific_failures() {
        let mut c = Cursor::new(&[0x96, 0x01, 0x01, 6, b'a', b'b', b'c', 1, 2]);
        assert_eq!(c.long(), Ok(75));
        assert_eq!(c.long(), Ok(-1));
        assert_eq!(c.str(), Ok("abc"));
        assert_eq!(c.bool(), Ok(true));
        assert_eq!(c.bool().unwrap_err().kind, MalformedKind::InvalidBool);
        assert_eq!(
            Cursor::new(&[0x80]).long().unwrap_err().kind,
            MalformedKind::Truncated
        );
        assert_eq!(
            Cursor::new(&[0xff; 11]).long().unwrap_err().kind,
            MalformedKind::InvalidVarint
        );
        assert_eq!(
            Cursor::new(&[1]).len().unwrap_err().kind,
            MalformedKind::InvalidLength
        );
        let huge = Cursor::new(&[0xfe, 0xff, 0xff, 0xff, 0x0f])
            .bytes()
            .unwrap_err();
        assert_eq!(
            (huge.kind, huge.a),
            (MalformedKind::Truncated, i64::from(i32::MAX))
        );
        assert_eq!(
            Cursor::new(&[4, 0xff, 0xfe]).str().unwrap_err().kind,
            MalformedKind::InvalidUtf8
        );
        let bad = Cursor::new(&[6])
            .index(3, MalformedKind::InvalidEnumIndex)
            .unwrap_err();
        assert_eq!(
            bad.detail(),
            "enum symbol 3 does not exist (the enum has 3 symbols)"
        );
        let int = Cursor::new(&[0x80, 0x80, 0x80, 0x80, 0x10])
            .int()
            .unwrap_err();
        assert_eq!(int.kind, MalformedKind::InvalidVarint);
    }
}
