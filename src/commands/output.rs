//! Command output: a table (sanitised, columns sized to content, capped) or JSON lines on
//! stdout, plain lines, and how a closed pipe (`triage outbox | head`) is told apart from a
//! real error so the command can end quietly.

use std::fmt::Display;
use std::io::Write;
use std::process::ExitCode;

use color_eyre::eyre::{Report, Result};

use crate::domain::sanitize;

/// True when `error` is (caused by) writing into a closed pipe.
pub fn is_broken_pipe(error: &Report) -> bool {
    error.chain().any(|cause| {
        cause
            .downcast_ref::<std::io::Error>()
            .is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe)
    })
}

/// One line on stdout; unlike `println!`, a closed pipe is an error to return, not a panic.
pub fn say(text: impl Display) -> Result<()> {
    let mut stdout = std::io::stdout().lock();
    writeln!(stdout, "{text}")?;
    Ok(())
}

/// A table or JSON lines, streamed to stdout through one buffer (a listing of a million rows
/// neither holds them in memory nor makes a write per row). A table's column widths come from
/// its first [`WIDTH_SAMPLE`] rows; later rows are cut to them.
pub struct Output {
    json: bool,
    headers: Vec<String>,
    /// Rows held until the widths are known.
    rows: Vec<Vec<String>>,
    widths: Option<Vec<usize>>,
    written: usize,
    out: std::io::BufWriter<std::io::StdoutLock<'static>>,
}

/// Rows a table sizes its columns by before it streams.
pub const WIDTH_SAMPLE: usize = 1_000;

impl Output {
    pub fn new(json: bool, headers: &[&str]) -> Self {
        Output {
            json,
            headers: headers.iter().map(|h| h.to_string()).collect(),
            rows: Vec::new(),
            widths: None,
            written: 0,
            out: std::io::BufWriter::with_capacity(64 * 1024, std::io::stdout().lock()),
        }
    }

    pub fn row(&mut self, cells: Vec<String>) -> Result<()> {
        let row: Vec<String> = cells.iter().map(|c| sanitize::line(c)).collect();
        match &self.widths {
            Some(widths) => {
                let line = table_line(&row, widths);
                writeln!(self.out, "{line}")?;
                self.written += 1;
            }
            None => {
                self.rows.push(row);
                if self.rows.len() >= WIDTH_SAMPLE {
                    self.fix_widths()?;
                }
            }
        }
        Ok(())
    }

    /// One JSON line.
    pub fn json(&mut self, value: &impl serde::Serialize) -> Result<()> {
        // A closed pipe must stay an `io::Error` (see `is_broken_pipe`), not a serde error.
        serde_json::to_writer(&mut self.out, value).map_err(|e| match e.io_error_kind() {
            Some(kind) => Report::new(std::io::Error::from(kind)),
            None => Report::new(e),
        })?;
        self.out.write_all(b"\n")?;
        self.written += 1;
        Ok(())
    }

    /// Sizes the columns by the rows held, writes the header and them.
    fn fix_widths(&mut self) -> Result<()> {
        const MAX_COL: usize = 60;
        let mut widths: Vec<usize> = self.headers.iter().map(|h| h.chars().count()).collect();
        for row in &self.rows {
            for (w, cell) in widths.iter_mut().zip(row) {
                *w = (*w).max(cell.chars().count().min(MAX_COL));
            }
        }
        let header = table_line(&self.headers, &widths);
        writeln!(self.out, "{header}")?;
        for row in std::mem::take(&mut self.rows) {
            let line = table_line(&row, &widths);
            writeln!(self.out, "{line}")?;
            self.written += 1;
        }
        self.widths = Some(widths);
        Ok(())
    }

    pub fn finish(mut self) -> Result<ExitCode> {
        if !self.json {
            if self.widths.is_none() {
                self.fix_widths()?;
            }
            if self.written == 0 {
                writeln!(self.out, "(none)")?;
            }
        }
        self.out.flush()?;
        Ok(ExitCode::SUCCESS)
    }
}

/// One table line: every cell but the last cut to its column and padded.
fn table_line(row: &[String], widths: &[usize]) -> String {
    let last = widths.len().saturating_sub(1);
    let mut line = String::new();
    for (i, (cell, w)) in row.iter().zip(widths).enumerate() {
        if i == last {
            line.push_str(cell);
        } else {
            let cell = truncate(cell, *w);
            line.push_str(&cell);
            line.push_str(&" ".repeat(w + 2 - cell.chars().count()));
        }
    }
    line.trim_end().to_string()
}

fn truncate(s: &str, width: usize) -> String {
    if s.chars().count() <= width {
        return s.to_string();
    }
    let mut out: String = s.chars().take(width.saturating_sub(1)).collect();
    out.push('…');
    out
}

/// "… 1234 more; --limit 0 for all" on stderr, after a listing cut by `--limit`
/// (`capped`: counting stopped there).
/// Rows counted past `--limit` for the "… N more" hint before it says "N+".
pub const COUNT_CAP: usize = 10_000;

/// What a listing does with its next row under `--limit`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Admit {
    Show,
    /// Past the limit: counted for the hint only.
    Count,
    /// Counted up to [`COUNT_CAP`]: stop reading.
    Stop,
}

/// `--limit` for a listing (0 = no limit) and the rows past it, counted for [`more_hint`].
#[derive(Debug, Default)]
pub struct RowBudget {
    limit: usize,
    shown: usize,
    more: usize,
}

impl RowBudget {
    pub fn new(limit: usize) -> Self {
        RowBudget {
            limit,
            ..RowBudget::default()
        }
    }

    pub fn admit(&mut self) -> Admit {
        if self.limit != 0 && self.shown >= self.limit {
            self.more += 1;
            if self.more >= COUNT_CAP {
                Admit::Stop
            } else {
                Admit::Count
            }
        } else {
            self.shown += 1;
            Admit::Show
        }
    }

    /// Says on stderr how many rows were left out, if any.
    pub fn hint(&self) {
        more_hint(self.more, self.more >= COUNT_CAP);
    }
}

pub fn more_hint(more: usize, capped: bool) {
    if more > 0 {
        let plus = if capped { "+" } else { "" };
        crate::signals::notice(format_args!("… {more}{plus} more; --limit 0 for all"));
    }
}
