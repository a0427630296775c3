//! Keys that open things: Enter (a connector's dead letters, a dead letter's detail, an
//! incident's detail) and `o`/`4` (the runbook of the selected row: its route's, else its
//! connector's; the view left goes on the back stack).

use std::path::PathBuf;

use super::app::{App, Crumb, IncidentDetail, RunbookState, View};
use super::msg::{Cmd, StoreCmd};
use crate::domain::sanitize;

/// Enter: a connector's dead letters, a dead letter's detail, an incident's detail.
pub fn open(app: &mut App) -> Vec<Cmd> {
    match app.view {
        View::Connectors => {
            let Some(row) = app.connectors.selected() else {
                return Vec::new();
            };
            app.dead_letters.connector = Some(row.connector.id.clone());
            app.dead_letters.detail = None;
            app.view = View::DeadLetters;
            let (seq, request) = app.dead_letters.list.top();
            vec![Cmd::store(StoreCmd::LoadDeadLetters {
                seq,
                request,
                connector: app.dead_letters.connector.clone(),
            })]
        }
        View::Incidents if app.incident_detail.is_none() => {
            let Some(row) = app.incidents.selected_row() else {
                return Vec::new();
            };
            // Shown at once from the row; the store's fresh copy replaces it.
            let mut detail = IncidentDetail::new(row.incident.clone(), row.route.clone())
                .with_taken(row.taken.clone());
            detail.loading = true;
            let cmd = StoreCmd::LoadIncidentDetail {
                upstream: row.incident.upstream.clone(),
                id: row.incident.id.clone(),
            };
            app.incident_detail = Some(detail);
            vec![Cmd::store(cmd)]
        }
        View::DeadLetters if app.dead_letters.detail.is_none() => {
            let Some(row) = app.dead_letters.list.selected_row() else {
                return Vec::new();
            };
            let contract = app
                .config
                .connector(&row.connector)
                .and_then(|c| c.contract.clone());
            vec![Cmd::store(StoreCmd::LoadDeadLetterDetail {
                upstream: row.upstream.clone(),
                id: row.id.clone(),
                contract,
            })]
        }
        View::Activity if !app.activity.runs_focus => {
            app.activity.open = app.activity.selected().cloned();
            app.dirty = true;
            Vec::new()
        }
        _ => Vec::new(),
    }
}

/// The connector of the selected row on the current view.
fn selected_connector(app: &App) -> Option<String> {
    match app.view {
        View::Connectors => app.connectors.selected().map(|r| r.connector.id.clone()),
        View::Incidents => match &app.incident_detail {
            Some(detail) => Some(detail.incident.connector.clone()),
            None => app
                .incidents
                .selected_row()
                .map(|r| r.incident.connector.clone()),
        },
        View::DeadLetters => match &app.dead_letters.detail {
            Some(detail) => Some(detail.letter.connector.clone()),
            None => app
                .dead_letters
                .list
                .selected_row()
                .map(|r| r.connector.clone()),
        },
        View::Runbook => app.runbook.connector.clone(),
        View::Metrics => super::metrics::rows(app)
            .get(app.metrics.cursor)
            .and_then(|r| r.connector.clone()),
        View::Activity => None,
    }
}

/// The incident on screen on the Incidents view: the open detail's, else the selected row's.
fn selected_incident(app: &App) -> Option<&crate::domain::Incident> {
    match &app.incident_detail {
        Some(detail) => Some(&detail.incident),
        None => app.incidents.selected_row().map(|r| &r.incident),
    }
}

/// The runbook the selected incident's route names (a rule can name its own).
fn selected_route_runbook(app: &App) -> Option<PathBuf> {
    if app.view != View::Incidents {
        return None;
    }
    let route = match &app.incident_detail {
        Some(detail) => detail.route.as_ref(),
        None => app.incidents.selected_row().and_then(|r| r.route.as_ref()),
    };
    route.and_then(|r| r.runbook.as_ref()).map(PathBuf::from)
}

/// `o` (and `4`): the runbook of the selected row's route or connector; the view it was
/// pressed on goes on the back stack (Esc returns there). From Activity, which selects no
/// connector, the runbook already loaded stays.
pub fn open_runbook(app: &mut App) -> Vec<Cmd> {
    if app.view != View::Runbook {
        app.back.push(crumb(app));
    }
    let keep = app.view == View::Activity && app.runbook.connector.is_some();
    let cmds = if keep {
        Vec::new()
    } else {
        open_runbook_for_selection(app)
    };
    app.view = View::Runbook;
    cmds
}

/// The current view and its selected item, as a breadcrumb.
fn crumb(app: &App) -> Crumb {
    let item = match app.view {
        View::Connectors => app.connectors.selected().map(|r| r.connector.id.clone()),
        View::Incidents => selected_incident(app).map(|i| i.id.clone()),
        View::DeadLetters => match &app.dead_letters.detail {
            Some(detail) => Some(detail.letter.id.clone()),
            None => app.dead_letters.list.selected_row().map(|r| r.id.clone()),
        },
        View::Runbook | View::Activity | View::Metrics => None,
    };
    Crumb {
        view: app.view,
        item,
    }
}

/// Loads the runbook for the selected row (or the first connector when nothing is selected).
pub fn open_runbook_for_selection(app: &mut App) -> Vec<Cmd> {
    let connector = selected_connector(app)
        .or_else(|| app.connectors.rows.first().map(|r| r.connector.id.clone()));
    let Some(connector) = connector else {
        app.runbook = RunbookState {
            problem: Some("select a connector, incident or dead letter first, then press o".into()),
            ..RunbookState::default()
        };
        return Vec::new();
    };
    let path = selected_route_runbook(app).or_else(|| {
        app.config
            .connector(&connector)
            .and_then(|c| c.runbook.clone())
    });
    if path.is_none() {
        let link = selected_incident(app).and_then(|incident| {
            incident
                .links
                .iter()
                .find(|l| l.title.to_lowercase().contains("runbook"))
                .cloned()
        });
        let mut problem = format!(
            "no runbook configured for {} (set `runbook` on the connector in triage.toml)",
            sanitize::line(&connector)
        );
        if let Some(link) = link.filter(|_| app.view == View::Incidents) {
            problem.push_str(&format!(
                "\nthe incident links one: {} <{}>",
                sanitize::line(&link.title),
                sanitize::line(&link.url)
            ));
        }
        app.runbook = RunbookState {
            connector: Some(connector),
            problem: Some(problem),
            ..RunbookState::default()
        };
        return Vec::new();
    }
    app.runbook = RunbookState {
        connector: Some(connector.clone()),
        path: path.clone(),
        ..RunbookState::default()
    };
    vec![Cmd::store(StoreCmd::LoadRunbook { connector, path })]
}
