//! Columns that fit the facts (#12 point 8): widths come from the content and the terminal, so
//! at 80×24, 120×40 and 200×60 every list shows each row's id, connector and status whole, and
//! texts are cut with `…` only when the terminal is too narrow for them — never while space sits
//! empty. The ids here are as long as real ones (`inc_` + a 26-character ULID).

use crate::console_fixtures;

use console_fixtures::*;
use triage::console::views::columns::{self, Col, Kind};
use triage::console::{App, View};

const SIZES: [(u16, u16); 3] = [(80, 24), (120, 40), (200, 60)];

fn ulid_like(prefix: &str, n: usize) -> String {
    format!("{prefix}01JDQ4ZK8M3V7X9T2B5N6R{n:04}")
}

/// The fixture app with ids as long as the demo's and RabbitMQ's.
fn app_with_long_ids() -> App {
    let mut incidents = incident_rows();
    for (n, row) in incidents.iter_mut().enumerate() {
        row.incident.id = ulid_like("inc_", n);
    }
    let mut letters = dead_letter_rows();
    for (n, dl) in letters.iter_mut().enumerate() {
        dl.id = ulid_like("dl_", n);
    }
    let mut app = loaded_app();
    load_incidents(&mut app, incidents);
    load_dead_letters(&mut app, letters);
    app
}

fn row_line<'a>(screen: &'a str, needle: &str) -> &'a str {
    screen
        .lines()
        .find(|l| l.contains(needle))
        .unwrap_or_else(|| panic!("no row with {needle:?}:\n{screen}"))
}

#[test]
fn every_list_shows_id_connector_and_status_whole_at_three_sizes() {
    let fixture = loaded_app();
    for (w, h) in SIZES {
        let mut app = fixture.clone();
        app.view = View::Incidents;
        let screen = draw(&app, w, h).backend().to_string();
        for row in &app.incidents.rows {
            let i = &row.incident;
            let line = row_line(&screen, &i.id);
            assert!(
                line.contains(&i.connector),
                "{w}×{h}: connector cut:\n{screen}"
            );
            assert!(
                line.contains(i.status.as_str()),
                "{w}×{h}: status cut:\n{screen}"
            );
        }
        app.view = View::DeadLetters;
        let screen = draw(&app, w, h).backend().to_string();
        for dl in &app.dead_letters.list.rows {
            let line = row_line(&screen, &dl.id);
            assert!(
                line.contains(&dl.connector),
                "{w}×{h}: connector cut:\n{screen}"
            );
        }
        app.view = View::Connectors;
        let screen = draw(&app, w, h).backend().to_string();
        for row in &app.connectors.rows {
            let line = row_line(&screen, &row.connector.id);
            assert!(
                line.contains(row.connector.status.as_str()),
                "{w}×{h}:\n{screen}"
            );
            assert!(
                line.contains("15m"),
                "{w}×{h}: the SLA column is missing:\n{screen}"
            );
        }
        app.view = View::Activity;
        let screen = draw(&app, w, h).backend().to_string();
        for e in &app.activity.list.rows {
            let line = row_line(&screen, &e.action.target);
            assert!(line.contains(e.state.as_str()), "{w}×{h}:\n{screen}");
        }
    }
}

#[test]
fn real_length_ids_are_whole_from_120_columns_and_keep_their_tail_at_80() {
    let mut app = app_with_long_ids();
    for view in [View::Incidents, View::DeadLetters] {
        app.view = view;
        for (w, h) in [(120, 40), (200, 60)] {
            let screen = draw(&app, w, h).backend().to_string();
            let ids: Vec<String> = match view {
                View::Incidents => app
                    .incidents
                    .rows
                    .iter()
                    .map(|r| r.incident.id.clone())
                    .collect(),
                _ => app
                    .dead_letters
                    .list
                    .rows
                    .iter()
                    .map(|d| d.id.clone())
                    .collect(),
            };
            for id in ids {
                row_line(&screen, &id);
            }
        }
        // 80 columns: the connector and the SLA clock stay whole; the id keeps its head and
        // the tail that tells rows apart; the status says itself in short words.
        let screen = draw(&app, 80, 24).backend().to_string();
        let line = row_line(&screen, "R0000");
        assert!(line.contains("hubspot-form-to-salesforce"), "{screen}");
        if view == View::Incidents {
            assert!(
                line.contains("inc…") && line.contains("5N6R0000"),
                "{screen}"
            );
            assert!(line.contains("-1m30s") && line.contains("open"), "{screen}");
            // Short status words and a cut id leave the title a column of its own.
            assert!(line.contains("DLQ growing"), "{screen}");
            let acked = row_line(&screen, "R0004");
            assert!(acked.contains(" acked "), "{screen}");
        }
    }
    app.view = View::Incidents;
    insta::assert_snapshot!("incidents_long_ids_80x24", draw(&app, 80, 24).backend());
    insta::assert_snapshot!("incidents_long_ids_120x40", draw(&app, 120, 40).backend());
    app.view = View::DeadLetters;
    insta::assert_snapshot!("dead_letters_long_ids_80x24", draw(&app, 80, 24).backend());
}

#[test]
fn a_wide_terminal_shows_titles_and_owners_whole() {
    let app = {
        let mut app = loaded_app();
        app.view = View::Incidents;
        app
    };
    let screen = draw(&app, 200, 60).backend().to_string();
    for row in &app.incidents.rows {
        let line = row_line(&screen, &row.incident.id);
        assert!(
            line.contains(&row.incident.title),
            "title cut at 200:\n{screen}"
        );
        assert!(
            line.contains(&app.owner_chain(&row.incident.connector)),
            "owner → backup cut at 200:\n{screen}"
        );
    }
}

fn col(header: &'static str, want: u16, min: u16, kind: Kind) -> Col {
    Col {
        header,
        want,
        min,
        kind,
    }
}

#[test]
fn the_layout_gives_way_in_order_flex_then_rank_then_keys() {
    let cols = [
        col("id", 30, 10, Kind::Key),
        col("title", 40, 12, Kind::Flex(2)),
        col("owner", 20, 10, Kind::Flex(1)),
        col("acked", 16, 16, Kind::Optional(0)),
    ];
    // Room for everything: each at its content (2 highlight + 3 spacing + 106).
    assert_eq!(
        columns::fit(&cols, 111),
        vec![Some(30), Some(40), Some(20), Some(16)]
    );
    // A little less: flex columns shrink, the narrowest reaching its content first.
    let narrow = columns::fit(&cols, 100);
    assert_eq!(narrow[0], Some(30));
    assert_eq!(narrow[3], Some(16));
    assert_eq!(narrow[1].unwrap() + narrow[2].unwrap(), 49);
    // Flex at their minimum does not fit: the lowest rank goes first.
    assert_eq!(
        columns::fit(&cols, 70),
        vec![Some(30), Some(18), Some(18), None]
    );
    // Then the next; a key column shrinks only when nothing else can give.
    assert_eq!(
        columns::fit(&cols, 45),
        vec![Some(30), Some(12), None, None]
    );
    assert_eq!(columns::fit(&cols, 30), vec![Some(28), None, None, None]);
}

#[test]
fn an_id_column_gives_way_before_any_column_is_dropped() {
    let cols = [
        col("id", 30, 16, Kind::Id(3)),
        col("connector", 28, 12, Kind::Key),
        col("sev", 4, 4, Kind::Optional(5)),
    ];
    // 2 + 2 spacing + 30 + 28 + 4 = 66: at 60 the id takes the 6 columns, the rest stays whole.
    assert_eq!(columns::fit(&cols, 60), vec![Some(24), Some(28), Some(4)]);
    // Below the id's minimum, columns are dropped before the connector is cut.
    assert_eq!(columns::fit(&cols, 47), vec![Some(16), Some(28), None]);
}

#[test]
fn an_id_cut_keeps_its_head_and_its_tail() {
    let id = "inc_01JDQ4ZK8M3V7X9T2B5N6R0042";
    assert_eq!(columns::fit_id(id, 40), id);
    let cut = columns::fit_id(id, 16);
    assert_eq!(cut.chars().count(), 16);
    assert!(cut.starts_with("inc_0") && cut.ends_with("6R0042"), "{cut}");
    assert!(cut.contains('…'));
}

/// #15 (5): five- and six-digit counts are never cut (16,666 open incidents read "16666!", not
/// "1666"), at 200×60 and still at 80×24.
#[test]
fn big_counts_in_the_connectors_view_are_shown_whole() {
    let mut app = loaded_app();
    app.view = View::Connectors;
    for row in &mut app.connectors.rows {
        row.counts.open_incidents = 16_666;
        row.counts.unacked_incidents = 3;
        row.counts.dead_letters = 1_234_567;
        row.connector.stats.ready = 98_765;
    }
    for (w, h) in [(200, 60), (80, 24)] {
        let screen = draw(&app, w, h).backend().to_string();
        for row in &app.connectors.rows {
            let line = row_line(&screen, &row.connector.id);
            assert!(line.contains("16666!"), "{w}×{h}:\n{screen}");
            assert!(line.contains("1234567"), "{w}×{h}:\n{screen}");
        }
    }
    insta::assert_snapshot!(
        "connectors_big_counts_200x60",
        draw(&app, 200, 60).backend()
    );
}

/// Wide characters (CJK, emoji) take two columns: widths and cuts count terminal columns, so a
/// CJK title is cut with `…` inside its column and the columns after it stay aligned.
#[test]
fn wide_characters_are_measured_in_columns_not_characters() {
    let mut rows = incident_rows();
    rows[0].incident.title = "顧客データの同期に失敗しました（リード）".into();
    rows[1].incident.title = "🚨 webhook 失敗 🚨".into();
    let mut app = loaded_app();
    load_incidents(&mut app, rows);
    app.view = View::Incidents;
    for (w, h) in [(80, 24), (120, 40), (200, 60)] {
        let terminal = draw(&app, w, h);
        let buf = terminal.backend().buffer();
        // The owner column (after the title) starts where its header does on every row: a
        // wide title never pushes it.
        if w >= 120 {
            let cell = |x: u16, y: u16| buf[(x, y)].symbol().to_string();
            let header_y = 3;
            let owner_x = (0..w)
                .find(|&x| (0..5).map(|i| cell(x + i, header_y)).collect::<String>() == "owner")
                .expect("the owner header");
            for y in 4..10 {
                let first = cell(owner_x, y);
                assert!(
                    ["M", "D", "S"].contains(&first.as_str()) && cell(owner_x - 1, y) == " ",
                    "{w}×{h} row {y}: {first:?} at the owner column\n{}",
                    terminal.backend()
                );
            }
        }
        assert_eq!(buf.area.width, w);
    }
    let narrow = draw(&app, 80, 24).backend().to_string();
    assert!(narrow.contains("顧客") && narrow.contains('…'), "{narrow}");
    let wide = draw(&app, 200, 60).backend().to_string();
    assert!(
        wide.contains("顧客データの同期に失敗しました（リード）"),
        "{wide}"
    );
    assert_eq!(
        triage::console::views::fit("顧客データ", 5),
        "顧客…",
        "two wide characters and the ellipsis fill 5 columns"
    );
}
