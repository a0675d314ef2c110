//! [`EventBatch`]: many events held in two allocations, for verifiers that
//! read on one thread and hash on another. Reading copies each row's text into
//! the batch's buffer; verifying borrows it back as [`EventRef`]s. Batches are
//! cleared and reused, so a million-event read allocates a handful of times.

use std::ops::Range;

use super::event::EventRef;
use super::hash::EventHash;

/// Events with all their text in one buffer.
#[derive(Debug, Default)]
pub struct EventBatch {
    text: String,
    rows: Vec<Row>,
}

#[derive(Debug)]
struct Row {
    seq: u64,
    at_millis: i64,
    sub_millisecond_digits: bool,
    actor: Range<usize>,
    kind: Range<usize>,
    request_id: Option<Range<usize>>,
    payload: Range<usize>,
    prev_hash: EventHash,
    hash: EventHash,
}

impl EventBatch {
    pub fn len(&self) -> usize {
        self.rows.len()
    }

    pub fn is_empty(&self) -> bool {
        self.rows.is_empty()
    }

    /// Empties the batch, keeping its memory.
    pub fn clear(&mut self) {
        self.text.clear();
        self.rows.clear();
    }

    /// Copies `ev` in; `sub_millisecond_digits` as for
    /// [`ChainVerifier::push_ref`](super::ChainVerifier::push_ref).
    pub fn push(&mut self, ev: &EventRef<'_>, sub_millisecond_digits: bool) {
        let row = Row {
            seq: ev.seq,
            at_millis: ev.at_millis,
            sub_millisecond_digits,
            actor: self.keep(ev.actor),
            kind: self.keep(ev.kind),
            request_id: ev.request_id.map(|r| self.keep(r)),
            payload: self.keep(ev.payload),
            prev_hash: ev.prev_hash,
            hash: ev.hash,
        };
        self.rows.push(row);
    }

    fn keep(&mut self, s: &str) -> Range<usize> {
        let start = self.text.len();
        self.text.push_str(s);
        start..self.text.len()
    }

    /// The events in order, each with its `sub_millisecond_digits` flag.
    pub fn iter(&self) -> impl Iterator<Item = (EventRef<'_>, bool)> {
        self.rows.iter().map(|r| {
            let ev = EventRef {
                seq: r.seq,
                at_millis: r.at_millis,
                actor: &self.text[r.actor.clone()],
                kind: &self.text[r.kind.clone()],
                request_id: r.request_id.clone().map(|s| &self.text[s]),
                payload: &self.text[r.payload.clone()],
                prev_hash: r.prev_hash,
                hash: r.hash,
            };
            (ev, r.sub_millisecond_digits)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_come_back_exactly_and_clearing_keeps_nothing() {
        let a = EventRef {
            seq: 1,
            at_millis: 5,
            actor: "alice",
            kind: "k",
            request_id: None,
            payload: "{}",
            prev_hash: EventHash::GENESIS,
            hash: EventHash([1; 32]),
        };
        let b = EventRef {
            seq: 2,
            at_millis: -7,
            actor: "",
            kind: "é",
            request_id: Some("req"),
            payload: "{\"x\":1}",
            prev_hash: EventHash([1; 32]),
            hash: EventHash([2; 32]),
        };
        let mut batch = EventBatch::default();
        batch.push(&a, false);
        batch.push(&b, true);
        assert_eq!(batch.iter().collect::<Vec<_>>(), vec![(a, false), (b, true)]);
        batch.clear();
        assert!(batch.is_empty() && batch.iter().next().is_none());
    }
}
