//! Scrolling through wrapped text (the incident and dead-letter details, the runbook).
//!
//! The scroll offset counts *wrapped rows*, not logical lines, so `G`, End and PgDn reach the
//! last row however long lines wrap. Wrapped heights are measured with ratatui's own wrapper
//! (`Paragraph::line_count`) once per content and pane size — `refresh` runs after every
//! `update` and re-measures only when the pane's size or a fingerprint of its text changed —
//! and a frame draws only the lines from the first visible one on, so a long text costs no
//! wrapping per frame.

use std::hash::{Hash, Hasher};

use ratatui::text::Line;
use ratatui::widgets::{Paragraph, Wrap};

use super::app::{App, View};
use super::views::{dead_letter_detail, incident_detail};

/// A scroll position and the wrapped layout it was measured against.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Scroll {
    /// The first wrapped row shown.
    pub offset: usize,
    /// First wrapped row of each line, then the total (empty until measured).
    starts: Vec<usize>,
    width: u16,
    height: u16,
    fingerprint: u64,
    /// `G`/End was pressed: stay on the last page as the text grows or rewraps.
    at_end: bool,
}

impl Scroll {
    /// Wrapped rows of all lines at the measured width (0 until measured).
    pub fn total_rows(&self) -> usize {
        self.starts.last().copied().unwrap_or(0)
    }

    /// The largest offset that still fills the pane: the last row is on the last screen line.
    pub fn max_offset(&self) -> usize {
        self.total_rows().saturating_sub(usize::from(self.height))
    }

    /// True when measured for this text and pane size.
    fn fits(&self, fingerprint: u64, width: u16, height: u16) -> bool {
        !self.starts.is_empty()
            && self.fingerprint == fingerprint
            && self.width == width
            && self.height == height
    }

    /// Measures `lines` for a pane of `width` × `height` unless already measured for them.
    pub fn fit(&mut self, lines: &[Line<'_>], width: u16, height: u16) {
        let fingerprint = fingerprint(lines);
        if self.fits(fingerprint, width, height) {
            return;
        }
        self.starts = starts(lines, width);
        self.width = width;
        self.height = height;
        self.fingerprint = fingerprint;
        self.offset = if self.at_end {
            self.max_offset()
        } else {
            self.offset.min(self.max_offset())
        };
    }

    /// Scrolls by `delta` rows, within the text.
    pub fn scroll_by(&mut self, delta: isize) {
        let target = self.offset.saturating_add_signed(delta);
        self.offset = if self.starts.is_empty() {
            target
        } else {
            target.min(self.max_offset())
        };
        self.at_end = !self.starts.is_empty() && self.offset == self.max_offset() && delta > 0;
    }

    pub fn top(&mut self) {
        self.offset = 0;
        self.at_end = false;
    }

    pub fn bottom(&mut self) {
        self.offset = self.max_offset();
        self.at_end = true;
    }

    /// The first line to draw and the rows of it to skip, for `lines` in `width` × `height`
    /// (measured now when this scroll was measured for another text or size: tests, the first
    /// frame after a resize).
    pub fn window(&self, lines: &[Line<'_>], width: u16, height: u16) -> (usize, u16) {
        let measured;
        let scroll = if self.fits(fingerprint(lines), width, height) {
            self
        } else {
            let mut fresh = self.clone();
            fresh.starts = Vec::new();
            fresh.fit(lines, width, height);
            measured = fresh;
            &measured
        };
        let offset = scroll.offset.min(scroll.max_offset());
        let starts = &scroll.starts;
        // The last line starting at or before `offset`.
        let line = starts[..starts.len().saturating_sub(1)]
            .partition_point(|&start| start <= offset)
            .saturating_sub(1);
        let skip = offset - starts.get(line).copied().unwrap_or(0);
        (line, u16::try_from(skip).unwrap_or(u16::MAX))
    }
}

/// First wrapped row of each line at `width`, then the total.
fn starts(lines: &[Line<'_>], width: u16) -> Vec<usize> {
    let mut starts = Vec::with_capacity(lines.len() + 1);
    let mut row = 0;
    for line in lines {
        starts.push(row);
        row += rows(line, width);
    }
    starts.push(row);
    starts
}

/// Rows `line` takes when wrapped at `width` (ratatui's word wrapper, trim off).
pub fn rows(line: &Line<'_>, width: u16) -> usize {
    if width == 0 {
        return 1;
    }
    if line.width() <= usize::from(width) {
        return 1;
    }
    Paragraph::new(line.clone())
        .wrap(Wrap { trim: false })
        .line_count(width)
        .max(1)
}

fn fingerprint(lines: &[Line<'_>]) -> u64 {
    let mut hasher = std::collections::hash_map::DefaultHasher::new();
    lines.len().hash(&mut hasher);
    for line in lines {
        for span in &line.spans {
            span.content.hash(&mut hasher);
        }
        0xffu8.hash(&mut hasher);
    }
    hasher.finish()
}

/// Size of a scrollable pane: the body under a one-row top border (header, tabs, status and
/// footer take four rows) — what `views::render` gives the details and the runbook.
pub fn pane_size(app: &App) -> (u16, u16) {
    (app.size.0, app.size.1.saturating_sub(5))
}

/// Re-measures the scrollable pane on screen when its text or size changed (after `update`).
pub fn refresh(app: &mut App) {
    let (width, height) = pane_size(app);
    match app.view {
        View::Incidents => {
            let Some(detail) = &app.incident_detail else {
                return;
            };
            let lines = incident_detail::lines(app, detail);
            if let Some(detail) = &mut app.incident_detail {
                detail.scroll.fit(&lines, width, height);
            }
        }
        View::DeadLetters => {
            let Some(detail) = &app.dead_letters.detail else {
                return;
            };
            let lines = dead_letter_detail::lines(app, detail, width);
            if let Some(detail) = &mut app.dead_letters.detail {
                detail.scroll.fit(&lines, width, height);
            }
        }
        View::Runbook => {
            if let Some(text) = &app.runbook.text {
                app.runbook.scroll.fit(&text.lines, width, height);
            }
        }
        View::Connectors | View::Activity | View::Metrics => {}
    }
}
