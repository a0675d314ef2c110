//! What reconciliation reports read from the runs.

use std::collections::BTreeMap;

use chrono::TimeDelta;
use uuid::Uuid;
use writ_app::ports::{Change, ReconcileRun, RunRecord, RunState};
use writ_core::ids::{RunId, TargetId};
use writ_core::reconcile::Counts;

use crate::harness::*;

fn run(n: u128, target: &str, minutes: i64, state: RunState) -> RunRecord {
    let started_at = t0() + TimeDelta::minutes(minutes);
    RunRecord {
        run: ReconcileRun {
            id: RunId::from_uuid(Uuid::from_u128(n)),
            target: TargetId::parse(target).unwrap(),
            by: "schedule".into(),
            started_at,
            finished_at: started_at + TimeDelta::seconds(5),
            state,
            live_rows: 10,
            counts: Counts::default(),
            match_rate: if state == RunState::Done { 0.9 } else { 0.0 },
            reactions: BTreeMap::new(),
            actions: BTreeMap::new(),
            error: (state == RunState::Failed).then(|| "target down".to_owned()),
        },
        observations: Vec::new(),
    }
}

/// The last finished run of a target is found however many failed runs
/// came after it (more than a page of them), never a failed one.
#[tokio::test]
async fn the_last_finished_run_is_found_behind_any_number_of_failures() {
    let w = World::new().await;
    let mut runs = vec![run(1, "ledger", 0, RunState::Done), run(2, "ledger", 1, RunState::Done)];
    runs.extend((0..600).map(|i| run(100 + i, "ledger", 10 + i as i64, RunState::Failed)));
    runs.extend((0..3).map(|i| run(1_000 + i, "other", i as i64, RunState::Failed)));
    w.store.commit(Change { runs, ..Default::default() }).await.unwrap();

    let last = w.writ.last_finished_run(&TargetId::parse("ledger").unwrap()).await.unwrap().unwrap();
    assert_eq!(last.id, RunId::from_uuid(Uuid::from_u128(2)), "the newer of the two finished runs");
    assert_eq!(last.state, RunState::Done);
    assert_eq!(w.writ.last_finished_run(&TargetId::parse("other").unwrap()).await.unwrap(), None, "only failed runs: none");
}
