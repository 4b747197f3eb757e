//! Dotted field paths into nested Avro records: `device.os` → `["device", "os"]`.

use spanflow_engine::Str;
use std::fmt;
use std::str::FromStr;

/// A path of field names from the top-level record down to a leaf.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct FieldPath(pub Vec<Str>);

impl FieldPath {
    /// The path's segments.
    pub fn segments(&self) -> &[Str] {
        &self.0
    }

    /// Number of segments.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Whether the path has no segment (never true for a parsed path).
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The first `n` segments.
    pub fn prefix(&self, n: usize) -> FieldPath {
        FieldPath(self.0[..n.min(self.0.len())].to_vec())
    }
}

/// A string that is not a valid dotted field path.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("invalid field path `{path}`: {problem}")]
pub struct FieldPathError {
    /// The rejected text.
    pub path: String,
    /// What is wrong with it.
    pub problem: &'static str,
}

impl FromStr for FieldPath {
    type Err = FieldPathError;

    /// Parses `a.b.c`. Segments must be Avro names: `[A-Za-z_][A-Za-z0-9_]*`.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let err = |problem| FieldPathError {
            path: s.to_owned(),
            problem,
        };
        if s.is_empty() {
            return Err(err("the path is empty"));
        }
        let mut segments = Vec::new();
        for seg in s.split('.') {
            let mut chars = seg.chars();
            match chars.next() {
                None => return Err(err("empty segment (two dots, or a leading/trailing dot)")),
                Some(c) if !(c.is_ascii_alphabetic() || c == '_') => {
                    return Err(err("a segment must start with a letter or `_`"))
                }
                Some(_) => {}
            }
            if !chars.all(|c| c.is_ascii_alphanumeric() || c == '_') {
                return Err(err("a segment may only contain letters, digits and `_`"));
            }
            segments.push(Str::from(seg));
        }
        Ok(FieldPath(segments))
    }
}

impl fmt::Display for FieldPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, seg) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str(".")?;
            }
            f.write_str(seg)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_prints_dotted_paths() {
        let p: FieldPath = "device.os".parse().unwrap();
        assert_eq!(p.segments(), ["device", "os"]);
        assert_eq!(p.to_string(), "device.os");
        assert_eq!(p.prefix(1).to_string(), "device");
        assert_eq!("_a1".parse::<FieldPath>().unwrap().len(), 1);
    }

    #[test]
    fn rejects_malformed_paths() {
        for bad in ["", ".", "a..b", "a.", ".a", "1a", "a-b", "a b", "dévice"] {
            assert!(
                bad.parse::<FieldPath>().is_err(),
                "{bad:?} should be rejected"
            );
        }
    }
}
