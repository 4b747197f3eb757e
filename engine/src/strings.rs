//! Interned strings: every string value (Avro strings and enum symbols, spec constants) becomes
//! a small integer [`Sym`] when it enters the engine, so states keep a word instead of a string
//! and `equals: CDN1` is an integer compare. Rows map symbols back to text.

use crate::val::Sym;
use crate::value::Str;
use std::collections::HashMap;

/// A dictionary of strings. Symbols are dense, in first-seen order, and never reused.
#[derive(Clone, Debug, Default)]
pub struct Interner {
    ids: HashMap<Str, Sym, foldhash::fast::RandomState>,
    strings: Vec<Str>,
    bytes: usize,
}

impl Interner {
    /// An empty dictionary.
    pub fn new() -> Self {
        Self::default()
    }

    /// The symbol of `s`, adding it when new.
    #[inline]
    pub fn intern(&mut self, s: &str) -> Sym {
        if let Some(&id) = self.ids.get(s) {
            return id;
        }
        let id = Sym::try_from(self.strings.len())
            .expect("internal error: more than 2^32 distinct strings");
        let owned = Str::from(s);
        self.bytes += s.len();
        self.strings.push(owned.clone());
        self.ids.insert(owned, id);
        id
    }

    /// The symbol of `s` if it is known.
    pub fn get(&self, s: &str) -> Option<Sym> {
        self.ids.get(s).copied()
    }

    /// The text of a symbol.
    ///
    /// # Panics
    /// On a symbol of another dictionary: an interpreter bug.
    #[inline]
    pub fn resolve(&self, id: Sym) -> &str {
        &self.strings[id as usize]
    }

    /// The owned text of a symbol.
    #[inline]
    pub fn resolve_str(&self, id: Sym) -> Str {
        self.strings[id as usize].clone()
    }

    /// Number of distinct strings.
    pub fn len(&self) -> usize {
        self.strings.len()
    }

    /// Whether no string was interned.
    pub fn is_empty(&self) -> bool {
        self.strings.is_empty()
    }

    /// Bytes of text held (for memory accounting).
    pub fn text_bytes(&self) -> usize {
        self.bytes
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn symbols_are_dense_and_stable() {
        let mut i = Interner::new();
        let a = i.intern("CDN1");
        let b = i.intern("CDN2");
        assert_eq!((a, b), (0, 1));
        assert_eq!(i.intern("CDN1"), a);
        assert_eq!(i.resolve(b), "CDN2");
        assert_eq!(i.get("CDN3"), None);
        assert_eq!(i.len(), 2);
    }
}
