//! Sorting the Incidents and Dead letters lists by a column (`<`/`>` and `I` in the console,
//! `:sort` in command mode). The default order of each list is its urgency order (incidents:
//! status, then ack deadline; dead letters: newest failure first) and is served by an index. Any
//! other column is an `ORDER BY` over the list's selection with the default order as the
//! tie-breaker, still keyset-paged: the key carries the row's value of the column
//! ([`SortBy::sql`] reads it as the page's last column), so paging never skips or repeats a row.
//! Without an index such a sort reads the whole selection once per page (≈ a second at 1M rows,
//! off the render path like every store read); the default needs none.

use rusqlite::types::Value;

/// A column a list can be sorted by. Not every list has every column.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Hash)]
pub enum SortColumn {
    /// The list's own order (urgency for incidents, newest failure for dead letters).
    #[default]
    Default,
    Severity,
    /// When the incident opened / the dead letter first failed: newest first.
    Age,
    Connector,
    Status,
    Attempts,
    /// The dead letter's error code.
    Error,
    /// Payload size, biggest first.
    Size,
    /// Connectors: dead letters, most first.
    Dead,
    /// Connectors: queue depth, deepest first.
    Queue,
    /// Connectors: open incidents, most first.
    Incidents,
}

/// Which list a sort is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SortList {
    Incidents,
    DeadLetters,
    /// Sorted in memory by the console (every connector is loaded).
    Connectors,
}

impl SortColumn {
    /// The columns each list can be sorted by, in the order `<`/`>` walk them.
    pub fn for_list(list: SortList) -> &'static [SortColumn] {
        match list {
            SortList::Incidents => &[
                SortColumn::Default,
                SortColumn::Severity,
                SortColumn::Age,
                SortColumn::Status,
                SortColumn::Connector,
            ],
            SortList::DeadLetters => &[
                SortColumn::Default,
                SortColumn::Age,
                SortColumn::Connector,
                SortColumn::Error,
                SortColumn::Attempts,
                SortColumn::Size,
            ],
            SortList::Connectors => &[
                SortColumn::Default,
                SortColumn::Status,
                SortColumn::Dead,
                SortColumn::Queue,
                SortColumn::Incidents,
            ],
        }
    }

    pub fn name(self, list: SortList) -> &'static str {
        match (self, list) {
            (SortColumn::Default, SortList::Incidents) => "urgency",
            (SortColumn::Default, SortList::DeadLetters) => "last failure",
            (SortColumn::Default, SortList::Connectors) => "name",
            (SortColumn::Dead, _) => "dead",
            (SortColumn::Queue, _) => "queue",
            (SortColumn::Incidents, _) => "incidents",
            (SortColumn::Severity, _) => "severity",
            (SortColumn::Age, SortList::Incidents) => "opened",
            (SortColumn::Age, _) => "first failure",
            (SortColumn::Connector, _) => "connector",
            (SortColumn::Status, _) => "status",
            (SortColumn::Attempts, _) => "attempts",
            (SortColumn::Error, _) => "error",
            (SortColumn::Size, _) => "size",
        }
    }

    /// The column named `word` (as [`Self::name`] says it, or a short form) for `list`.
    pub fn parse(word: &str, list: SortList) -> Option<SortColumn> {
        let word = word.to_ascii_lowercase();
        Self::for_list(list).iter().copied().find(|c| {
            let name = c.name(list);
            name == word
                || name.split(' ').next() == Some(word.as_str())
                || matches!(
                    (c, word.as_str()),
                    (SortColumn::Default, "default")
                        | (SortColumn::Age, "age")
                        | (SortColumn::Severity, "sev")
                        | (SortColumn::Attempts, "att")
                        | (SortColumn::Connector, "conn")
                        | (SortColumn::Incidents, "inc")
                )
        })
    }

    /// Whether the column's natural order is descending (counts, sizes, times: most first).
    pub fn descending(self, list: SortList) -> bool {
        match list {
            SortList::Connectors => {
                matches!(
                    self,
                    SortColumn::Dead | SortColumn::Queue | SortColumn::Incidents
                )
            }
            _ => self.expr(list).is_some_and(|(_, d)| d),
        }
    }

    /// The SQL expression (never NULL) and whether the column's natural order is descending.
    fn expr(self, list: SortList) -> Option<(&'static str, bool)> {
        Some(match (self, list) {
            (SortColumn::Default, _)
            | (_, SortList::Connectors)
            | (SortColumn::Dead | SortColumn::Queue | SortColumn::Incidents, _) => return None,
            (SortColumn::Severity, _) => (
                "(CASE severity WHEN 'critical' THEN 0 WHEN 'major' THEN 1 \
                 WHEN 'warning' THEN 2 ELSE 3 END)",
                false,
            ),
            (SortColumn::Age, SortList::Incidents) => ("opened_ms", true),
            (SortColumn::Age, SortList::DeadLetters) => ("first_failed_ms", true),
            (SortColumn::Connector, _) => ("connector", false),
            (SortColumn::Status, SortList::Incidents) => ("status_rank", false),
            (SortColumn::Status, SortList::DeadLetters) => ("state", false),
            (SortColumn::Attempts, _) => ("attempts", true),
            (SortColumn::Error, _) => ("error_code", false),
            (SortColumn::Size, _) => ("ifnull(length(payload), 0)", true),
        })
    }
}

/// A list's order: a column and whether it is reversed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Hash)]
pub struct SortBy {
    pub column: SortColumn,
    pub reverse: bool,
}

impl SortBy {
    /// What the list's title says ("sorted by attempts ↓"); `None` for the default order.
    pub fn label(self, list: SortList) -> Option<String> {
        if self == SortBy::default() {
            return None;
        }
        let descending = self.column.descending(list) != self.reverse;
        let arrow = match (self.column, descending) {
            (SortColumn::Default, _) => "reversed".to_string(),
            (_, true) => "↓".to_string(),
            (_, false) => "↑".to_string(),
        };
        Some(format!("sorted by {} {arrow}", self.column.name(list)))
    }

    /// The sort's part of a page query: the expression selected as the last column (into the
    /// key), the `ORDER BY` prefix, and the keyset condition before an anchor holding `value`,
    /// combined with `tie` (the default order's condition). `None` for the default order.
    pub(crate) fn sql(self, list: SortList, forward: bool) -> Option<SortSql> {
        let (expr, descending) = self.column.expr(list)?;
        // Display order is `descending` unless reversed; a backward page walks it the other way.
        let desc = descending != self.reverse;
        let walk_desc = desc == forward;
        Some(SortSql {
            expr,
            order: if walk_desc { "DESC" } else { "ASC" },
            after: if walk_desc { "<" } else { ">" },
        })
    }
}

pub(crate) struct SortSql {
    pub expr: &'static str,
    pub order: &'static str,
    /// The comparison that puts a row after the anchor in the page's walk.
    pub after: &'static str,
}

impl SortSql {
    /// `expr after ?v OR (expr = ?v AND tie)`, with `v` the anchor's value parameter.
    pub fn keyset(&self, value_param: usize, tie: &str) -> String {
        format!(
            "({e} {after} ?{value_param} OR ({e} = ?{value_param} AND {tie}))",
            e = self.expr,
            after = self.after
        )
    }
}

/// The value of the sort column in a key (`None` under the default order).
pub type SortValue = Option<SortKeyValue>;

/// One sort column's value (every sortable column is an integer or text).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum SortKeyValue {
    Int(i64),
    Text(String),
}

impl rusqlite::ToSql for SortKeyValue {
    fn to_sql(&self) -> rusqlite::Result<rusqlite::types::ToSqlOutput<'_>> {
        match self {
            SortKeyValue::Int(v) => v.to_sql(),
            SortKeyValue::Text(v) => v.to_sql(),
        }
    }
}

/// The sort column's value read at `idx` (NULL, or a column that is not there: `None`).
pub(crate) fn read_value(row: &rusqlite::Row<'_>, idx: usize) -> SortValue {
    match row.get::<_, Value>(idx).ok()? {
        Value::Integer(v) => Some(SortKeyValue::Int(v)),
        Value::Text(v) => Some(SortKeyValue::Text(v)),
        Value::Null | Value::Real(_) | Value::Blob(_) => None,
    }
}
