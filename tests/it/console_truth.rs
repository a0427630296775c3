//! Issue #12: what the console says must be true and reachable — the escalation level taken
//! and an expired ack (1), a maintenance silence that is not an ack (2), scrolling to the end
//! of wrapped text (3). Rendered with ratatui's TestBackend at 80×24 and a large size
//! (navigation: `console_navigation.rs`).

use crate::console_fixtures;

use console_fixtures::*;
use ratatui::Terminal;
use ratatui::backend::TestBackend;
use triage::console::paging::IncidentRow;
use triage::console::views;
use triage::console::{App, Msg, View, update};
use triage::domain::{IncidentStatus, Severity};

fn draw(app: &App, width: u16, height: u16) -> String {
    let mut terminal = Terminal::new(TestBackend::new(width, height)).unwrap();
    terminal.draw(|frame| views::render(frame, app)).unwrap();
    terminal.backend().to_string()
}

fn resize(app: &mut App, width: u16, height: u16) {
    update(app, Msg::Resize { width, height });
}

fn minutes(m: i64) -> chrono::Duration {
    chrono::Duration::minutes(m)
}

/// ads-conversions: opened 2 h ago (15 min SLA), acked 100 min ago; the chain's 30 min ack
/// timeout expired it 70 min ago, and `triage watch` then took level 1 and level 2 (the bridge)
/// in the new cycle. The upstream itself reports level 0 (Alertmanager has no levels).
fn escalated_after_an_expired_ack() -> IncidentRow {
    let mut incident = incident(
        "inc-201",
        "ads-conversions",
        Severity::Critical,
        IncidentStatus::Acknowledged,
        "Conversions rejected by the ad platform",
        None,
    );
    incident.opened_at = now() - minutes(120);
    incident.acked_at = Some(now() - minutes(100));
    incident.acked_by = Some("dev@laptop".into());
    let mut route = route_for(&incident, Some("vendor-outage"));
    route.ack_sla_secs = 15 * 60;
    IncidentRow {
        route: Some(route),
        taken: vec![(now() - minutes(70), 2)],
        ..incident_row(incident)
    }
}

#[test]
fn the_level_taken_by_watch_and_an_expired_ack_show_in_the_list_and_the_detail() {
    let mut app = loaded_app();
    app.view = View::Incidents;
    load_incidents(&mut app, vec![escalated_after_an_expired_ack()]);
    for (w, h) in [(80, 24), (160, 48), (200, 50)] {
        resize(&mut app, w, h);
        let screen = draw(&app, w, h);
        let row = screen
            .lines()
            .find(|l| l.contains("ads-conv"))
            .unwrap_or_default()
            .to_string();
        assert!(row.contains(" L2 "), "{w}x{h}: the level taken\n{screen}");
        assert!(!row.contains("L0"), "{w}x{h}\n{screen}");
        assert!(row.contains("ack expired"), "{w}x{h}\n{screen}");
        assert!(
            !row.contains("acked "),
            "{w}x{h}: not acked any more\n{screen}"
        );
        // The restarted clock's deadline passed 55 min ago.
        assert!(row.contains("-55m"), "{w}x{h}\n{screen}");
        if w >= 200 {
            assert!(row.contains("dev@laptop 01:20 (expired)"), "{screen}");
        }
    }
    key(&mut app, "enter");
    resize(&mut app, 160, 48);
    let detail = draw(&app, 160, 48);
    assert!(detail.contains("level      2 of 2 (bridge)"), "{detail}");
    assert!(!detail.contains("is due now"), "{detail}");
    assert!(detail.contains("ack expired"), "{detail}");
    assert!(detail.contains("that ack expired at"), "{detail}");
    assert!(
        detail.contains("none: the chain has no further step"),
        "{detail}"
    );
}

/// Issue #12 (2), as the console shows it: an alert muted by carol's maintenance window reads
/// "silenced by …: comment" in the list and the detail, never "acknowledged by carol@maint".
#[test]
fn a_maintenance_silence_shows_as_silenced_with_its_comment() {
    let mut muted = incident(
        "fp-77",
        "hubspot-form-to-salesforce",
        Severity::Warning,
        IncidentStatus::Suppressed,
        "CRM 5xx",
        None,
    );
    muted.detail = format!(
        "{}carol@maint until 14:00: CRM maintenance window\n\n5xx from the CRM",
        triage::domain::SILENCED_BY
    );
    let mut app = loaded_app();
    app.view = View::Incidents;
    load_incidents(&mut app, vec![incident_row(muted)]);
    resize(&mut app, 200, 40);
    let list = draw(&app, 200, 40);
    assert!(
        list.contains("Silenced by carol@maint until 14:00: CRM maintenance window"),
        "{list}"
    );
    assert!(!list.contains("acknowledged"), "{list}");
    key(&mut app, "enter");
    for (w, h) in [(80, 24), (200, 40)] {
        resize(&mut app, w, h);
        let detail = draw(&app, w, h);
        assert!(detail.contains("suppressed"), "{detail}");
        assert!(
            detail.contains("silenced   Silenced by carol@maint"),
            "{detail}"
        );
        assert!(detail.contains("maintenance window"), "{detail}");
        assert!(detail.contains("acked      not yet"), "{detail}");
    }
}

/// A JSON payload whose one string value is 200 KB: the detail shows its first 64 KiB (not just
/// the opening brace), `G` reaches that end, `g` the headers again.
#[test]
fn a_json_payload_with_one_huge_value_shows_its_start_up_to_the_limit() {
    let value = "lorem ipsum dolor sit amet ".repeat(200 * 1024 / 27);
    let payload = format!("{{\"rows\":\"{value}\"}}");
    let mut letter = dead_letter("dl-huge", payload.as_bytes());
    letter
        .headers
        .push(("x-trace".into(), "TRACE-HEAD-1".into()));
    let mut app = loaded_app();
    app.view = View::DeadLetters;
    resize(&mut app, 80, 24);
    let detail = triage::console::detail::DeadLetterDetail::new(letter, None, None);
    let shown: usize = match &detail.payload {
        triage::console::detail::PayloadView::Json { lines, .. } => {
            lines.iter().map(|l| l.len() + 1).sum()
        }
        other => panic!("{other:?}"),
    };
    assert!(
        (64 * 1024 - 2..=64 * 1024 + 1).contains(&shown),
        "the first 64 KiB are shown, not {shown} bytes"
    );
    update(&mut app, Msg::DeadLetterDetail(Box::new(detail)));
    assert!(draw(&app, 80, 24).contains("TRACE-HEAD-1"));
    let end = screen_after(&mut app, &["G"]);
    assert!(end.contains("more bytes not shown here"), "{end}");
    assert!(
        end.contains("ipsum"),
        "the value's text right above the end:\n{end}"
    );
    assert!(!end.contains("TRACE-HEAD-1"), "{end}");
    assert!(screen_after(&mut app, &["g"]).contains("TRACE-HEAD-1"));
}

fn screen_after(app: &mut App, keys: &[&str]) -> String {
    for name in keys {
        key(app, name);
    }
    let (w, h) = app.size;
    draw(app, w, h)
}

/// Issue #12 (3) and #10: a 2 MiB binary message at 80×24. Its headers (`x-death`) and the
/// upstream's long, wrapping response come before the payload; `G` and End reach the very end
/// (a line saying how much of the payload is not shown), PgDn gets there too, and `k` after
/// `G` moves up at once (no scrolling through rows that do not exist).
#[test]
fn every_part_of_a_long_wrapped_dead_letter_detail_is_reachable_at_80x24() {
    let payload: Vec<u8> = (0..2 * 1024 * 1024u32).map(|i| (i % 251) as u8).collect();
    let mut letter = dead_letter("dl-big", &payload);
    letter.content_type = Some("application/octet-stream".into());
    letter.headers.push((
        "x-death".into(),
        "[{count=3, exchange=crm, queue=hubspot.work, reason=rejected}]".into(),
    ));
    let long_word = "Salesforce-rejected-the-lead-because-the-mapping-still-names-lead_source ";
    letter.error.vendor_response = Some(format!("{}END-OF-RESPONSE", long_word.repeat(12)));
    let mut app = loaded_app();
    app.view = View::DeadLetters;
    resize(&mut app, 80, 24);
    let detail = triage::console::detail::DeadLetterDetail::new(letter, None, None);
    update(&mut app, Msg::DeadLetterDetail(Box::new(detail)));
    let top = draw(&app, 80, 24);
    assert!(top.contains("x-death: [{count=3"), "{top}");
    assert!(top.contains("upstream response"), "{top}");
    let end = screen_after(&mut app, &["G"]);
    assert!(
        end.contains("… 2031616 more bytes not shown here (v shows the whole payload)"),
        "{end}"
    );
    assert!(end.contains("0000fff0  "), "the last hex row shown\n{end}");
    assert_eq!(screen_after(&mut app, &["g", "end"]), end, "End = G");
    let up = screen_after(&mut app, &["k"]);
    assert_ne!(up, end, "k right after G scrolls up");
    let mut paged = screen_after(&mut app, &["g"]);
    for _ in 0..400 {
        if paged == end {
            break;
        }
        paged = screen_after(&mut app, &["pgdn"]);
    }
    assert_eq!(paged, end, "PgDn reaches the end");
    // The wrapped response's last word is reachable from the top with j.
    let mut seen = screen_after(&mut app, &["g"]);
    for _ in 0..40 {
        if seen.contains("END-OF-RESPONSE") {
            break;
        }
        seen = screen_after(&mut app, &["j"]);
    }
    assert!(seen.contains("END-OF-RESPONSE"), "{seen}");
}

/// Issue #12 (3): a runbook whose paragraphs wrap at 80 columns: `G` shows its last section.
#[test]
fn the_end_of_a_wrapped_runbook_is_reachable() {
    let paragraph = "Check the field mapping in the CRM and in the form tool, then compare it \
                     with the contract before replaying anything. ";
    let mut markdown = String::from("# Runbook\n\n");
    for section in 1..=6 {
        markdown.push_str(&format!(
            "## Section {section}\n\n{}\n\n",
            paragraph.repeat(3)
        ));
    }
    markdown.push_str("## Last section\n\nCall the vendor.\n");
    let mut app = loaded_app();
    app.view = View::Runbook;
    resize(&mut app, 80, 24);
    update(
        &mut app,
        Msg::Runbook {
            connector: "hubspot-form-to-salesforce".into(),
            path: None,
            markdown: Ok(markdown),
        },
    );
    let end = screen_after(&mut app, &["G"]);
    assert!(end.contains("Call the vendor."), "{end}");
    assert!(end.contains("Last section"), "{end}");
}
