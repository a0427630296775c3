//! Snapshots of every console view (TestBackend) at 80×24, 120×40 and 200×60 from fixed data and a
//! fixed clock; plus hostile text never reaching the buffer and tiny sizes never panicking.

use crate::console_fixtures;

use console_fixtures::*;
use triage::console::app::{Dialog, IncidentDetail};
use triage::console::detail::DeadLetterDetail;
use triage::console::{App, View};
use triage::domain::ActionKind;

fn snapshot_both(name: &str, app: &App) {
    for (w, h) in [(80, 24), (120, 40), (200, 60)] {
        let terminal = draw(app, w, h);
        insta::assert_snapshot!(format!("{name}_{w}x{h}"), terminal.backend());
    }
}

fn on(view: View) -> App {
    let mut app = loaded_app();
    app.view = view;
    app
}

#[test]
fn connectors_view() {
    snapshot_both("connectors", &on(View::Connectors));
}

#[test]
fn incidents_view() {
    snapshot_both("incidents", &on(View::Incidents));
}

#[test]
fn incidents_list_shows_the_escalation_level_and_the_next_step() {
    let app = on(View::Incidents);
    let wide = draw(&app, 160, 48).backend().to_string();
    let row = |id_title: &str| {
        wide.lines()
            .find(|l| l.contains(id_title))
            .unwrap_or_default()
            .to_string()
    };
    // inc-101: deadline passed 90 s ago, level 1 of the chain is due and not taken yet.
    assert!(row("DLQ growing").contains("L0! L1 due"), "{wide}");
    // inc-102: 45 s to the deadline, when level 1 (the backup) fires.
    assert!(row("Error rate above").contains("L0  L1 45s"), "{wide}");
    assert!(row("Duplicate conversion").contains("no chain"), "{wide}");
    assert!(row("Vendor latency").contains("not routed"), "{wide}");
    // inc-099: acked 5 min ago; the chain's 30 min ack timeout re-pages in 25 min.
    assert!(row("GA4 returns 503").contains("ack exp 25m"), "{wide}");
    let narrow = draw(&app, 80, 24).backend().to_string();
    // 80 columns: the SLA clock, status, id and connector stay whole; the next step gives way.
    let first = narrow
        .lines()
        .find(|l| l.contains("inc-101"))
        .unwrap_or_default();
    for whole in ["-1m30s", "open", "inc-101", "hubspot-form-to-salesforce"] {
        assert!(
            first.contains(whole),
            "{whole:?} cut at 80 columns:\n{narrow}"
        );
    }
    assert!(!narrow.contains("next"), "{narrow}");
}

#[test]
fn incident_detail_view() {
    let mut app = on(View::Incidents);
    app.incident_detail = Some(incident_detail());
    snapshot_both("incident_detail", &app);
    let text = draw(&app, 160, 48).backend().to_string();
    for expected in [
        "owner Maria Lopez → backup Dev Patel — matched rule \"vendor-outages\" at triage.toml:42",
        "ack SLA    18m30s",
        "vendor-outage (an ack expires after 30m)",
        "level 1 at the deadline → backup Dev Patel",
        "level 2 +15m → bridge #inc-bridge; contingency pause_connector",
        "ack due    02:58:30 · overdue by 1m30s",
        "level      1 of 2 (backup)",
        "next       level 2 (bridge) in 13m30s, at 03:13:30",
        "labels     env=prod, team=revops",
        "First failure:    dl-0001",
    ] {
        assert!(text.contains(expected), "{expected:?} missing:\n{text}");
    }
}

#[test]
fn incident_detail_of_an_acked_and_of_an_unrouted_incident() {
    let mut app = on(View::Incidents);
    let acked = incident_rows().remove(4);
    app.incident_detail = Some(IncidentDetail::new(acked.incident, acked.route));
    let text = draw(&app, 160, 48).backend().to_string();
    assert!(
        text.contains("acked      by dev@laptop at 02:55:00 (5m ago)"),
        "{text}"
    );
    assert!(text.contains("ack due    stopped by the ack"), "{text}");
    assert!(
        text.contains("ack expiry 03:25:00 (in 25m00s): the clock restarts unless resolved"),
        "{text}"
    );
    let unrouted = incident_rows().remove(3);
    app.incident_detail = Some(IncidentDetail::new(unrouted.incident, None));
    let text = draw(&app, 160, 48).backend().to_string();
    assert!(text.contains("route      not routed yet"), "{text}");
    assert!(
        text.contains("ack due    06:00:00 (in 3h00m) as the upstream reported it"),
        "{text}"
    );
    // The incident's chain is gone from the config: said so, the clock runs without steps.
    let mut row = incident_rows().remove(1);
    row.route.as_mut().unwrap().chain = Some("retired-chain".into());
    app.incident_detail = Some(IncidentDetail::new(row.incident, row.route));
    let text = draw(&app, 160, 48).backend().to_string();
    assert!(
        text.contains("retired-chain is not in the config any more"),
        "{text}"
    );
    assert!(
        text.contains("next       none: no escalation chain"),
        "{text}"
    );
}

#[test]
fn dead_letters_view() {
    snapshot_both("dead_letters", &on(View::DeadLetters));
}

#[test]
fn dead_letters_filtered_by_the_store() {
    let mut app = on(View::DeadLetters);
    let (seq, request) = app
        .dead_letters
        .list
        .set_filter("c-88", app.now)
        .expect("a store query");
    let rows: Vec<_> = dead_letter_rows()
        .into_iter()
        .filter(|r| r.id == "dl-0002")
        .collect();
    triage::console::update(
        &mut app,
        triage::console::Msg::DeadLetters {
            seq,
            request,
            rows,
            limit: triage::console::paging::PAGE_LIMIT,
        },
    );
    snapshot_both("dead_letters_filtered", &app);
}

#[test]
fn dead_letter_detail_view() {
    let mut app = on(View::DeadLetters);
    app.dead_letters.detail = Some(detail().with_history(dead_letter_history()));
    snapshot_both("dead_letter_detail", &app);
    let text = draw(&app, 160, 48).backend().to_string();
    assert!(
        text.contains("contract: missing required field `lead_source`"),
        "{text}"
    );
    // The upstream's count first, then triage's own actions, newest first.
    for expected in [
        "upstream 5 attempts · first failed 2026-03-14 02:29:00 (31m ago) · last failed 2026-03-14 02:59:00 (1m ago) · dead",
        "2026-03-14 03:00 maria@bastion edited replay → pending",
        "2026-03-14 02:59 alice@bastion replay → failed: destination refused (400): INVALID_FIELD No such column 'lead_source' on sobject of type Lead",
        "2026-03-14 02:55 dev@laptop replay → pending, retry at 03:01 after 2 attempts: demo: timed out after 10s",
        "2026-03-14 02:40 alice@bastion replay → failed after 5 attempts: connection refused (127.0.0.1:7070)",
    ] {
        assert!(text.contains(expected), "{expected:?} missing:\n{text}");
    }
    let order: Vec<usize> = ["03:00 maria", "02:59 alice", "02:55 dev", "02:40 alice"]
        .iter()
        .map(|s| text.find(s).unwrap())
        .collect();
    assert!(order.is_sorted(), "newest first:\n{text}");
    // At 80 columns an action stays on one line, cut with an ellipsis (below the headers).
    key(&mut app, "G");
    let narrow = draw(&app, 80, 24).backend().to_string();
    let refused = narrow
        .lines()
        .find(|l| l.contains("alice@bastion replay → failed: destination refused"))
        .unwrap_or_else(|| panic!("{narrow}"));
    assert!(
        refused.trim_end_matches(['"', ' ']).ends_with('…'),
        "{narrow}"
    );
}

#[test]
fn dead_letter_detail_without_actions_says_triage_sent_none() {
    let mut app = on(View::DeadLetters);
    app.dead_letters.detail = Some(detail());
    let text = draw(&app, 160, 48).backend().to_string();
    assert!(
        text.contains("no replay or discard from triage yet"),
        "{text}"
    );
    assert!(!text.contains(" → "), "{text}");
}

#[test]
fn binary_dead_letter_detail_shows_hex() {
    let mut app = on(View::DeadLetters);
    app.dead_letters.detail = Some(DeadLetterDetail::new(
        dead_letter("dl-0001", &[0x00, 0x9f, 0xff, 0x10, 0x41]),
        None,
        None,
    ));
    // The payload comes last, after the error, headers and history: G reaches it.
    key(&mut app, "G");
    let text = draw(&app, 80, 24).backend().to_string();
    assert!(text.contains("00000000  00 9f ff 10 41"), "{text}");
    assert!(text.contains("|....A|"), "{text}");
}

#[test]
fn runbook_view() {
    snapshot_both("runbook", &on(View::Runbook));
}

#[test]
fn activity_view() {
    snapshot_both("activity", &on(View::Activity));
}

#[test]
fn help_overlay() {
    let mut app = on(View::Incidents);
    app.help = Some(0);
    snapshot_both("help", &app);
}

#[test]
fn replay_confirm_dialog_with_a_rabbitmq_route() {
    let mut app = on(View::DeadLetters);
    app.dialog = Some(Dialog::ConfirmDeadLetter {
        kind: ActionKind::Replay,
        upstream: "rmq".into(),
        id: "01kb3x9q7w2m4n6p8r0t2v4x6z".into(),
        connector: "crm-work".into(),
        destination: "Salesforce".into(),
        error: "rejected: rejected from queue crm.work via exchange crm, 3 times".into(),
        attempts: 3,
        payload: r#"{"email":"ana@example.com"}"#.into(),
        routes: vec![
            "last origin".into(),
            "first-origin".into(),
            "queue:crm.work".into(),
        ],
        route: 2,
        drop_ttl: true,
    });
    snapshot_both("replay_dialog_rabbitmq", &app);
}

#[test]
fn replay_confirm_dialog() {
    let mut app = on(View::DeadLetters);
    app.dialog = Some(Dialog::ConfirmDeadLetter {
        kind: ActionKind::Replay,
        upstream: "demo".into(),
        id: "dl-0003".into(),
        connector: "hubspot-form-to-salesforce".into(),
        destination: "Salesforce".into(),
        error: "INVALID_FIELD: No such column 'lead_source' on sobject of type Lead".into(),
        attempts: 5,
        payload: r#"{"email":"ana@example.com","LeadSource__c":"influencer"}"#.into(),
        routes: Vec::new(),
        route: 0,
        drop_ttl: false,
    });
    snapshot_both("replay_dialog", &app);
}

#[test]
fn read_only_header_and_footer() {
    let mut app = app_with(true);
    triage::console::update(&mut app, triage::console::Msg::Connectors(connector_rows()));
    load_incidents(&mut app, incident_rows());
    app.view = View::Incidents;
    let text = draw(&app, 80, 24).backend().to_string();
    assert!(text.contains("READ-ONLY"), "{text}");
    let footer = text.lines().last().unwrap();
    assert!(
        footer.contains("? help") && !footer.contains("a ack"),
        "footer must not offer ack in read-only mode: {footer}"
    );
}

#[test]
fn header_tells_stale_and_down_upstreams() {
    use triage::domain::ConnectionState;
    let mut app = loaded_app();
    app.upstream_states = vec![
        (
            "crm".into(),
            ConnectionState::Stale {
                last_ok: now() - chrono::Duration::minutes(3),
                since: now(),
                error: "timeout".into(),
            },
        ),
        (
            "amqp".into(),
            ConnectionState::Down {
                since: now(),
                error: "connection refused".into(),
            },
        ),
    ];
    let text = draw(&app, 160, 48).backend().to_string();
    assert!(text.contains("crm: stale since 02:57"), "{text}");
    assert!(text.contains("amqp: down: connection refused"), "{text}");
}

const HOSTILE: &str = "\x1b[2J\x1b[H\x1b]52;c;cm0gLXJmIH4=\x07\x1b[10;10H\u{9b}31mred\u{9b}0m\x08\x7f\r\n\u{202e}evil";

#[test]
fn escape_sequences_never_reach_the_buffer() {
    let mut app = on(View::DeadLetters);
    let mut hostile_letter = dead_letter(
        "dl-evil",
        format!("{{\"note\":\"{}\"}}", HOSTILE.replace('\\', "")).as_bytes(),
    );
    hostile_letter.payload = HOSTILE.as_bytes().to_vec();
    hostile_letter
        .headers
        .push((HOSTILE.into(), HOSTILE.into()));
    hostile_letter.error.message = HOSTILE.into();
    hostile_letter.error.code = HOSTILE.into();
    hostile_letter.error.vendor_response = Some(HOSTILE.into());
    let mut summary = dead_letter_rows().remove(0);
    summary.preview = HOSTILE.as_bytes().to_vec();
    summary.error_code = HOSTILE.into();
    summary.error_message = HOSTILE.into();
    summary.connector = HOSTILE.into();
    load_dead_letters(&mut app, vec![summary]);
    let mut incident = incident_rows().remove(0);
    incident.incident.title = HOSTILE.into();
    incident.incident.connector = HOSTILE.into();
    load_incidents(&mut app, vec![incident]);
    triage::console::update(
        &mut app,
        triage::console::Msg::Runbook {
            connector: HOSTILE.into(),
            path: None,
            markdown: Ok(format!("# {HOSTILE}\n\n{HOSTILE}\n")),
        },
    );
    let mut frames = Vec::new();
    for view in [View::DeadLetters, View::Incidents, View::Runbook] {
        app.view = view;
        frames.push(draw(&app, 160, 48));
    }
    app.view = View::Incidents;
    let mut hostile_incident = incident_detail();
    hostile_incident.incident.title = HOSTILE.into();
    hostile_incident.incident.acked_by = Some(HOSTILE.into());
    hostile_incident.incident.labels = [(HOSTILE.to_string(), HOSTILE.to_string())].into();
    hostile_incident.incident.links = vec![triage::domain::Link {
        title: HOSTILE.into(),
        url: HOSTILE.into(),
    }];
    if let Some(route) = hostile_incident.route.as_mut() {
        route.rule = HOSTILE.into();
        route.origin = HOSTILE.into();
        route.owner = Some(HOSTILE.into());
    }
    hostile_incident.incident.detail = HOSTILE.into();
    let hostile_incident = IncidentDetail::new(hostile_incident.incident, hostile_incident.route);
    app.incident_detail = Some(hostile_incident);
    frames.push(draw(&app, 160, 48));
    app.incident_detail = None;
    app.view = View::DeadLetters;
    let mut hostile_action = dead_letter_history().remove(1);
    hostile_action.action.operator = HOSTILE.into();
    hostile_action.outcome = Some(triage::domain::ActionOutcome {
        ok: false,
        summary: HOSTILE.into(),
        response: serde_json::Value::Null,
    });
    let mut hostile_retry = dead_letter_history().remove(2);
    hostile_retry.last_error = Some(HOSTILE.into());
    app.dead_letters.detail = Some(
        DeadLetterDetail::new(hostile_letter, None, None)
            .with_history(vec![hostile_action, hostile_retry]),
    );
    frames.push(draw(&app, 160, 48));
    for terminal in &frames {
        for cell in terminal.backend().buffer().content() {
            assert!(
                !cell
                    .symbol()
                    .chars()
                    .any(|c| c.is_control() || c == '\u{202e}'),
                "control character in cell {:?}",
                cell.symbol()
            );
        }
    }
    let detail_text = frames.last().unwrap().backend().to_string();
    assert!(
        detail_text.contains("␛[2J"),
        "escape shown as a visible symbol: {detail_text}"
    );
    assert!(
        detail_text
            .lines()
            .any(|l| l.contains("02:59 ␛[2J") && l.contains("replay → failed: ␛[2J")),
        "hostile operator and answer of an action shown as visible symbols: {detail_text}"
    );
    assert!(
        detail_text.contains("after 2 attempts: ␛[2J"),
        "hostile last error shown as visible symbols: {detail_text}"
    );
}

#[test]
fn tiny_sizes_never_panic() {
    let mut app = loaded_app();
    for view in View::ALL {
        app.view = view;
        for (w, h) in [(0, 0), (1, 1), (0, 5), (7, 0), (10, 3), (20, 5), (40, 10)] {
            let terminal = draw(&app, w, h);
            // (TestBackend cannot print a 0-wide buffer; drawing it is the check.)
            let text = if w > 0 {
                terminal.backend().to_string()
            } else {
                String::new()
            };
            if w < 20 {
                assert!(!text.contains("Connectors"), "{text}");
            }
        }
    }
    app.view = View::Incidents;
    app.incident_detail = Some(incident_detail());
    for (w, h) in [(0, 0), (1, 1), (0, 5), (7, 0), (10, 3), (20, 5), (40, 10)] {
        draw(&app, w, h);
    }
    app.view = View::DeadLetters;
    app.dead_letters.detail = Some(detail());
    app.help = Some(0);
    for (w, h) in [(0, 0), (1, 1), (0, 5), (7, 0), (10, 3), (20, 5), (40, 10)] {
        draw(&app, w, h);
    }
    let text = draw(&app, 19, 5).backend().to_string();
    assert!(text.contains("window too"), "{text}");
}

#[test]
fn the_selected_row_stays_on_screen_deep_in_a_page() {
    let mut app = on(View::DeadLetters);
    let rows: Vec<_> = (0..100)
        .map(|i| {
            dead_letter_summary(
                &format!("dl-{i:04}"),
                "hubspot-form-to-salesforce",
                i,
                1000 - i,
                b"{}",
                "E",
                "m",
            )
        })
        .collect();
    load_dead_letters(&mut app, rows);
    for _ in 0..60 {
        triage::console::update(
            &mut app,
            triage::console::Msg::Key {
                key: triage::console::Key::parse("j").unwrap(),
                now: now(),
            },
        );
    }
    let text = draw(&app, 80, 24).backend().to_string();
    let selected = text
        .lines()
        .find(|l| l.starts_with("\"▶"))
        .unwrap_or_default()
        .to_string();
    assert!(
        selected.contains("1h "),
        "row 60 failed 60 minutes ago: {selected}\n{text}"
    );
    assert!(
        !text.contains("\"  0s "),
        "the first rows scrolled away: {text}"
    );
}

#[test]
fn no_color_uses_no_colours_anywhere_and_colour_mode_does() {
    use ratatui::style::Color;
    let mut app = loaded_app();
    for no_color in [true, false] {
        app.theme = triage::console::Theme { no_color };
        let mut coloured_cells = 0;
        for view in View::ALL {
            app.view = view;
            app.upstream_states = vec![(
                "demo".into(),
                triage::domain::ConnectionState::Down {
                    since: now(),
                    error: "refused".into(),
                },
            )];
            let terminal = draw(&app, 160, 48);
            coloured_cells += terminal
                .backend()
                .buffer()
                .content()
                .iter()
                .filter(|c| c.fg != Color::Reset || c.bg != Color::Reset)
                .count();
        }
        if no_color {
            assert_eq!(coloured_cells, 0, "NO_COLOR: only bold/reverse/underline");
        } else {
            assert!(coloured_cells > 0);
        }
    }
}

#[test]
fn lists_with_marks() {
    let mut app = on(View::Incidents);
    key(&mut app, "space");
    key(&mut app, "j");
    key(&mut app, "space");
    app.status = None;
    snapshot_both("incidents_marked", &app);
    let mut app = on(View::DeadLetters);
    key(&mut app, "space");
    app.status = None;
    snapshot_both("dead_letters_marked", &app);
    // Tiny terminals draw without panicking.
    let tiny = draw(&app, 20, 5).backend().to_string();
    assert!(!tiny.is_empty());
}

#[test]
fn bulk_incident_confirm_dialog() {
    use triage::console::bulk::BulkTarget;
    let mut app = on(View::Incidents);
    key(&mut app, "space");
    key(&mut app, "space");
    key(&mut app, "space");
    app.status = None;
    let target = |connector: &str, id: &str| BulkTarget {
        connector: connector.into(),
        action: triage::domain::Action {
            kind: ActionKind::Ack,
            upstream: "demo".into(),
            target: id.into(),
            operator: OPERATOR.into(),
            note: None,
            level: None,
            payload: None,
            destination: None,
            drop_ttl: false,
        },
    };
    app.dialog = Some(Dialog::ConfirmIncidents {
        kind: ActionKind::Ack,
        targets: vec![
            target("hubspot-form-to-salesforce", "inc-101"),
            target("hubspot-form-to-salesforce", "inc-102"),
            target("hubspot-form-to-salesforce", "inc-105"),
            target("hubspot-form-to-salesforce", "inc-107"),
            target("ads-conversions-to-analytics", "inc-103"),
        ],
        skipped: vec!["inc-099 is already acknowledged by dev@laptop".into()],
    });
    snapshot_both("bulk_ack_dialog", &app);
    let tiny = draw(&app, 20, 5).backend().to_string();
    assert!(!tiny.is_empty());
}

#[test]
fn bulk_replay_confirm_dialog() {
    use std::sync::Arc;
    use triage::console::runs::FrozenPlan;
    use triage::domain::run::{FailureLimit, MemberState, RunMember, StageSize};
    use triage::sync::runs::{Plan, PlanGroup, RunOptions};
    let mut app = on(View::DeadLetters);
    key(&mut app, "space");
    key(&mut app, "space");
    app.status = None;
    let member = |seq: usize, connector: &str, id: &str, skipped: bool| RunMember {
        seq,
        upstream: "demo".into(),
        target: id.into(),
        connector: connector.into(),
        stage: 0,
        state: if skipped {
            MemberState::Skipped
        } else {
            MemberState::Planned
        },
        note: None,
    };
    let members = vec![
        member(0, "hubspot-form-to-salesforce", "dl-0003", false),
        member(1, "hubspot-form-to-salesforce", "dl-0004", false),
        member(2, "hubspot-form-to-salesforce", "dl-0005", false),
        member(3, "hubspot-form-to-salesforce", "dl-0006", false),
        member(4, "ads-conversions-to-analytics", "dl-0002", true),
    ];
    let plan = Plan {
        kind: ActionKind::Replay,
        selection: "5 marked in the console".into(),
        total: 5,
        to_send: 4,
        groups: vec![PlanGroup {
            upstream: "demo".into(),
            connector: "hubspot-form-to-salesforce".into(),
            destination: "Salesforce".into(),
            count: 4,
        }],
        oldest: None,
        newest: None,
        violations: 1,
        violation_examples: vec![(
            "dl-0002".into(),
            "\"conversion_id\" is a required property".into(),
        )],
        force: false,
        replayed_before: 0,
        not_dead: 0,
        stages: vec![1, 1, 2],
        max_failures: "10%".into(),
        rate: None,
        concurrency: 500,
        estimated_secs: None,
    };
    let options = RunOptions {
        kind: ActionKind::Replay,
        selection: plan.selection.clone(),
        operator: OPERATOR.into(),
        stages: vec![StageSize::Count(1), StageSize::Percent(10), StageSize::Rest],
        max_failures: FailureLimit::Percent(10.0),
        rate: None,
        concurrency: 500,
        force: false,
        destination: None,
        drop_ttl: false,
    };
    app.dialog = Some(Dialog::ConfirmRun {
        plan: FrozenPlan(Arc::new((plan, members, options))),
    });
    snapshot_both("bulk_replay_dialog", &app);
    let tiny = draw(&app, 20, 5).backend().to_string();
    assert!(!tiny.is_empty());
}

#[test]
fn a_driven_run_stays_in_the_status_line() {
    let mut app = on(View::DeadLetters);
    app.status = None;
    app.run = Some(triage::console::runs::RunGauge {
        id: "run-7".into(),
        kind: ActionKind::Replay,
        state: triage::domain::run::RunState::Running,
        progress: triage::domain::run::RunProgress {
            total: 312,
            sent: 40,
            failed: 2,
            skipped: 5,
            ..Default::default()
        },
        stage: Some(2),
        stages: 3,
        finished: false,
        error: None,
        speed: None,
    });
    let screen = draw(&app, 80, 24).backend().to_string();
    assert!(
        screen.contains("replay run run-7: 40 done · 2 failed · 5 skipped · 265 left"),
        "{screen}"
    );
}

#[test]
fn a_five_digit_incident_count_is_not_cut() {
    let mut app = on(View::Connectors);
    app.connectors.rows[0].counts.open_incidents = 16_666;
    app.connectors.rows[0].counts.unacked_incidents = 3;
    for (w, h) in [(80, 24), (120, 40), (200, 60)] {
        let text = draw(&app, w, h).backend().to_string();
        assert!(text.contains("16666!"), "{w}×{h}:\n{text}");
    }
}
