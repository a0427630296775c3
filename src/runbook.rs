//! Markdown runbooks rendered as styled ratatui text.
