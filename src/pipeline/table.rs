//! The open sessions of one input: an index table over a slab.
//!
//! A key is hashed once per event and stored once (in the slab entry); the hash table holds
//! only slot numbers. Every session's DAG state lives in one arena of words, a fixed block per
//! slot, so opening a session allocates nothing once the arena has grown, and the state of the
//! sessions sits contiguously instead of one heap block each.

use super::session::OpenSession;
use hashbrown::HashTable;
use spanflow_engine::{Queue, SessionHeader, SessionParts};
use std::hash::BuildHasher;

/// A session's slot in the table.
pub(super) type Slot = u32;

struct Entry {
    /// A `Box<str>` (16 bytes) rather than an inline string (24): session keys (UUIDs, ids)
    /// are usually longer than an inline string holds anyway.
    key: Box<str>,
    header: SessionHeader,
    open: OpenSession,
}

/// The open sessions: key → slot, slot → session and its state.
pub(super) struct Sessions {
    index: HashTable<Slot>,
    entries: Vec<Option<Entry>>,
    free: Vec<Slot>,
    /// `words_per_session` words per slot.
    words: Vec<u64>,
    words_per_session: usize,
    /// Per slot, for plans with queued nodes.
    queues: Vec<Option<Box<[Queue]>>>,
    /// Randomly seeded per table, so keys chosen by an attacker cannot force collisions.
    hasher: foldhash::fast::RandomState,
}

impl Sessions {
    pub(super) fn new(words_per_session: usize) -> Self {
        Self {
            index: HashTable::new(),
            entries: Vec::new(),
            free: Vec::new(),
            words: Vec::new(),
            words_per_session,
            queues: Vec::new(),
            hasher: foldhash::fast::RandomState::default(),
        }
    }

    /// The hash of a key, computed once per event.
    #[inline]
    pub(super) fn hash(&self, key: &str) -> u64 {
        self.hasher.hash_one(key)
    }

    /// The slot of the open session of `key`.
    #[inline]
    pub(super) fn find(&self, hash: u64, key: &str) -> Option<Slot> {
        let entries = &self.entries;
        self.index
            .find(hash, |&s| {
                entries[s as usize].as_ref().is_some_and(|e| &*e.key == key)
            })
            .copied()
    }

    /// Opens a session of `key`; `init` fills its fresh word block and gives its queues.
    pub(super) fn insert(
        &mut self,
        hash: u64,
        key: &str,
        open: OpenSession,
        init: impl FnOnce(&mut [u64]) -> Option<Box<[Queue]>>,
    ) -> Slot {
        let entry = Some(Entry {
            key: Box::from(key),
            header: SessionHeader::default(),
            open,
        });
        let slot = match self.free.pop() {
            Some(slot) => {
                self.entries[slot as usize] = entry;
                slot
            }
            None => {
                let slot = Slot::try_from(self.entries.len())
                    .expect("internal error: more than 2^32 open sessions");
                reserve_gently(&mut self.entries, 1);
                self.entries.push(entry);
                reserve_gently(&mut self.words, self.words_per_session);
                self.words
                    .resize(self.words.len() + self.words_per_session, 0);
                slot
            }
        };
        let w = self.words_per_session;
        let at = slot as usize * w;
        let queues = init(&mut self.words[at..at + w]);
        if queues.is_some() || !self.queues.is_empty() {
            // Plans without queued nodes keep no queue slot per session.
            self.queues.resize_with(self.entries.len(), || None);
            self.queues[slot as usize] = queues;
        }
        let (entries, hasher) = (&self.entries, &self.hasher);
        // Growing the table rehashes the keys (rare: the table only doubles).
        self.index.insert_unique(hash, slot, |&s| {
            entries[s as usize]
                .as_ref()
                .map_or(0, |e| hasher.hash_one(&*e.key))
        });
        slot
    }

    /// The session in `slot`, its key and its DAG state.
    #[inline]
    pub(super) fn get(&mut self, slot: Slot) -> (&str, &mut OpenSession, SessionParts<'_>) {
        let w = self.words_per_session;
        let at = slot as usize * w;
        let entry = self.entries[slot as usize]
            .as_mut()
            .expect("internal error: a free session slot was used");
        (
            &*entry.key,
            &mut entry.open,
            SessionParts {
                header: &mut entry.header,
                words: &mut self.words[at..at + w],
                queues: self
                    .queues
                    .get_mut(slot as usize)
                    .and_then(|q| q.as_deref_mut()),
            },
        )
    }

    /// The session in `slot`, to read.
    pub(super) fn peek(&self, slot: Slot) -> (&str, &OpenSession) {
        let e = self.entries[slot as usize]
            .as_ref()
            .expect("internal error: a free session slot was read");
        (&*e.key, &e.open)
    }

    /// Frees `slot` (its words are reused by the next session opened).
    pub(super) fn remove(&mut self, slot: Slot) {
        let Some(e) = self.entries[slot as usize].take() else {
            return;
        };
        let hash = self.hasher.hash_one(&*e.key);
        if let Ok(found) = self.index.find_entry(hash, |&s| s == slot) {
            found.remove();
        }
        if let Some(q) = self.queues.get_mut(slot as usize) {
            *q = None;
        }
        self.free.push(slot);
    }

    /// Visits every open session and its DAG state.
    pub(super) fn for_each(&mut self, mut f: impl FnMut(&mut OpenSession, SessionParts<'_>)) {
        let w = self.words_per_session;
        for (slot, (entry, words)) in self
            .entries
            .iter_mut()
            .zip(self.words.chunks_mut(w.max(1)))
            .enumerate()
        {
            if let Some(e) = entry {
                f(
                    &mut e.open,
                    SessionParts {
                        header: &mut e.header,
                        words: &mut words[..w],
                        queues: self.queues.get_mut(slot).and_then(|q| q.as_deref_mut()),
                    },
                );
            }
        }
    }

    /// Number of open sessions.
    pub(super) fn len(&self) -> usize {
        self.index.len()
    }

    /// The open sessions' slots.
    pub(super) fn slots(&self) -> impl Iterator<Item = Slot> + '_ {
        self.entries
            .iter()
            .enumerate()
            .filter(|(_, e)| e.is_some())
            .map(|(s, _)| s as Slot)
    }
}

/// Makes room for `additional` more items, growing by an eighth rather than doubling: the
/// slab and the arena are most of the memory of the open sessions, and doubling would leave up
/// to half of it unused. Still amortised O(1); large blocks are moved by `mremap`, not copied.
fn reserve_gently<T>(v: &mut Vec<T>, additional: usize) {
    if v.capacity() - v.len() < additional {
        v.reserve_exact(additional.max(v.len() / 8).max(64));
    }
}
