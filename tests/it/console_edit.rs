//! Edit before replay in the console, `update` level: `E` asks the store for the selected
//! letter, its payload goes to the editor as an indented draft (`Cmd::EditPayload`), the review
//! opens a dialog with the diff and the contract check, `y` queues the edited bytes with both
//! SHA-256s for the audit; a contract violation needs `f` first; binary payloads, other views and
//! read-only mode are refused with a reason. The dialog is drawn at 80×24 and 160×48.

use crate::console_fixtures;

use console_fixtures::*;
use triage::console::app::Dialog;
use triage::console::msg::{Cmd, StoreCmd};
use triage::console::{App, Msg, View, update};
use triage::domain::ActionKind;
use triage::domain::edit::{self, EditDraft, EditReview};

const COMPACT: &[u8] =
    br#"{"email":"ana@example.com","form_id":"f-1","lead_source":"Influencer","submitted_at":"2026-12-01T02:10:00Z"}"#;

fn on_dead_letters(read_only: bool) -> App {
    let mut app = if read_only {
        let mut app = app_with(true);
        load_dead_letters(&mut app, dead_letter_rows());
        app
    } else {
        loaded_app()
    };
    app.view = View::DeadLetters;
    app
}

/// The review of renaming `lead_source`, with the given contract verdict.
fn review(violation: Option<&str>) -> EditReview {
    let draft = EditDraft::of(COMPACT).expect("text");
    let saved = draft.text.replace("lead_source", "LeadSource__c");
    edit::review(
        "demo",
        "dl-0003",
        "hubspot-form-to-salesforce",
        COMPACT,
        &draft,
        saved.as_bytes(),
        |_| {
            (
                Some("hubspot-form-lead.json".into()),
                violation.map(String::from),
            )
        },
    )
    .expect("a real edit")
}

fn status(app: &App) -> String {
    app.status
        .as_ref()
        .map(|s| s.text.clone())
        .unwrap_or_default()
}

#[test]
fn e_asks_the_store_for_the_selected_letter() {
    let mut app = on_dead_letters(false);
    let selected = app.dead_letters.list.selected_row().expect("a row").clone();
    let cmds = key(&mut app, "E");
    assert_eq!(
        cmds,
        vec![Cmd::store(StoreCmd::LoadForEdit {
            upstream: selected.upstream.clone(),
            id: selected.id.clone(),
        })]
    );
}

#[test]
fn e_is_refused_off_the_dead_letters_and_when_read_only() {
    let mut app = loaded_app();
    app.view = View::Incidents;
    assert!(key(&mut app, "E").is_empty());
    assert!(status(&app).contains("press 3"), "{}", status(&app));

    let mut app = on_dead_letters(true);
    assert!(key(&mut app, "E").is_empty());
    assert!(status(&app).contains("read-only"), "{}", status(&app));
}

#[test]
fn the_loaded_letter_goes_to_the_editor_indented_and_binary_is_refused() {
    let mut app = on_dead_letters(false);
    let cmds = update(
        &mut app,
        Msg::EditLoaded(Some(Box::new(dead_letter("dl-0003", COMPACT)))),
    );
    let [Cmd::EditPayload { letter, draft }] = cmds.as_slice() else {
        panic!("expected the editor: {cmds:?}");
    };
    assert_eq!(letter.id, "dl-0003");
    assert!(draft.compact_json);
    assert!(
        draft
            .text
            .contains("\n  \"lead_source\": \"Influencer\",\n"),
        "{}",
        draft.text
    );

    let cmds = update(
        &mut app,
        Msg::EditLoaded(Some(Box::new(dead_letter("dl-bin", &[0x00, 0xff, 0x10])))),
    );
    assert!(cmds.is_empty());
    assert!(status(&app).contains("not UTF-8"), "{}", status(&app));

    assert!(update(&mut app, Msg::EditLoaded(None)).is_empty());
    assert!(status(&app).contains("no longer"), "{}", status(&app));
}

#[test]
fn y_queues_the_edited_bytes_with_both_hashes_for_the_audit() {
    let mut app = on_dead_letters(false);
    let review = review(None);
    let (original, sent) = (review.original_sha256.clone(), review.edited_sha256.clone());
    update(&mut app, Msg::EditReviewed(Ok(Box::new(review))));
    assert!(matches!(app.dialog, Some(Dialog::ConfirmEdited { .. })));
    let cmds = key(&mut app, "y");
    let [Cmd::Store(StoreCmd::EnqueueEdited { action, detail, .. })] = cmds.as_slice() else {
        panic!("expected an edited replay: {cmds:?}");
    };
    assert_eq!(action.kind, ActionKind::Replay);
    assert_eq!(action.target, "dl-0003");
    assert_eq!(action.operator, OPERATOR);
    assert_eq!(
        action.payload.as_deref(),
        Some(&br#"{"email":"ana@example.com","form_id":"f-1","LeadSource__c":"Influencer","submitted_at":"2026-12-01T02:10:00Z"}"#[..])
    );
    assert!(
        detail.contains(&original) && detail.contains(&sent),
        "{detail}"
    );
    assert!(app.dialog.is_none());
}

#[test]
fn a_contract_violation_needs_force_and_n_drops_the_edit() {
    let mut app = on_dead_letters(false);
    update(
        &mut app,
        Msg::EditReviewed(Ok(Box::new(review(Some(
            "/: \"email\" is a required property",
        ))))),
    );
    assert!(key(&mut app, "y").is_empty(), "not without force");
    assert!(
        status(&app).contains("f to send it anyway"),
        "{}",
        status(&app)
    );
    assert!(key(&mut app, "f").is_empty());
    let cmds = key(&mut app, "y");
    assert!(
        matches!(
            cmds.as_slice(),
            [Cmd::Store(StoreCmd::EnqueueEdited { .. })]
        ),
        "{cmds:?}"
    );

    update(&mut app, Msg::EditReviewed(Ok(Box::new(review(None)))));
    assert!(key(&mut app, "n").is_empty());
    assert!(app.dialog.is_none());
    assert!(
        status(&app).contains("nothing replayed"),
        "{}",
        status(&app)
    );

    update(
        &mut app,
        Msg::EditReviewed(Err(
            "dl-0003: the payload was not changed: nothing to replay".into(),
        )),
    );
    assert!(app.dialog.is_none());
    assert!(status(&app).contains("not changed"), "{}", status(&app));
}

#[test]
fn edited_replay_dialog_snapshots() {
    let mut app = on_dead_letters(false);
    update(
        &mut app,
        Msg::EditReviewed(Ok(Box::new(review(Some(
            "/: \"email\" is a required property",
        ))))),
    );
    for (w, h) in [(80, 24), (160, 48)] {
        let terminal = draw(&app, w, h);
        let text = terminal.backend().to_string();
        assert!(text.contains("LeadSource__c"), "{text}");
        insta::assert_snapshot!(format!("edited_replay_dialog_{w}x{h}"), terminal.backend());
    }
}
