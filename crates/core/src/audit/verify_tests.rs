//! Table tests: each kind of tampering is reported with the right event number.
//! Property tests live in `verify_props.rs`.

use chrono::{DateTime, Duration, Utc};
use ed25519_dalek::SigningKey;
use serde_json::json;

use super::*;
use crate::audit::{seal, seal_after, sign_checkpoint, NewEvent};

pub(super) fn t0() -> DateTime<Utc> {
    DateTime::from_timestamp_millis(1_700_000_000_000).unwrap()
}

pub(super) fn key(seed: u8) -> SigningKey {
    SigningKey::from_bytes(&[seed; 32])
}

fn new_event(i: u64) -> NewEvent {
    NewEvent {
        at: t0() + Duration::milliseconds(i as i64 * 1500),
        actor: format!("idn_{}", i % 3),
        kind: "request.reviewed".into(),
        request_id: (i & 1 == 0).then(|| format!("req_{i}")),
        payload: json!({"i": i, "decision": "approve"}),
    }
}

/// A valid log of `n` events.
pub(super) fn chain(n: u64) -> Vec<AuditEvent> {
    let mut out: Vec<AuditEvent> = Vec::new();
    for i in 1..=n {
        let ev = seal_after(out.last(), new_event(i));
        out.push(ev);
    }
    out
}

/// Checkpoint signed by `key(1)`, derived once: key derivation is a scalar
/// multiplication, slow in unoptimised test builds.
pub(super) fn checkpoint(events: &[AuditEvent], size: u64) -> Checkpoint {
    static KEY: std::sync::LazyLock<SigningKey> = std::sync::LazyLock::new(|| key(1));
    let head = match size {
        0 => EventHash::GENESIS,
        n => events[n as usize - 1].hash,
    };
    sign_checkpoint(&KEY, size, head, t0() + Duration::hours(1))
}

/// Verifies rows the way a store hands them over: ORDER BY seq.
pub(super) fn verify(mut events: Vec<AuditEvent>, checkpoints: &[Checkpoint]) -> Result<VerifyReport, Tamper> {
    events.sort_by_key(|e| e.seq);
    verify_chain(&events, checkpoints, &[])
}

/// Contents of `from` placed at `to`'s position, keeping `to`'s seq.
pub(super) fn with_contents_of(from: &AuditEvent, to: &AuditEvent) -> AuditEvent {
    AuditEvent { seq: to.seq, ..from.clone() }
}

#[test]
fn an_untouched_log_verifies_with_its_checkpoints() {
    let log = chain(10);
    let cps = [checkpoint(&log, 4), checkpoint(&log, 10), checkpoint(&log, 0)];
    let report = verify_chain(&log, &cps, &[key(1).verifying_key().to_bytes()]).unwrap();
    assert_eq!(report.events, 10);
    assert_eq!(report.head, log[9].hash);
    assert_eq!(report.checkpoints_checked, 3);
    assert_eq!(report.last_checkpoint_size, Some(10));
    assert_eq!(report.key_fingerprints, vec![cps[0].key_fingerprint()]);
}

#[test]
fn an_empty_log_verifies() {
    let report = verify(vec![], &[checkpoint(&[], 0)]).unwrap();
    assert_eq!((report.events, report.head), (0, EventHash::GENESIS));
}

#[test]
fn editing_any_hashed_field_is_named_by_seq() {
    let log = chain(8);
    let edits: Vec<fn(&mut AuditEvent)> = vec![
        |e| e.at += Duration::milliseconds(1),
        |e| e.at += Duration::microseconds(1),
        |e| e.actor.push('x'),
        |e| e.kind = "request.approved".into(),
        |e| e.request_id = None,
        |e| e.request_id = Some("req_other".into()),
        |e| e.payload = e.payload.replace("approve", "deny"),
        |e| e.prev_hash.0[0] ^= 1,
        |e| e.hash.0[31] ^= 1,
    ];
    for (n, edit) in edits.into_iter().enumerate() {
        let mut tampered = log.clone();
        edit(&mut tampered[5]);
        assert_eq!(verify(tampered, &[]), Err(Tamper::Edited { seq: 6 }), "edit #{n}");
    }
}

#[test]
fn deletions_are_named_by_the_first_missing_seq() {
    let log = chain(8);
    let without = |skip: &[u64]| -> Vec<AuditEvent> { log.iter().filter(|e| !skip.contains(&e.seq)).cloned().collect() };
    assert_eq!(verify(without(&[5]), &[]), Err(Tamper::Deleted { missing_seq: 5, next_seq: 6 }));
    assert_eq!(verify(without(&[1]), &[]), Err(Tamper::Deleted { missing_seq: 1, next_seq: 2 }));
    assert_eq!(verify(without(&[3, 4]), &[]), Err(Tamper::Deleted { missing_seq: 3, next_seq: 5 }));
}

#[test]
fn a_cut_off_tail_is_only_caught_by_a_checkpoint() {
    let log = chain(8);
    let cp = checkpoint(&log, 8);
    let short = log[..6].to_vec();
    assert!(verify(short.clone(), &[]).is_ok());
    assert_eq!(verify(short, std::slice::from_ref(&cp)), Err(Tamper::Truncated { checkpoint_size: 8, log_len: 6, signed_at: cp.at }));
}

#[test]
fn a_forged_event_with_renumbered_successors_is_inserted() {
    let log = chain(6);
    for k in [1u64, 3, 6] {
        let idx = k as usize - 1;
        let prev = if k == 1 { EventHash::GENESIS } else { log[idx - 1].hash };
        let forged = seal(k, prev, NewEvent { actor: "idn_mallory".into(), ..new_event(k) });
        let mut tampered = log[..idx].to_vec();
        tampered.push(forged);
        tampered.extend(log[idx..].iter().map(|e| AuditEvent { seq: e.seq + 1, ..e.clone() }));
        assert_eq!(verify(tampered, &[]), Err(Tamper::Inserted { seq: k, next_seq: k + 1 }), "k={k}");
    }
}

#[test]
fn a_second_event_with_a_used_seq_is_a_duplicate() {
    let log = chain(6);
    let forged = seal(3, log[1].hash, NewEvent { actor: "idn_mallory".into(), ..new_event(3) });
    let mut tampered = log.clone();
    tampered.push(forged);
    assert_eq!(verify(tampered, &[]), Err(Tamper::Duplicate { seq: 3, after: 3 }));
    let mut zero = log.clone();
    zero[0].seq = 0;
    assert_eq!(verify(zero, &[]), Err(Tamper::Duplicate { seq: 0, after: 0 }));
}

#[test]
fn swapped_contents_are_reordered() {
    let log = chain(9);
    let mut swapped = log.clone();
    swapped[4] = with_contents_of(&log[6], &log[4]);
    swapped[6] = with_contents_of(&log[4], &log[6]);
    assert_eq!(verify(swapped, &[]), Err(Tamper::Reordered { seq: 5, sealed_as: 7 }));

    let mut copied = log.clone();
    copied[4] = with_contents_of(&log[2], &log[4]);
    assert_eq!(verify(copied, &[]), Err(Tamper::Reordered { seq: 5, sealed_as: 3 }));
}

#[test]
fn deleting_and_renumbering_shows_the_next_event_out_of_place() {
    let log = chain(6);
    let mut tampered = log[..2].to_vec();
    tampered.extend(log[3..].iter().map(|e| AuditEvent { seq: e.seq - 1, ..e.clone() }));
    assert_eq!(verify(tampered, &[]), Err(Tamper::Reordered { seq: 3, sealed_as: 4 }));
}

#[test]
fn a_resealed_replacement_is_caught_at_the_next_link() {
    let log = chain(6);
    let mut tampered = log.clone();
    tampered[2] = seal(3, log[1].hash, NewEvent { actor: "idn_mallory".into(), ..new_event(3) });
    assert_eq!(verify(tampered, &[]), Err(Tamper::Replaced { seq: 3 }));
}

#[test]
fn a_fully_resealed_tail_is_only_caught_by_a_checkpoint() {
    let log = chain(8);
    let mut forged = log[..3].to_vec();
    for i in 4..=8 {
        let actor = if i == 4 { "idn_mallory".into() } else { new_event(i).actor };
        let ev = seal_after(forged.last(), NewEvent { actor, ..new_event(i) });
        forged.push(ev);
    }
    assert!(verify(forged.clone(), &[checkpoint(&log, 3)]).is_ok());
    assert_eq!(verify(forged, &[checkpoint(&log, 3), checkpoint(&log, 6)]), Err(Tamper::CheckpointMismatch { size: 6 }));
}

#[test]
fn checkpoint_signatures_and_keys_are_checked() {
    let log = chain(4);
    let mut forged = checkpoint(&log, 4);
    forged.size = 3;
    forged.head = log[2].hash;
    assert_eq!(verify(log.clone(), &[forged]), Err(Tamper::BadCheckpointSignature { size: 3 }));

    let other = sign_checkpoint(&key(2), 4, log[3].hash, t0());
    let trusted = key(1).verifying_key().to_bytes();
    assert!(verify_chain(&log, std::slice::from_ref(&other), &[]).is_ok());
    assert_eq!(
        verify_chain(&log, std::slice::from_ref(&other), &[trusted]),
        Err(Tamper::UntrustedKey { size: 4, fingerprint: other.key_fingerprint(), trusted: key_fingerprint(&trusted) })
    );
    // Several nodes, each with its own key: any trusted key will do, and a
    // checkpoint by a key outside the set is named with the whole set.
    let by_one = sign_checkpoint(&key(1), 2, log[1].hash, t0());
    let node_keys = [trusted, key(2).verifying_key().to_bytes()];
    assert!(verify_chain(&log, &[by_one.clone(), other.clone()], &node_keys).is_ok());
    let third = sign_checkpoint(&key(3), 3, log[2].hash, t0());
    assert_eq!(
        verify_chain(&log, &[by_one, third.clone(), other], &node_keys),
        Err(Tamper::UntrustedKey {
            size: 3,
            fingerprint: third.key_fingerprint(),
            trusted: format!("{}, {}", key_fingerprint(&node_keys[0]), key_fingerprint(&node_keys[1]))
        })
    );
}

#[test]
fn the_verifier_stops_at_the_first_problem() {
    let log = chain(5);
    let mut v = ChainVerifier::with_capacity(5);
    v.push(&log[0]).unwrap();
    let first = v.push(&log[2]).unwrap_err();
    assert_eq!(first, Tamper::Deleted { missing_seq: 2, next_seq: 3 });
    assert_eq!(v.push(&log[1]), Err(first.clone()));
    assert_eq!(v.len(), 1);
    assert_eq!(v.finish(&[], &[]), Err(first));
}

#[test]
fn only_the_current_encoding_version_is_accepted() {
    assert!(ChainVerifier::with_encoding_version(ENCODING_VERSION).is_ok());
    assert_eq!(ChainVerifier::with_encoding_version(2).unwrap_err(), Tamper::UnsupportedVersion { version: 2 });
}

#[path = "verify_props.rs"]
mod props;
