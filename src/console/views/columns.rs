//! Column widths from the content and the terminal. Every list describes its columns (header,
//! the widest text the loaded rows hold, the narrowest it may get, and what kind of column it
//! is); [`fit`] decides which are shown and how wide, so a wide terminal shows every text whole
//! and a narrow one gives way in a fixed order:
//!
//! 1. [`Kind::Flex`] columns (titles, messages, payload previews) shrink toward their minimum;
//! 2. [`Kind::Optional`] and flex columns are dropped, lowest rank first (the detail shows them);
//!    an [`Kind::Id`] column, at its rank, shrinks to its minimum instead (cut keeping head and
//!    tail: [`fit_id`]);
//! 3. only then do [`Kind::Key`] columns (id, connector, status, the SLA clock) shrink, widest
//!    first — an id keeps its head and its tail ([`fit_id`]), so rows stay tell-apart-able.
//!
//! Space left over goes to the flex columns (up to their content, narrowest first), so a title
//! is not cut while columns sit empty. Cells are cut with `…` by the list ([`cell_text`]),
//! never silently by the table.

/// The table's highlight symbol (`▶ `) takes this many columns on every row.
pub const HIGHLIGHT_WIDTH: u16 = 2;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// Shown whole whenever the terminal allows; shrinks last.
    Key,
    /// A key column holding ids: never dropped; at its rank among the dropped columns it gives
    /// way to its `min` instead (cut by [`fit_id`], keeping head and tail).
    Id(u8),
    /// Takes what is left and shrinks first (down to `min`); dropped by rank like an optional
    /// column.
    Flex(u8),
    /// Dropped when there is no room, lowest rank first.
    Optional(u8),
}

#[derive(Debug, Clone)]
pub struct Col {
    pub header: &'static str,
    /// The widest text of the column, header included (characters).
    pub want: u16,
    /// The narrowest the column may be squeezed to.
    pub min: u16,
    pub kind: Kind,
}

impl Col {
    /// A column as wide as the widest of `texts` (and its header).
    pub fn new<'a>(
        header: &'static str,
        texts: impl IntoIterator<Item = &'a str>,
        min: u16,
        kind: Kind,
    ) -> Col {
        // Terminal columns, not characters: CJK and emoji take two.
        let widest = texts
            .into_iter()
            .map(unicode_width::UnicodeWidthStr::width)
            .chain(std::iter::once(unicode_width::UnicodeWidthStr::width(
                header,
            )))
            .max()
            .unwrap_or(0);
        let want = u16::try_from(widest).unwrap_or(u16::MAX);
        Col {
            header,
            want,
            min: min.min(want),
            kind,
        }
    }

    fn is_flex(&self) -> bool {
        matches!(self.kind, Kind::Flex(_))
    }

    /// At most `max` wide even when a text is longer (a failure reason in a status column: the
    /// row's detail shows it whole).
    pub fn cap(mut self, max: u16) -> Col {
        self.want = self.want.min(max);
        self.min = self.min.min(self.want);
        self
    }

    /// A column of a known width (glyphs, fixed-format numbers).
    pub fn fixed(header: &'static str, width: u16, kind: Kind) -> Col {
        let width = width.max(u16::try_from(header.chars().count()).unwrap_or(u16::MAX));
        Col {
            header,
            want: width,
            min: width,
            kind,
        }
    }
}

/// The width of each column in a table `width` columns wide (highlight symbol and one column of
/// spacing between cells included); `None` for a column that is not shown.
pub fn fit(cols: &[Col], width: u16) -> Vec<Option<u16>> {
    let mut widths: Vec<Option<u16>> = cols.iter().map(|c| Some(c.want)).collect();
    let total = |widths: &[Option<u16>]| -> u32 {
        let shown: Vec<u16> = widths.iter().flatten().copied().collect();
        let cells: u32 = shown.iter().map(|&w| u32::from(w)).sum();
        cells
            + u32::from(HIGHLIGHT_WIDTH)
            + u32::try_from(shown.len().saturating_sub(1)).unwrap_or(0)
    };
    let width = u32::from(width);
    if total(&widths) > width {
        // 1. Flex columns to their minimum.
        for (w, c) in widths.iter_mut().zip(cols) {
            if c.is_flex() {
                *w = Some(c.min);
            }
        }
        // 2. Optional and flex columns, lowest rank first.
        let mut droppable: Vec<(u8, usize)> = cols
            .iter()
            .enumerate()
            .filter_map(|(i, c)| match c.kind {
                Kind::Optional(rank) | Kind::Flex(rank) | Kind::Id(rank) => Some((rank, i)),
                Kind::Key => None,
            })
            .collect();
        droppable.sort();
        let mut dropped = Vec::new();
        for &(_, i) in &droppable {
            if total(&widths) <= width {
                break;
            }
            if let Kind::Id(_) = cols[i].kind {
                let over = total(&widths) - width;
                let room = u32::from(cols[i].want - cols[i].min);
                widths[i] = Some(cols[i].want - u16::try_from(over.min(room)).unwrap_or(0));
                continue;
            }
            widths[i] = None;
            dropped.push(i);
        }
        // A narrow column dropped before a wide one may fit again: bring back what fits, most
        // important first.
        for &i in dropped.iter().rev() {
            widths[i] = Some(if cols[i].is_flex() {
                cols[i].min
            } else {
                cols[i].want
            });
            if total(&widths) > width {
                widths[i] = None;
            }
        }
        // 3. Key columns, widest first, one character at a time.
        while total(&widths) > width {
            let widest = (0..cols.len())
                .filter(|&i| matches!(cols[i].kind, Kind::Key | Kind::Id(_)))
                .filter(|&i| widths[i].is_some_and(|w| w > cols[i].min))
                .max_by_key(|&i| widths[i]);
            match widest {
                Some(i) => widths[i] = widths[i].map(|w| w - 1),
                None => break,
            }
        }
    }
    // Space left over: flex columns grow toward their content, narrowest first.
    let mut spare = width.saturating_sub(total(&widths));
    while spare > 0 {
        let short = (0..cols.len())
            .filter(|&i| cols[i].is_flex())
            .filter(|&i| widths[i].is_some_and(|w| w < cols[i].want))
            .min_by_key(|&i| widths[i]);
        let Some(i) = short else { break };
        widths[i] = widths[i].map(|w| w + 1);
        spare -= 1;
    }
    widths
}

/// `text` cut to `width` characters with `…` when longer.
pub fn cell_text(text: &str, width: u16) -> String {
    super::fit(text, usize::from(width))
}

/// An id cut to `width` characters keeping its head and its tail (`inc_01J…K7QX2M`): the tail of
/// time-ordered ids (ULIDs, UUIDv7) is what tells rows apart.
pub fn fit_id(id: &str, width: u16) -> String {
    let chars: Vec<char> = id.chars().collect();
    let width = usize::from(width);
    if chars.len() <= width {
        return id.to_string();
    }
    if width < 4 {
        return super::fit(id, width);
    }
    let head = (width - 1) / 3;
    let tail = width - 1 - head;
    let mut out: String = chars[..head].iter().collect();
    out.push('…');
    out.extend(&chars[chars.len() - tail..]);
    out
}

/// The table's constraints for the shown columns.
pub fn constraints(widths: &[Option<u16>]) -> Vec<ratatui::layout::Constraint> {
    widths
        .iter()
        .flatten()
        .map(|&w| ratatui::layout::Constraint::Length(w))
        .collect()
}

/// The headers of the shown columns.
pub fn headers(cols: &[Col], widths: &[Option<u16>]) -> Vec<&'static str> {
    cols.iter()
        .zip(widths)
        .filter_map(|(c, w)| w.map(|_| c.header))
        .collect()
}

/// A row of the shown columns: `cells` holds one (optional) cell per column, in `widths` order.
pub fn row<'a>(
    cells: impl IntoIterator<Item = Option<ratatui::widgets::Cell<'a>>>,
    widths: &[Option<u16>],
) -> ratatui::widgets::Row<'a> {
    ratatui::widgets::Row::new(
        cells
            .into_iter()
            .zip(widths)
            .filter_map(|(cell, w)| w.and(cell)),
    )
}

/// Draws a list's fitted table: header of the shown columns, the cursor's row highlighted.
pub fn render_table<'a>(
    frame: &mut ratatui::Frame<'_>,
    area: ratatui::layout::Rect,
    app: &crate::console::app::App,
    block: Option<ratatui::widgets::Block<'a>>,
    rows: impl IntoIterator<Item = ratatui::widgets::Row<'a>>,
    (cols, widths): (&[Col], &[Option<u16>]),
    selected: usize,
) {
    let t = &app.theme;
    let mut table = ratatui::widgets::Table::new(rows, constraints(widths))
        .header(ratatui::widgets::Row::new(headers(cols, widths)).style(t.title()))
        .row_highlight_style(t.selected())
        .highlight_symbol("▶ ");
    if let Some(block) = block {
        table = table.block(block);
    }
    let mut state = ratatui::widgets::TableState::default().with_selected(Some(selected));
    frame.render_stateful_widget(table, area, &mut state);
}
