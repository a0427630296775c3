//! Notes on incidents: `n` in the console writes one (a prompt; Enter stores it with author and
//! time, Esc drops it, an empty one is refused), the detail lists them; `triage note ID TEXT`
//! adds one through the real binary, `triage incidents show ID [--json]` shows them, and each is
//! audited (`note.added`) with the chain intact.

use crate::console_fixtures;
use crate::support::demo_cli;

use console_fixtures::*;
use demo_cli::{Demo, json_lines};
use triage::console::msg::{Cmd, StoreCmd};
use triage::console::{App, Msg, View, update};
use triage::domain::note::IncidentNote;

fn type_text(app: &mut App, text: &str) {
    for c in text.chars() {
        let name = if c == ' ' {
            "space".to_string()
        } else {
            c.to_string()
        };
        key(app, &name);
    }
}

#[test]
fn n_writes_a_note_enter_stores_it_and_esc_drops_it() {
    let mut app = loaded_app();
    app.view = View::Incidents;
    let id = app.incidents.selected_row().unwrap().incident.id.clone();
    assert!(key(&mut app, "n").is_empty());
    type_text(&mut app, "CRM renamed lead_source");
    let text = draw(&app, 80, 24).backend().to_string();
    assert!(
        text.contains(&format!("note on {id}: CRM renamed lead_source")),
        "{text}"
    );
    let cmds = key(&mut app, "enter");
    assert_eq!(
        cmds,
        vec![Cmd::store(StoreCmd::AddNote {
            upstream: "demo".into(),
            id: id.clone(),
            operator: OPERATOR.into(),
            text: "CRM renamed lead_source".into(),
            at: now(),
        })]
    );
    assert!(app.note_input.is_none());

    key(&mut app, "n");
    type_text(&mut app, "   ");
    assert!(
        key(&mut app, "enter").is_empty(),
        "an empty note is not stored"
    );
    assert!(app.status.as_ref().unwrap().text.contains("empty"));
    key(&mut app, "esc");
    assert!(app.note_input.is_none());

    app.view = View::DeadLetters;
    assert!(key(&mut app, "n").is_empty());
    assert!(app.note_input.is_none(), "notes are on incidents");
}

#[test]
fn the_detail_lists_the_notes_and_reloads_when_one_is_added() {
    let mut app = loaded_app();
    app.view = View::Incidents;
    let detail = incident_detail().with_notes(vec![IncidentNote {
        at: now(),
        operator: "dev@bastion".into(),
        text: "vendor says fixed at 03:40".into(),
    }]);
    let (upstream, id) = (detail.incident.upstream.clone(), detail.incident.id.clone());
    app.incident_detail = Some(detail);
    let text = draw(&app, 160, 48).backend().to_string();
    assert!(text.contains("notes (1)"), "{text}");
    assert!(
        text.contains("dev@bastion vendor says fixed at 03:40"),
        "{text}"
    );
    let cmds = update(&mut app, Msg::NoteAdded { upstream, id });
    assert!(
        cmds.iter()
            .any(|c| matches!(c, Cmd::Store(StoreCmd::LoadIncidentDetail { .. }))),
        "{cmds:?}"
    );
}

#[test]
fn the_cli_adds_notes_and_incidents_show_lists_them() {
    let demo = Demo::start(&[]);
    demo.ok(&["sync", "--once"]);
    let incidents = json_lines(demo.ok(&["incidents", "--json", "--limit", "1"]).as_bytes());
    let id = incidents[0]["id"].as_str().expect("id").to_string();
    let added = demo.ok(&["note", &id, "CRM", "renamed", "lead_source"]);
    assert!(added.contains("note added"), "{added}");
    demo.ok(&["note", &id, "mapping fixed; replaying"]);

    let shown = demo.ok(&["incidents", "show", &id]);
    assert!(shown.contains("CRM renamed lead_source"), "{shown}");
    assert!(shown.contains("mapping fixed; replaying"), "{shown}");
    let first = shown.find("CRM renamed").unwrap();
    assert!(first < shown.find("mapping fixed").unwrap(), "oldest first");
    let json: serde_json::Value =
        serde_json::from_str(demo.ok(&["incidents", "show", &id, "--json"]).trim()).expect("json");
    assert_eq!(json["notes"].as_array().map(Vec::len), Some(2), "{json}");
    assert_eq!(json["notes"][0]["text"], "CRM renamed lead_source");
    assert!(
        json["notes"][0]["operator"]
            .as_str()
            .is_some_and(|o| !o.is_empty())
    );

    let audit = json_lines(demo.ok(&["audit", "--json", "--limit", "0"]).as_bytes());
    assert_eq!(
        audit.iter().filter(|r| r["event"] == "note.added").count(),
        2
    );
    demo.ok(&["audit", "--verify"]);

    let empty = demo.run(&["note", &id, "  "]);
    assert!(!empty.status.success());
    assert!(String::from_utf8_lossy(&empty.stderr).contains("empty"));
}
