//! What a run's driver tells an adapter about a batch it hands over: the run's rate, a signal
//! that says when the run is paused or cancelled while the batch is in flight ([`RunStop`]), and
//! where to report a move the upstream makes itself (SQS's `StartMessageMoveTask`). Adapters that
//! send message by message ignore it (the driver paces them); one that hands a whole DLQ to the
//! server passes the rate on, cancels the server's task when the run stops, and reports its
//! progress. What the stopped task left is answered by why the run stopped: a pause *recalls*
//! those actions ([`UpstreamError::Recalled`](super::UpstreamError::Recalled): not done, the run
//! plans their members again and a resume sends them), a cancel answers them not done (failed).

use std::sync::Arc;

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

impl RunBatchControl {
    /// The run stopped (paused or cancelled): the batch's adapter is told.
    pub fn stop(&self, how: RunStop) {
        self.stop.send_replace(Some(how));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
