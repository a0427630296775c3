//! Acks of a cycling pass: confirmed deliveries are acked in batches with one `multiple` ack,
//! never beyond a ceiling while the pass is still receiving (so the broker never hands the pass
//! its own tail copies).

use lapin::Channel;
use lapin::options::BasicAckOptions;

/// Acks are sent (multiple) after this many confirms.
const ACK_BATCH: usize = 200;

/// Confirmed deliveries not yet acked; acked with one `multiple` ack on the highest tag (deliveries
/// are settled in tag order, so every lower tag is confirmed too). While `ceiling` is set, only
/// deliveries with an index below it may be acked (see `cycle`).
#[derive(Default)]
pub(super) struct AckBatch {
    highest: Option<u64>,
    waiting: usize,
    ceiling: Option<usize>,
    /// The last index that may be acked now was confirmed: flush it even if the batch is small.
    at_ceiling: bool,
    held: Option<(u64, usize)>,
}

impl AckBatch {
    pub(super) fn with_ceiling(ceiling: usize) -> Self {
        AckBatch {
            ceiling: Some(ceiling),
            ..AckBatch::default()
        }
    }

    /// All deliveries of the pass arrived (consumer cancelled): every confirmed one may be acked.
    pub(super) fn lift_ceiling(&mut self) {
        self.ceiling = None;
    }

    pub(super) fn confirmed(&mut self, tag: u64, index: usize) {
        match self.ceiling {
            Some(ceiling) if index >= ceiling => self.held = Some((tag, index)),
            Some(ceiling) => {
                self.highest = Some(tag);
                self.waiting += 1;
                self.at_ceiling = index + 1 == ceiling;
            }
            None => {
                self.highest = Some(tag);
                self.waiting += 1;
            }
        }
    }

    pub(super) fn due(&self) -> bool {
        self.waiting >= ACK_BATCH
            || self.at_ceiling
            || (self.ceiling.is_none() && self.held.is_some())
    }

    pub(super) async fn flush(&mut self, channel: &Channel) -> Result<(), lapin::Error> {
        self.at_ceiling = false;
        if self.ceiling.is_none()
            && let Some((tag, _)) = self.held.take()
        {
            self.highest = Some(self.highest.map_or(tag, |h| h.max(tag)));
        }
        if let Some(tag) = self.highest.take() {
            channel
                .basic_ack(tag, BasicAckOptions { multiple: true })
                .await?;
        }
        self.waiting = 0;
        Ok(())
    }
}
