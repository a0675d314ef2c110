//! Property tests: for a random log, every single tampering is detected and
//! named at the right event, and the untouched log verifies.

use chrono::Duration;
use proptest::prelude::*;
use proptest::sample::Index;
use serde_json::json;

use super::{checkpoint, t0, verify, with_contents_of};
use crate::audit::{seal, seal_after, AuditEvent, EventHash, NewEvent, Tamper};

fn arb_event() -> impl Strategy<Value = NewEvent> {
    (
        0i64..10_000_000,
        "[a-z_]{0,12}",
        prop::sample::select(vec!["request.submitted", "request.reviewed", "grant.expired"]),
        prop::option::of("req_[0-9a-f]{4}"),
        any::<u32>(),
        "\\PC{0,16}",
    )
        .prop_map(|(ms, actor, kind, request_id, n, note)| NewEvent {
            at: t0() + Duration::milliseconds(ms),
            actor,
            kind: kind.to_string(),
            request_id,
            payload: json!({"note": note, "n": n}),
        })
}

fn arb_log() -> impl Strategy<Value = Vec<AuditEvent>> {
    prop::collection::vec(arb_event(), 1..60).prop_map(|events| {
        let mut log: Vec<AuditEvent> = Vec::with_capacity(events.len());
        for ev in events {
            let sealed = seal_after(log.last(), ev);
            log.push(sealed);
        }
        log
    })
}

#[derive(Clone, Debug)]
enum Field {
    At(i64),
    SubMillisecond,
    Actor,
    Kind,
    RequestId,
    Payload,
    PrevHash([u8; 32]),
    Hash([u8; 32]),
}

#[derive(Clone, Debug)]
enum Mutation {
    Edit(Index, Field),
    EditSeq(Index, u64),
    Delete(Index),
    InsertForged(Index, NewEvent),
    DuplicateSeq(Index, NewEvent),
    SwapContents(Index, Index),
    Truncate(Index),
}

fn arb_field() -> impl Strategy<Value = Field> {
    prop_oneof![
        (1i64..1_000_000).prop_map(Field::At),
        Just(Field::SubMillisecond),
        Just(Field::Actor),
        Just(Field::Kind),
        Just(Field::RequestId),
        Just(Field::Payload),
        any::<[u8; 32]>().prop_map(Field::PrevHash),
        any::<[u8; 32]>().prop_map(Field::Hash),
    ]
}

fn arb_mutation() -> impl Strategy<Value = Mutation> {
    prop_oneof![
        (any::<Index>(), arb_field()).prop_map(|(i, f)| Mutation::Edit(i, f)),
        (any::<Index>(), 0u64..80).prop_map(|(i, s)| Mutation::EditSeq(i, s)),
        any::<Index>().prop_map(Mutation::Delete),
        (any::<Index>(), arb_event()).prop_map(|(i, e)| Mutation::InsertForged(i, e)),
        (any::<Index>(), arb_event()).prop_map(|(i, e)| Mutation::DuplicateSeq(i, e)),
        (any::<Index>(), any::<Index>()).prop_map(|(i, j)| Mutation::SwapContents(i, j)),
        any::<Index>().prop_map(Mutation::Truncate),
    ]
}

fn edit(ev: &mut AuditEvent, field: &Field) {
    match field {
        Field::At(ms) => ev.at += Duration::milliseconds(*ms),
        Field::SubMillisecond => ev.at += Duration::nanoseconds(1),
        Field::Actor => ev.actor.push('!'),
        Field::Kind => ev.kind.insert(0, 'x'),
        Field::RequestId => {
            ev.request_id = match ev.request_id.take() {
                None => Some(String::new()),
                Some(_) => None,
            }
        }
        Field::Payload => ev.payload.push(' '),
        Field::PrevHash(h) => ev.prev_hash = EventHash(*h),
        Field::Hash(h) => ev.hash = EventHash(*h),
    }
}

/// Applies the mutation; returns the tampered rows and, where the kind of
/// tampering can be told apart, the exact report expected.
fn apply(log: &[AuditEvent], m: &Mutation) -> (Vec<AuditEvent>, Option<Tamper>) {
    let n = log.len() as u64;
    let mut out = log.to_vec();
    let prev_of = |k: u64| {
        if k == 1 {
            EventHash::GENESIS
        } else {
            log[k as usize - 2].hash
        }
    };
    match m {
        Mutation::Edit(i, field) => {
            let k = i.index(log.len());
            edit(&mut out[k], field);
            let changed = out[k] != log[k];
            (out, changed.then_some(Tamper::Edited { seq: k as u64 + 1 }))
        }
        Mutation::EditSeq(i, seq) => {
            let k = i.index(log.len());
            out[k].seq = if *seq == out[k].seq { seq + 100 } else { *seq };
            (out, None)
        }
        Mutation::Delete(i) => {
            let k = i.index(log.len()) as u64 + 1;
            out.remove(k as usize - 1);
            let expected = if k == n {
                let signed_at = checkpoint(log, n).at;
                Tamper::Truncated { checkpoint_size: n, log_len: n - 1, signed_at }
            } else {
                Tamper::Deleted { missing_seq: k, next_seq: k + 1 }
            };
            (out, Some(expected))
        }
        Mutation::InsertForged(i, ev) => {
            let k = i.index(log.len()) as u64 + 1;
            let forged = seal(k, prev_of(k), ev.clone());
            for row in &mut out[k as usize - 1..] {
                row.seq += 1;
            }
            out.insert(k as usize - 1, forged);
            (out, Some(Tamper::Inserted { seq: k, next_seq: k + 1 }))
        }
        Mutation::DuplicateSeq(i, ev) => {
            let k = i.index(log.len()) as u64 + 1;
            out.push(seal(k, prev_of(k), ev.clone()));
            (out, Some(Tamper::Duplicate { seq: k, after: k }))
        }
        Mutation::SwapContents(i, j) => {
            let (a, b) = (i.index(log.len()), j.index(log.len()));
            let (lo, hi) = (a.min(b), a.max(b));
            out[lo] = with_contents_of(&log[hi], &log[lo]);
            out[hi] = with_contents_of(&log[lo], &log[hi]);
            let expected = (lo != hi).then_some(Tamper::Reordered { seq: lo as u64 + 1, sealed_as: hi as u64 + 1 });
            (out, expected)
        }
        Mutation::Truncate(i) => {
            let keep = i.index(log.len());
            out.truncate(keep);
            let signed_at = checkpoint(log, n).at;
            let expected = Tamper::Truncated { checkpoint_size: n, log_len: keep as u64, signed_at };
            (out, Some(expected))
        }
    }
}

proptest! {
    // Fewer cases: each one signs and checks two checkpoints, slow in debug builds.
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn an_untouched_log_verifies(log in arb_log(), mid in any::<Index>()) {
        let n = log.len() as u64;
        let c = mid.index(log.len() + 1) as u64;
        let report = verify(log.clone(), &[checkpoint(&log, c), checkpoint(&log, n)]).unwrap();
        prop_assert_eq!(report.events, n);
        prop_assert_eq!(report.head, log.last().unwrap().hash);
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn every_single_tampering_is_detected(log in arb_log(), m in arb_mutation()) {
        let (tampered, expected) = apply(&log, &m);
        let result = verify(tampered.clone(), &[checkpoint(&log, log.len() as u64)]);
        match expected {
            Some(tamper) => prop_assert_eq!(result, Err(tamper)),
            // A swap of an event with itself, or an edit that changed nothing.
            None if tampered == log => prop_assert!(result.is_ok()),
            None => prop_assert!(result.is_err(), "undetected: {:?}", m),
        }
    }

    #[test]
    fn resealing_a_suffix_is_caught_by_a_checkpoint_covering_it(
        log in arb_log(),
        from in any::<Index>(),
        actor in "[A-Z]{1,8}",
    ) {
        let k = from.index(log.len());
        let mut forged = log[..k].to_vec();
        for (i, ev) in log[k..].iter().enumerate() {
            let mut new = NewEvent {
                at: ev.at,
                actor: ev.actor.clone(),
                kind: ev.kind.clone(),
                request_id: ev.request_id.clone(),
                payload: ev.payload_value().unwrap(),
            };
            if i == 0 {
                new.actor = actor.clone();
            }
            let sealed = seal_after(forged.last(), new);
            forged.push(sealed);
        }
        let n = log.len() as u64;
        prop_assert!(verify(forged.clone(), &[]).is_ok());
        prop_assert_eq!(verify(forged, &[checkpoint(&log, n)]), Err(Tamper::CheckpointMismatch { size: n }));
    }
}
