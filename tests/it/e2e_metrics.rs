//! End to end in tmux (#14): the demo console's Metrics view — `6` opens it with the demo's
//! connectors worst first and the charts, `t` switches the window (7d → 30d → 24h), `T` the
//! rows to teams; back on Connectors the header shows the selected connector's MTTA and DLQ
//! trend. Skipped, with a message, only when tmux is not installed.

use crate::e2e_signals::start_console_with;
use crate::support::tmux::Tmux;

#[test]
fn the_metrics_view_switches_windows_and_rows_and_the_header_shows_the_numbers() {
    if !Tmux::available() {
        eprintln!("SKIPPED: tmux is not installed (apt-get install tmux)");
        return;
    }
    let home = tempfile::tempdir().expect("tempdir");
    let (tmux, _pid) = start_console_with("metrics", home.path(), &[]);
    tmux.wait_for("the demo synced", 30, |s| {
        s.contains("hubspot-form-to-salesforce")
    });
    tmux.keys(&["6"]);
    tmux.wait_for("the metrics of 7 days", 30, |s| {
        s.contains("Metrics · last 7d")
            && !s.contains("computing")
            && s.contains("hubspot-form-to-salesforce")
            && s.contains("MTTA med/p90")
            && s.contains("DLQ depth (dead letters)")
    });
    tmux.keys(&["t"]);
    tmux.wait_for("30 days", 20, |s| {
        s.contains("Metrics · last 30d") && !s.contains("computing")
    });
    tmux.keys(&["t"]);
    tmux.wait_for("24 hours", 20, |s| {
        s.contains("Metrics · last 24h") && !s.contains("computing")
    });
    tmux.keys(&["T"]);
    tmux.wait_for("rows per team", 20, |s| {
        s.contains("per team (T: per connector)") && s.contains("revops")
    });
    tmux.keys(&["1"]);
    tmux.wait_for("the header's numbers", 30, |s| {
        let header = s.lines().next().unwrap_or_default();
        header.contains("MTTA ") && header.contains("DLQ ") && header.contains("(24h)")
    });
}
