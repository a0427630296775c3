//! The terminal console (ratatui): state, update, views, terminal guard.
