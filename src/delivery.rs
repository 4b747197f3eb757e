//! At-least-once delivery without loss: how far a streaming source may commit one partition.
//!
//! A restarted pipeline reads a partition again from its committed offset, so that offset must
//! be one from which a replay rebuilds every result exactly:
//!
//! - **Open sessions hold the commit at their first event.** A session's state is rebuilt by
//!   replaying it whole; its rows already written are rewritten with the same values (rows are
//!   upserts keyed by session and evaluation time).
//! - **Ended sessions hold it until all their rows are acknowledged**, and then until a
//!   *completion marker* (key, first and last offset) is acknowledged by the session log. A
//!   replay that meets events of a marked session skips them: without the marker, a session
//!   that started before the committed offset and ended after it would be replayed in part
//!   and overwrite its rows with wrong values.
//! - **The watermark travels with the offset.** Sessions end on the input's event-time clock;
//!   the checkpoint carries the watermark from just before the committed offset so the replay
//!   ends sessions at the same events as the first run.
//!
//! - **Dead letters hold it at their own offset** until the dead-letter topic acknowledges
//!   them, so a crash before that replays (and dead-letters again) the rejected message. A
//!   late event that joined a session holds that session instead, like one of its rows: its
//!   session is skipped on replay once marked complete, so the marker waits for the dead letter.
//!
//! [`CommitTracker`] is the bookkeeping for one partition; it does no I/O.

use crate::pipeline::Offset;
use spanflow_engine::{Str, Time};
use std::collections::BTreeMap;
use std::fmt;

/// Where a replay of one partition starts, and the watermark it starts with.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Checkpoint {
    /// The first offset to read again.
    pub offset: Offset,
    /// The partition's watermark before that offset.
    pub watermark: Option<Time>,
}

const METADATA_PREFIX: &str = "spanflow/1 watermark=";

impl Checkpoint {
    /// The watermark as Kafka commit metadata.
    pub fn metadata(&self) -> String {
        match self.watermark {
            Some(w) => format!("{METADATA_PREFIX}{w}"),
            None => format!("{METADATA_PREFIX}none"),
        }
    }

    /// The watermark stored by [`Checkpoint::metadata`]; `None` for metadata written by
    /// something else (a replay then starts with no watermark, as on a new partition).
    pub fn watermark_from_metadata(metadata: &str) -> Option<Time> {
        metadata.strip_prefix(METADATA_PREFIX)?.parse().ok()
    }
}

/// A completed session, recorded so that replays skip its events.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CompletionMarker {
    /// The session key.
    pub key: Str,
    /// Offset of its first event.
    pub first: Offset,
    /// Offset of its last event.
    pub last: Offset,
}

impl fmt::Display for CompletionMarker {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}..={} {}", self.first, self.last, self.key)
    }
}

#[derive(Debug)]
struct Hold {
    watermark_before: Option<Time>,
    rows_pending: u32,
    /// Set when the session ends.
    ended: Option<CompletionMarker>,
    marker_sent: bool,
}

/// What holds one partition's commit back. Sessions are named by their first offset.
#[derive(Debug)]
pub struct CommitTracker {
    holds: BTreeMap<Offset, Hold>,
    /// Messages being dead-lettered (not in any session): offset → watermark before it.
    dead_letters: BTreeMap<Offset, Option<Time>>,
    next: Offset,
    watermark: Option<Time>,
}

impl CommitTracker {
    /// A tracker for a partition read from `start`, whose watermark there is `watermark`.
    pub fn new(start: Checkpoint) -> Self {
        Self {
            holds: BTreeMap::new(),
            dead_letters: BTreeMap::new(),
            next: start.offset,
            watermark: start.watermark,
        }
    }

    /// The message at `offset` was processed; the partition's watermark is now `watermark`.
    pub fn consumed(&mut self, offset: Offset, watermark: Option<Time>) {
        self.next = self.next.max(offset + 1);
        self.watermark = watermark;
    }

    /// The offset after the last message processed: where reading continues.
    pub fn next_offset(&self) -> Offset {
        self.next
    }

    /// A session opened at `first`.
    pub fn opened(&mut self, first: Offset, watermark_before: Option<Time>) {
        self.holds.insert(
            first,
            Hold {
                watermark_before,
                rows_pending: 0,
                ended: None,
                marker_sent: false,
            },
        );
    }

    /// A row of session `first` went to a sink.
    pub fn row_sent(&mut self, first: Offset) {
        if let Some(h) = self.holds.get_mut(&first) {
            h.rows_pending += 1;
        }
    }

    /// A sink acknowledged a row of session `first`. Returns the session's marker when this
    /// was its last row and it has ended: the caller records it, then calls
    /// [`CommitTracker::marker_acked`].
    pub fn row_acked(&mut self, first: Offset) -> Option<CompletionMarker> {
        let h = self.holds.get_mut(&first)?;
        h.rows_pending = h.rows_pending.saturating_sub(1);
        Self::marker_due(h)
    }

    /// Session `first` ended. Returns its marker when all its rows are already acknowledged.
    pub fn ended(&mut self, marker: CompletionMarker) -> Option<CompletionMarker> {
        let h = self.holds.get_mut(&marker.first)?;
        h.ended = Some(marker);
        Self::marker_due(h)
    }

    fn marker_due(h: &mut Hold) -> Option<CompletionMarker> {
        if h.rows_pending > 0 || h.marker_sent {
            return None;
        }
        let marker = h.ended.clone()?;
        h.marker_sent = true;
        Some(marker)
    }

    /// The session log has the marker of session `first`: it no longer holds the commit.
    pub fn marker_acked(&mut self, first: Offset) {
        if self.holds.get(&first).is_some_and(|h| h.marker_sent) {
            self.holds.remove(&first);
        }
    }

    /// The message at `offset`, in no session, is being sent to the dead-letter topic; the
    /// partition's watermark before it was `watermark_before`. Holds the commit at `offset`
    /// until [`CommitTracker::dead_letter_acked`].
    pub fn dead_letter_sent(&mut self, offset: Offset, watermark_before: Option<Time>) {
        self.dead_letters.insert(offset, watermark_before);
    }

    /// The dead-letter topic acknowledged the message at `offset`.
    pub fn dead_letter_acked(&mut self, offset: Offset) {
        self.dead_letters.remove(&offset);
    }

    /// Where a replay must start if the pipeline stopped now.
    pub fn committable(&self) -> Checkpoint {
        let session = self.holds.iter().next().map(|(&offset, h)| Checkpoint {
            offset,
            watermark: h.watermark_before,
        });
        let letter = self
            .dead_letters
            .iter()
            .next()
            .map(|(&offset, &watermark)| Checkpoint { offset, watermark });
        match (session, letter) {
            (Some(s), Some(l)) => {
                if l.offset < s.offset {
                    l
                } else {
                    s
                }
            }
            (Some(c), None) | (None, Some(c)) => c,
            (None, None) => Checkpoint {
                offset: self.next,
                watermark: self.watermark,
            },
        }
    }

    /// Sessions and dead letters holding the commit (open, or ended and not yet fully
    /// acknowledged; dead letters not yet acknowledged).
    pub fn holds(&self) -> usize {
        self.holds.len() + self.dead_letters.len()
    }
}

#[cfg(test)]
mod tests;
