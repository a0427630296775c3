//! What a run's driver tells an adapter about a batch it hands over: the run's rate, a signal
//! that says when the run is paused or cancelled while the batch is in flight ([`RunStop`]), and
//! where to report a move the upstream makes itself (SQS's `StartMessageMoveTask`). Adapters that
//! send message by message ignore it (the driver paces them); one that hands a whole DLQ to the
//! server passes the rate on, cancels the server's task when the run stops, and reports its
//! progress. What the stopped task left is answered by why the run stopped: a pause *recalls*
//! those actions ([`UpstreamError::Recalled`](super::UpstreamError::Recalled): not done, the run
//! plans their members again and a resume sends them), a cancel answers them not done (failed).
//!
//! A *whole* batch ([`RunBatch::whole`]) is one the driver handed over unpaced because the
//! upstream said it would take those letters as whole queues ([`Upstream::whole_queues`]): the
//! server paces the move at the run's rate. An adapter that then finds it cannot move them that
//! way (the queue changed meanwhile, the server refused the move) must not send them itself at
//! full speed: it recalls them, and the driver sends them in paced batches.
//!
//! [`Upstream::whole_queues`]: super::Upstream::whole_queues

use std::sync::Arc;
use std::time::Duration;

use serde::Serialize;
use tokio::sync::watch;

/// How a move the upstream makes itself goes, as its last listing said.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ServerMove {
    /// The queue it moves from (a DLQ).
    pub queue: String,
    /// The server's word: `RUNNING`, `COMPLETED`, `CANCELLING`, `CANCELLED`, `FAILED`.
    pub status: String,
    pub moved: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub to_move: Option<u64>,
}

/// Why the run stopped while a batch was in flight.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RunStop {
    /// Paused: what the upstream did not do yet goes back to the run (recalled), to be sent when
    /// it resumes.
    Paused,
    /// Cancelled (or gone): what the upstream did not do yet is not done, for good.
    Cancelled,
}

/// A batch of a run, as the driver hands it to [`Upstream::perform_run_batch`](super::Upstream::perform_run_batch).
#[derive(Debug, Clone)]
pub struct RunBatch {
    pub run: String,
    /// The run's rate (members per second), when it has one.
    pub rate: Option<f64>,
    /// Handed over unpaced as whole queues (module doc): moved by the server at `rate`, or
    /// recalled — never sent by the adapter at its own pace.
    pub whole: bool,
    stop: watch::Receiver<Option<RunStop>>,
    progress: Arc<watch::Sender<Option<ServerMove>>>,
}

/// The driver's side of a [`RunBatch`]: stops it, and reads the progress adapters report.
#[derive(Debug)]
pub struct RunBatchControl {
    stop: watch::Sender<Option<RunStop>>,
    pub progress: watch::Receiver<Option<ServerMove>>,
}

impl RunBatch {
    /// A batch of run `run` at `rate`, and its control.
    pub fn new(run: &str, rate: Option<f64>) -> (RunBatch, RunBatchControl) {
        let (stop_tx, stop_rx) = watch::channel(None);
        let (progress_tx, progress_rx) = watch::channel(None);
        (
            RunBatch {
                run: run.to_string(),
                rate,
                whole: false,
                stop: stop_rx,
                progress: Arc::new(progress_tx),
            },
            RunBatchControl {
                stop: stop_tx,
                progress: progress_rx,
            },
        )
    }

    /// How the run stopped, once it was paused or cancelled (the latest word: a pause the
    /// operator turned into a cancel reads `Cancelled`).
    pub fn stopped(&self) -> Option<RunStop> {
        *self.stop.borrow()
    }

    /// Resolves when the run is paused or cancelled (never, when its driver is gone).
    pub async fn stopping(&self) -> RunStop {
        let mut stop = self.stop.clone();
        // The value is copied out at once: the borrow it comes in is not held across an await.
        let stopped = stop.wait_for(Option::is_some).await.map(|s| *s);
        match stopped {
            Ok(how) => how.unwrap_or(RunStop::Cancelled),
            Err(_) => std::future::pending().await,
        }
    }

    /// Reports how the server's move goes.
    pub fn report(&self, progress: ServerMove) {
        self.progress.send_replace(Some(progress));
    }
}

/// The pace a server keeps when a whole-queue move names no rate (SQS's highest and default,
/// 500 messages per second).
pub const SERVER_PACE: f64 = 500.0;
/// The shortest watch of a whole-queue move.
pub const WHOLE_WATCH_MIN: Duration = Duration::from_secs(30);
/// Beyond the watch: the passes before and after the move, cancelling it, receipts.
const WHOLE_SLACK: Duration = Duration::from_secs(300);

/// How long an adapter lets a server's move of `n` members run at `rate` (members per second;
/// `None`: [`SERVER_PACE`]) before it cancels it: twice what the rate needs, at least
/// [`WHOLE_WATCH_MIN`].
pub fn whole_watch(n: usize, rate: Option<f64>) -> Duration {
    let pace = rate
        .filter(|r| r.is_finite() && *r > 0.0)
        .map_or(SERVER_PACE, |r| r.min(SERVER_PACE));
    WHOLE_WATCH_MIN.max(Duration::from_secs_f64(2.0 * n as f64 / pace))
}

/// The longest a whole batch of `n` members at `rate` may take, all told: the driver's lease on
/// its actions and the outbox's bound on the batch.
pub fn whole_bound(n: usize, rate: Option<f64>) -> Duration {
    whole_watch(n, rate) + WHOLE_SLACK
}

impl RunBatchControl {
    /// The run stopped (paused or cancelled): the batch's adapter is told.
    pub fn stop(&self, how: RunStop) {
        self.stop.send_replace(Some(how));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_whole_move_is_watched_for_twice_what_its_rate_needs() {
        assert_eq!(whole_watch(10, Some(50.0)), WHOLE_WATCH_MIN);
        assert_eq!(whole_watch(10_000, Some(50.0)), Duration::from_secs(400));
        // No rate, or one above what the server takes: the server's pace.
        assert_eq!(whole_watch(100_000, None), Duration::from_secs(400));
        assert_eq!(
            whole_watch(100_000, Some(9_000.0)),
            Duration::from_secs(400)
        );
        assert_eq!(whole_watch(100_000, Some(0.0)), Duration::from_secs(400));
        assert!(whole_bound(10_000, Some(50.0)) > whole_watch(10_000, Some(50.0)));
    }

    #[tokio::test]
    async fn a_stop_reaches_the_batch_and_progress_reaches_the_driver() {
        let (batch, mut control) = RunBatch::new("r1", Some(5.0));
        assert_eq!(batch.stopped(), None);
        let waiting = batch.clone();
        let stopped = tokio::spawn(async move { waiting.stopping().await });
        control.stop(RunStop::Paused);
        let how = tokio::time::timeout(std::time::Duration::from_secs(5), stopped)
            .await
            .expect("stopped in time")
            .expect("task");
        assert_eq!(how, RunStop::Paused);
        assert_eq!(batch.stopped(), Some(RunStop::Paused));
        // A pause the operator turns into a cancel: the latest word counts.
        control.stop(RunStop::Cancelled);
        assert_eq!(batch.stopped(), Some(RunStop::Cancelled));
        batch.report(ServerMove {
            queue: "dlq".into(),
            status: "RUNNING".into(),
            moved: 2,
            to_move: Some(5),
        });
        assert!(control.progress.has_changed().unwrap_or(false));
        assert_eq!(
            control
                .progress
                .borrow_and_update()
                .as_ref()
                .map(|m| m.moved),
            Some(2)
        );
    }
}
