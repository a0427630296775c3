//! Sorting lists by a column from the keyboard (#12 point 11): `>`/`<` pick the column, `I`
//! reverses, `:sort [-]COLUMN` says it in words; the title says the order; the store answers
//! with the whole list in that order (through the console's real store thread), and the cursor
//! stays on its connector when the in-memory Connectors list is re-sorted.

use crate::console_fixtures;

use console_fixtures::*;
use triage::console::msg::{Cmd, StoreCmd};
use triage::console::{App, View, update, worker};
use triage::domain::*;
use triage::store::{SortBy, SortColumn, Store, SyncBatch};

fn on(view: View) -> App {
    let mut app = loaded_app();
    app.view = view;
    app
}

fn title(app: &App) -> String {
    draw(app, 120, 40)
        .backend()
        .to_string()
        .lines()
        .nth(2)
        .unwrap_or_default()
        .to_string()
}

/// Runs the store commands `cmds` against `store` and feeds the answers back into `app`.
fn answer(app: &mut App, store: &mut Store, cmds: Vec<Cmd>) {
    for cmd in cmds {
        if let Cmd::Store(cmd) = cmd {
            let msg = worker::execute(store, cmd).unwrap();
            update(app, msg);
        }
    }
}

#[test]
fn greater_than_sorts_by_the_next_column_and_i_reverses() {
    let mut app = on(View::Incidents);
    let cmds = key(&mut app, ">");
    match &cmds[..] {
        [Cmd::Store(StoreCmd::LoadIncidents { request, .. })] => {
            assert_eq!(
                request.sort,
                SortBy {
                    column: SortColumn::Severity,
                    reverse: false
                }
            );
            assert!(request.anchor.is_none(), "a new order starts at the top");
        }
        other => panic!("{other:?}"),
    }
    assert!(
        title(&app).contains("sorted by severity ↑"),
        "{}",
        title(&app)
    );
    let cmds = key(&mut app, "I");
    assert!(matches!(
        &cmds[..],
        [Cmd::Store(StoreCmd::LoadIncidents { request, .. })] if request.sort.reverse
    ));
    assert!(
        title(&app).contains("sorted by severity ↓"),
        "{}",
        title(&app)
    );
    // `<` twice: back past the default to the last column, still reversed.
    key(&mut app, "<");
    assert!(title(&app).contains("reversed"), "{}", title(&app));
    key(&mut app, "<");
    assert_eq!(app.incidents.sort.column, SortColumn::Connector);
    assert!(app.incidents.sort.reverse);
}

#[test]
fn sort_command_names_the_column_and_unknown_ones_are_listed() {
    let mut app = on(View::DeadLetters);
    for c in ":sort -attempts".chars() {
        key(&mut app, &c.to_string());
    }
    let cmds = key(&mut app, "enter");
    assert!(
        matches!(
            &cmds[..],
            [Cmd::Store(StoreCmd::LoadDeadLetters { request, .. })]
                if request.sort == SortBy { column: SortColumn::Attempts, reverse: true }
        ),
        "{cmds:?}"
    );
    assert!(
        title(&app).contains("sorted by attempts ↑"),
        "{}",
        title(&app)
    );
    for c in ":sort colour".chars() {
        key(&mut app, &c.to_string());
    }
    assert!(key(&mut app, "enter").is_empty());
    let screen = draw(&app, 120, 40).backend().to_string();
    assert!(
        screen.contains("no column \"colour\" to sort by here")
            && screen.contains("attempts, size"),
        "{screen}"
    );
    // `:sort` alone: the default order again.
    for c in ":sort".chars() {
        key(&mut app, &c.to_string());
    }
    key(&mut app, "enter");
    assert_eq!(app.dead_letters.list.sort, SortBy::default());
    assert!(!title(&app).contains("sorted"), "{}", title(&app));
}

#[test]
fn the_store_answers_the_whole_list_in_the_new_order() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = Store::open(&dir.path().join("triage.db")).unwrap();
    let mut letters = Vec::new();
    for (n, attempts) in [3u32, 9, 1, 7].into_iter().enumerate() {
        let mut dl = dead_letter(&format!("dl-{n}"), b"{}");
        dl.attempts = attempts;
        dl.last_failed_at = now() - chrono::Duration::minutes(n as i64);
        letters.push(dl);
    }
    store
        .write_sync_batch(&SyncBatch {
            upstream: "demo".into(),
            at: now(),
            connectors: None,
            incidents: vec![],
            dead_letters: letters,
            cursors: vec![],
            state: ConnectionState::Live { last_ok: now() },
        })
        .unwrap();
    let mut app = app_with(false);
    app.view = View::DeadLetters;
    let (seq, request) = app.dead_letters.list.reload();
    let cmd = Cmd::Store(StoreCmd::LoadDeadLetters {
        seq,
        request,
        connector: None,
    });
    answer(&mut app, &mut store, vec![cmd]);
    let ids = |app: &App| -> Vec<String> {
        app.dead_letters
            .list
            .rows
            .iter()
            .map(|d| d.id.clone())
            .collect()
    };
    assert_eq!(
        ids(&app),
        ["dl-0", "dl-1", "dl-2", "dl-3"],
        "newest failure first"
    );
    // `>` twice: first failure, then connector; `:sort attempts` — most attempts first.
    for c in ":sort attempts".chars() {
        key(&mut app, &c.to_string());
    }
    let cmds = key(&mut app, "enter");
    answer(&mut app, &mut store, cmds);
    assert_eq!(ids(&app), ["dl-1", "dl-3", "dl-0", "dl-2"]);
    let cmds = key(&mut app, "I");
    answer(&mut app, &mut store, cmds);
    assert_eq!(ids(&app), ["dl-2", "dl-0", "dl-3", "dl-1"]);
    let screen = draw(&app, 80, 24).backend().to_string();
    let rows: Vec<&str> = screen.lines().filter(|l| l.contains("dl-")).collect();
    assert!(
        rows[0].contains("dl-2") && rows[3].contains("dl-1"),
        "{screen}"
    );
}

#[test]
fn connectors_sort_in_memory_and_the_cursor_stays_on_its_connector() {
    let mut app = on(View::Connectors);
    let names = |app: &App| -> Vec<String> {
        app.connectors
            .visible()
            .into_iter()
            .map(|i| app.connectors.rows[i].connector.id.clone())
            .collect()
    };
    let before = names(&app);
    key(&mut app, "j");
    let selected = app.connectors.selected().unwrap().connector.id.clone();
    // Status: failing first.
    key(&mut app, ">");
    assert_eq!(
        names(&app)[0],
        "hubspot-form-to-salesforce",
        "{:?}",
        names(&app)
    );
    assert_eq!(app.connectors.selected().unwrap().connector.id, selected);
    // Dead letters, most first: 212, 37, 0.
    key(&mut app, ">");
    assert_eq!(
        names(&app),
        [
            "hubspot-form-to-salesforce",
            "ads-conversions-to-analytics",
            "clearbit-enrichment"
        ]
    );
    assert!(title(&app).contains("sorted by dead ↓"), "{}", title(&app));
    key(&mut app, "I");
    assert_eq!(names(&app)[0], "clearbit-enrichment");
    // Back to the default (name) order.
    for c in ":sort".chars() {
        key(&mut app, &c.to_string());
    }
    key(&mut app, "enter");
    assert_eq!(names(&app), before);
}
