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
    /// Recently interned short strings: most string fields are enum-like (player states, CDN
    /// names), so a byte compare usually answers before the map's hash and probe.
    recent: RecentCache,
}

/// Strings of at most this many bytes go through the [`RecentCache`].
const RECENT_MAX_LEN: usize = 15;
const RECENT_SLOTS: usize = 64;

/// A direct-mapped cache of short strings and their symbols. A miss only costs the map lookup
/// it would have done anyway; a fresh dictionary starts with an empty cache, so a cached
/// symbol is always one of this dictionary's.
#[derive(Clone, Debug)]
struct RecentCache {
    /// Per slot: the length (0: empty), the bytes zero-padded, the symbol.
    slots: Box<[(u8, [u8; RECENT_MAX_LEN], Sym); RECENT_SLOTS]>,
}

impl Default for RecentCache {
    fn default() -> Self {
        Self {
            slots: Box::new([(0, [0; RECENT_MAX_LEN], 0); RECENT_SLOTS]),
        }
    }
}

impl RecentCache {
    /// The slot of a short non-empty string: from its length and its first and last bytes.
    #[inline]
    fn slot(b: &[u8]) -> usize {
        let (first, last) = (b[0] as usize, b[b.len() - 1] as usize);
        (b.len() * 13 + first * 7 + last) % RECENT_SLOTS
    }

    #[inline]
    fn get(&self, b: &[u8]) -> Option<Sym> {
        if b.is_empty() || b.len() > RECENT_MAX_LEN {
            return None;
        }
        let (len, bytes, sym) = &self.slots[Self::slot(b)];
        (*len as usize == b.len() && &bytes[..b.len()] == b).then_some(*sym)
    }

    #[inline]
    fn put(&mut self, b: &[u8], sym: Sym) {
        if b.is_empty() || b.len() > RECENT_MAX_LEN {
            return;
        }
        let mut bytes = [0; RECENT_MAX_LEN];
        bytes[..b.len()].copy_from_slice(b);
        self.slots[Self::slot(b)] = (b.len() as u8, bytes, sym);
    }
}

impl Interner {
    /// An empty dictionary.
    pub fn new() -> Self {
        Self::default()
    }

    /// The symbol of `s`, adding it when new.
    #[inline]
    pub fn intern(&mut self, s: &str) -> Sym {
        if let Some(id) = self.recent.get(s.as_bytes()) {
            return id;
        }
        if let Some(&id) = self.ids.get(s) {
            self.recent.put(s.as_bytes(), id);
            return id;
        }
        let id = Sym::try_from(self.strings.len())
            .expect("internal error: more than 2^32 distinct strings");
        let owned = Str::from(s);
        self.bytes += s.len();
        self.strings.push(owned.clone());
        self.ids.insert(owned, id);
        self.recent.put(s.as_bytes(), id);
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

    #[test]
    fn the_recent_cache_never_confuses_strings_sharing_a_slot() {
        let mut i = Interner::new();
        // Same length, first and last byte: the same cache slot, different strings.
        let words = [
            "abxa",
            "acxa",
            "abya",
            "a",
            "",
            "a-string-longer-than-the-cache",
        ];
        let syms: Vec<Sym> = words.iter().map(|w| i.intern(w)).collect();
        for _ in 0..3 {
            for (w, &s) in words.iter().zip(&syms) {
                assert_eq!(i.intern(w), s, "{w}");
                assert_eq!(i.resolve(s), *w);
            }
        }
        assert_eq!(i.len(), words.len());
    }
}
