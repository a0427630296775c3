//! `update(&mut App, Msg) -> Vec<Cmd>`: the only place console state changes. No I/O here:
//! store work and side effects go out as `Cmd`s and come back as `Msg`s.

use chrono::Duration;

use super::app::{App, StatusLevel, StoreStatus, View};
use super::marks::{self, MarkList};
use super::msg::{Cmd, Msg, StoreCmd};
use super::{bulk, keys, runbook_view_state, runs, scroll};
use crate::domain::{OutboxState, Timestamp};
use crate::store::ChangeNotice;

/// How long failed actions stay marked on their rows.
const FAILED_MARK_WINDOW_MINUTES: i64 = 30;

pub fn update(app: &mut App, msg: Msg) -> Vec<Cmd> {
    let cmds = apply(app, msg);
    if app.dirty {
        scroll::refresh(app);
    }
    cmds
}

fn apply(app: &mut App, msg: Msg) -> Vec<Cmd> {
    match msg {
        Msg::Key { key, now } => {
            app.now = now;
            app.dirty = true;
            keys::on_key(app, &key)
        }
        Msg::Resize { width, height } => {
            app.size = (width, height);
            app.dirty = true;
            Vec::new()
        }
        Msg::Tick { now } => {
            app.now = now;
            app.dirty = app.needs_tick();
            // The header's numbers stay at most a minute old.
            if app.store == StoreStatus::Ready {
                return super::metrics::load_if_older(app, Duration::seconds(60));
            }
            Vec::new()
        }
        Msg::StoreReady => {
            app.store = StoreStatus::Ready;
            app.dirty = true;
            let mut cmds = vec![Cmd::store(StoreCmd::LoadHeader), open_actions_cmd(app)];
            cmds.extend(load_view(app));
            if app.view != View::Metrics {
                // The header's numbers for the selected connector.
                cmds.push(super::metrics::load(app));
            }
            cmds
        }
        Msg::Metrics { span, report } => {
            super::metrics::loaded(app, span, report);
            Vec::new()
        }
        Msg::StoreFailed(error) => {
            app.store = StoreStatus::Failed(error.clone());
            app.set_status(StatusLevel::Error, format!("store unavailable: {error}"));
            app.dirty = true;
            Vec::new()
        }
        Msg::Changed(notice) => on_change(app, Some(notice)),
        Msg::ExternalChange => on_change(app, None),
        Msg::Header {
            states,
            pending_actions,
        } => {
            app.dirty |= app.upstream_states != states || app.pending_actions != pending_actions;
            app.upstream_states = states;
            app.pending_actions = pending_actions;
            Vec::new()
        }
        Msg::Connectors(rows) => {
            app.connectors.rows = rows;
            app.connectors.loaded = true;
            let count = app.connectors.visible().len();
            app.connectors.cursor = app.connectors.cursor.min(count.saturating_sub(1));
            app.dirty = true;
            Vec::new()
        }
        Msg::Incidents {
            seq,
            request,
            rows,
            limit,
        } => {
            let emptied = request.anchor.is_some() && rows.is_empty();
            app.dirty |= app.incidents.page_loaded(seq, request, rows, limit);
            let next = if emptied && !app.incidents.loaded {
                // The rows around the cursor went away: start again from the top.
                Some(app.incidents.top())
            } else {
                app.incidents.take_deferred_reload()
            };
            next.map(|(seq, request)| {
                Cmd::store(StoreCmd::LoadIncidents {
                    seq,
                    request,
                    connector: None,
                })
            })
            .into_iter()
            .collect()
        }
        Msg::DeadLetters {
            seq,
            request,
            rows,
            limit,
        } => {
            let emptied = request.anchor.is_some() && rows.is_empty();
            app.dirty |= app.dead_letters.list.page_loaded(seq, request, rows, limit);
            let list = &mut app.dead_letters.list;
            let next = if emptied && !list.loaded {
                Some(list.top())
            } else {
                list.take_deferred_reload()
            };
            let connector = app.dead_letters.connector.clone();
            next.map(|(seq, request)| {
                Cmd::store(StoreCmd::LoadDeadLetters {
                    seq,
                    request,
                    connector,
                })
            })
            .into_iter()
            .collect()
        }
        Msg::DeadLetterDetail(detail) => {
            app.dead_letters.detail = Some(*detail);
            app.dirty = true;
            Vec::new()
        }
        Msg::DeadLetterHistory {
            upstream,
            id,
            history,
        } => {
            // Ignored when the operator closed the detail (or opened another) meanwhile.
            if let Some(shown) = &mut app.dead_letters.detail
                && shown.is_of(&upstream, &id)
            {
                app.dirty |= shown.history != history;
                shown.history = history;
            }
            Vec::new()
        }
        Msg::IncidentDetail(fresh) => {
            // Ignored when the operator closed the detail (or opened another) meanwhile.
            if let Some(shown) = &mut app.incident_detail
                && shown.is_of(&fresh.incident.upstream, &fresh.incident.id)
            {
                let scroll = std::mem::take(&mut shown.scroll);
                *shown = *fresh;
                shown.scroll = scroll;
                app.dirty = true;
            }
            Vec::new()
        }
        Msg::Runbook {
            connector,
            path,
            markdown,
        } => {
            app.runbook = runbook_view_state(&connector, path, markdown, app.theme.no_color);
            app.dirty = true;
            Vec::new()
        }
        Msg::Activity {
            runs,
            undriven,
            seq,
            request,
            outbox,
            audit,
            limit,
        } => {
            let emptied = request.anchor.is_some() && outbox.is_empty();
            app.activity.audit = audit;
            super::runs_list::loaded(app, runs);
            app.activity.undriven = undriven;
            app.dirty |= app.activity.list.page_loaded(seq, request, outbox, limit);
            let list = &mut app.activity.list;
            let next = if emptied && !list.loaded {
                Some(list.top())
            } else {
                list.take_deferred_reload()
            };
            next.map(|(seq, request)| Cmd::store(StoreCmd::LoadActivity { seq, request }))
                .into_iter()
                .collect()
        }
        Msg::OpenActions { open, tracked } => {
            on_open_actions(app, open, tracked);
            Vec::new()
        }
        Msg::RunStateSet { id, state, changed } => {
            super::runs_list::state_set(app, id, state, changed)
        }
        Msg::NoteAdded { upstream, id } => super::note::added(app, &upstream, &id),
        Msg::PagerLoaded(letter) => super::pager::loaded(app, letter),
        Msg::YankLoaded(letter) => super::yank::loaded(app, letter),
        Msg::EditLoaded(letter) => super::edit::on_loaded(app, letter),
        Msg::EditReviewed(review) => super::edit::on_reviewed(app, review),
        Msg::HeldEnqueued(entry) => {
            app.tracked_actions.push(entry.id.clone());
            app.pending_actions += 1;
            super::undo::held(app, &entry);
            app.open_actions.push(*entry);
            app.dirty = true;
            load_view(app)
        }
        Msg::Undone { what, withdrawn } => super::undo::done(app, what, withdrawn),
        Msg::ActionEnqueued(entry) => {
            let what = format!(
                "{} of {} queued",
                entry.action.kind.as_str(),
                crate::domain::sanitize::line(&entry.action.target)
            );
            app.set_status(StatusLevel::Info, what);
            app.tracked_actions.push(entry.id.clone());
            app.open_actions.push(*entry);
            app.pending_actions += 1;
            app.dirty = true;
            let mut cmds = vec![Cmd::WakeOutbox];
            cmds.extend(load_view(app));
            cmds
        }
        Msg::Escalated { entries, summary } => {
            let level = if entries.is_empty() {
                StatusLevel::Warning
            } else {
                StatusLevel::Info
            };
            app.set_status(level, crate::domain::sanitize::line(&summary));
            app.pending_actions += entries.len() as u64;
            for entry in entries {
                app.tracked_actions.push(entry.id.clone());
                app.open_actions.push(entry);
            }
            app.dirty = true;
            let mut cmds = vec![Cmd::WakeOutbox];
            cmds.extend(load_view(app));
            cmds
        }
        Msg::Selected { list, filter, ids } => {
            marks::selected(app, list, &filter, ids);
            Vec::new()
        }
        Msg::MarksGone { list, gone } => {
            marks::forget(app, list, &gone);
            Vec::new()
        }
        Msg::IncidentBulkReady {
            kind,
            targets,
            skipped,
            gone,
        } => {
            bulk::incidents_ready(app, kind, targets, skipped, gone);
            Vec::new()
        }
        Msg::BulkEnqueued {
            kind,
            entries,
            problems,
        } => bulk::enqueued(app, kind, entries, problems),
        Msg::RunPlanned { plan, gone } => {
            runs::planned(app, plan, gone);
            Vec::new()
        }
        Msg::RunCreated {
            id,
            kind,
            total,
            stages,
        } => runs::created(app, id, kind, total, stages),
        Msg::RunProgress(gauge) => runs::progress(app, *gauge),
        Msg::SearchProgress {
            list,
            seq,
            examined,
            total,
        } => {
            app.dirty |= match list {
                MarkList::Incidents => app.incidents.search_progressed(seq, examined, total),
                MarkList::DeadLetters => app
                    .dead_letters
                    .list
                    .search_progressed(seq, examined, total),
            };
            Vec::new()
        }
        Msg::StoreError { what, error } => {
            // A `*` that failed must not say "marking…" for ever (press `*` again); a page
            // that failed is not waited for.
            app.marks.selecting = None;
            app.incidents.request_failed();
            app.dead_letters.list.request_failed();
            app.activity.list.request_failed();
            app.set_status(StatusLevel::Error, format!("{what}: {error}"));
            app.dirty = true;
            Vec::new()
        }
    }
}

/// Reloads what a change touches, on the current view only (others reload when shown).
fn on_change(app: &mut App, notice: Option<ChangeNotice>) -> Vec<Cmd> {
    if app.store != StoreStatus::Ready {
        return Vec::new();
    }
    let mut cmds = vec![Cmd::store(StoreCmd::LoadHeader)];
    let touches = |n: ChangeNotice| notice.is_none_or(|x| x == n);
    if touches(ChangeNotice::Outbox) || touches(ChangeNotice::Audit) {
        cmds.push(open_actions_cmd(app));
    }
    let view_changed = match app.view {
        View::Connectors => {
            touches(ChangeNotice::Connectors)
                || touches(ChangeNotice::Incidents)
                || touches(ChangeNotice::DeadLetters)
        }
        View::Incidents => touches(ChangeNotice::Incidents),
        View::DeadLetters => {
            touches(ChangeNotice::DeadLetters) && app.dead_letters.detail.is_none()
        }
        View::Activity => touches(ChangeNotice::Outbox) || touches(ChangeNotice::Audit),
        View::Runbook => false,
        // Recomputed after changes, at most every 5 s (it reads the whole window).
        View::Metrics => {
            cmds.extend(super::metrics::load_if_older(app, Duration::seconds(5)));
            false
        }
    };
    if app.view != View::Metrics {
        cmds.extend(super::metrics::refresh_after_change(app));
    }
    let marked_lists = [
        (MarkList::Incidents, ChangeNotice::Incidents),
        (MarkList::DeadLetters, ChangeNotice::DeadLetters),
    ];
    for (list, change) in marked_lists {
        if touches(change) {
            cmds.extend(marks::check_cmd(app, list));
        }
    }
    if view_changed {
        cmds.extend(reload_after_change(app));
    } else if app.view == View::DeadLetters && touches(ChangeNotice::Outbox) {
        cmds.extend(dead_letter_history_cmd(app));
    }
    cmds
}

/// The current view's reload after a change. A list whose page is still on its way (a long
/// search) is not asked again now — that would drop the answer being computed and start over,
/// for ever while writes keep coming — but once, after it answers.
fn reload_after_change(app: &mut App) -> Vec<Cmd> {
    match app.view {
        View::Incidents if app.incident_detail.is_none() => app
            .incidents
            .reload_after_change()
            .map(|(seq, request)| {
                Cmd::store(StoreCmd::LoadIncidents {
                    seq,
                    request,
                    connector: None,
                })
            })
            .into_iter()
            .collect(),
        View::DeadLetters if app.dead_letters.detail.is_none() => {
            let connector = app.dead_letters.connector.clone();
            app.dead_letters
                .list
                .reload_after_change()
                .map(|(seq, request)| {
                    Cmd::store(StoreCmd::LoadDeadLetters {
                        seq,
                        request,
                        connector,
                    })
                })
                .into_iter()
                .collect()
        }
        View::Activity => app
            .activity
            .list
            .reload_after_change()
            .map(|(seq, request)| Cmd::store(StoreCmd::LoadActivity { seq, request }))
            .into_iter()
            .collect(),
        _ => load_view(app),
    }
}

/// Commands that (re)load the data of the current view.
pub fn load_view(app: &mut App) -> Vec<Cmd> {
    if app.store != StoreStatus::Ready {
        return Vec::new();
    }
    match app.view {
        View::Connectors => vec![Cmd::store(StoreCmd::LoadConnectors {
            since: app.now - Duration::hours(1),
        })],
        View::Incidents => {
            if let Some(detail) = &app.incident_detail {
                return vec![Cmd::store(StoreCmd::LoadIncidentDetail {
                    upstream: detail.incident.upstream.clone(),
                    id: detail.incident.id.clone(),
                })];
            }
            let (seq, request) = app.incidents.reload();
            vec![Cmd::store(StoreCmd::LoadIncidents {
                seq,
                request,
                connector: None,
            })]
        }
        View::DeadLetters => {
            let (seq, request) = app.dead_letters.list.reload();
            let mut cmds = vec![Cmd::store(StoreCmd::LoadDeadLetters {
                seq,
                request,
                connector: app.dead_letters.connector.clone(),
            })];
            cmds.extend(dead_letter_history_cmd(app));
            cmds
        }
        View::Activity => {
            let (seq, request) = app.activity.list.reload();
            vec![Cmd::store(StoreCmd::LoadActivity { seq, request })]
        }
        View::Runbook => Vec::new(),
        View::Metrics => vec![super::metrics::load(app)],
    }
}

/// Reloads the attempt history of the open dead-letter detail (none when no detail is open).
fn dead_letter_history_cmd(app: &App) -> Option<Cmd> {
    let letter = &app.dead_letters.detail.as_ref()?.letter;
    Some(Cmd::store(StoreCmd::LoadDeadLetterHistory {
        upstream: letter.upstream.clone(),
        id: letter.id.clone(),
    }))
}

pub fn open_actions_cmd(app: &App) -> Cmd {
    Cmd::store(StoreCmd::LoadOpenActions {
        failed_since: failed_since(app.now),
        tracked: app.tracked_actions.clone(),
    })
}

fn failed_since(now: Timestamp) -> Timestamp {
    now - Duration::minutes(FAILED_MARK_WINDOW_MINUTES)
}

/// Marks rows and reports actions this console sent once the upstream answered.
fn on_open_actions(
    app: &mut App,
    open: Vec<crate::domain::OutboxEntry>,
    tracked: Vec<crate::domain::OutboxEntry>,
) {
    for entry in &tracked {
        if entry.state == OutboxState::Pending {
            continue;
        }
        app.tracked_actions.retain(|id| id != &entry.id);
        let target = crate::domain::sanitize::line(&entry.action.target);
        let kind = entry.action.kind;
        match entry.state {
            OutboxState::Sent => {
                let summary = entry
                    .outcome
                    .as_ref()
                    .map(|o| crate::domain::sanitize::line(&o.summary))
                    .unwrap_or_default();
                let done = format!("{target} {} by {}", kind.past_tense(), app.operator);
                let text = if summary.is_empty() || summary.starts_with(kind.past_tense()) {
                    done
                } else {
                    format!("{done}: {summary}")
                };
                app.set_status(StatusLevel::Success, text);
            }
            _ => {
                let reason = entry
                    .outcome
                    .as_ref()
                    .map(|o| o.summary.clone())
                    .or_else(|| entry.last_error.clone())
                    .unwrap_or_default();
                app.set_status(
                    StatusLevel::Error,
                    format!(
                        "{} of {target} failed: {} (R on Activity retries)",
                        kind.as_str(),
                        crate::domain::sanitize::line(&reason)
                    ),
                );
            }
        }
    }
    app.open_actions = open;
    app.dirty = true;
}
