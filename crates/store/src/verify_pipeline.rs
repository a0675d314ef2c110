//! Verifying a log on two threads: a producer (a database read, an export
//! parser) fills [`EventBatch`]es on a scoped thread while the caller's thread
//! hashes and links them. Each event's hash depends only on its own row, so the
//! split is even and a million events verify in well under a second.

use std::sync::mpsc::{self, Receiver, SyncSender};

use writ_core::audit::{ChainVerifier, EventBatch, EventRef, Tamper};

/// Events per batch handed from the producer to the verifier.
const BATCH: usize = 4096;

/// What a producer pushes events into.
pub struct BatchSink {
    full: SyncSender<EventBatch>,
    empty: Receiver<EventBatch>,
    batch: EventBatch,
}

impl BatchSink {
    /// Adds one event. False when the verifier has stopped (it found a
    /// problem): the producer should stop reading.
    pub fn push(&mut self, ev: &EventRef<'_>, sub_millisecond_digits: bool) -> bool {
        self.batch.push(ev, sub_millisecond_digits);
        if self.batch.len() < BATCH {
            return true;
        }
        let mut next = self.empty.try_recv().unwrap_or_default();
        next.clear();
        self.full.send(std::mem::replace(&mut self.batch, next)).is_ok()
    }

    fn finish(self) {
        if !self.batch.is_empty() {
            // A verifier that stopped early needs no more.
            let _ = self.full.send(self.batch);
        }
    }
}

/// Runs `produce` on a scoped thread and verifies what it pushes, in order.
/// Returns the producer's error if it failed before the verifier found a
/// problem, else the verification outcome.
pub fn verify_pipelined<E: Send>(verifier: &mut ChainVerifier, produce: impl FnOnce(&mut BatchSink) -> Result<(), E> + Send) -> Result<Result<(), Tamper>, E> {
    let (full, batches) = mpsc::sync_channel::<EventBatch>(4);
    let (recycle, empty) = mpsc::channel::<EventBatch>();
    std::thread::scope(|scope| {
        let producer = scope.spawn(move || {
            let mut sink = BatchSink { full, empty, batch: EventBatch::default() };
            let outcome = produce(&mut sink);
            sink.finish();
            outcome
        });
        let mut verdict = Ok(());
        for batch in batches.iter() {
            if let Some(t) = batch.iter().find_map(|(ev, sub_millis)| verifier.push_ref(&ev, sub_millis).err()) {
                verdict = Err(t);
                break;
            }
            // The producer may be done already; a lost batch is only memory.
            let _ = recycle.send(batch);
        }
        // Dropping the receiver stops a producer still running after a problem.
        drop(batches);
        let produced = producer.join().unwrap_or_else(|panic| std::panic::resume_unwind(panic));
        match verdict {
            Err(t) => Ok(Err(t)),
            Ok(()) => produced.map(Ok),
        }
    })
}
