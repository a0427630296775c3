//! `triage replay ID --edit`: the stored payload opens in `$VISUAL` / `$EDITOR`; the diff and
//! the connector's contract check are printed; after a yes (asked on the terminal, or `--yes`)
//! the edited bytes are queued as the replay's payload with a `replay.edited` audit row holding
//! both SHA-256s. An unchanged payload, an editor that fails, a contract violation without
//! `--force`, or a no sends nothing (exit 1).

use std::io::IsTerminal;

use color_eyre::eyre::{Result, eyre};

use super::Context;
use crate::domain::edit::{DiffLine, EditDraft, EditReview};
use crate::domain::sanitize;
use crate::editor::{self, EditFile};
use crate::store::Store;

/// An edit the operator confirmed: the bytes to send and the audit detail.
pub struct ConfirmedEdit {
    pub payload: Vec<u8>,
    pub audit_detail: String,
}

/// Runs the editor on the letter's payload and asks; `Ok(None)` when nothing is to be sent
/// (the reason was printed).
pub async fn edit(
    ctx: &Context,
    store: &Store,
    upstream: &str,
    id: &str,
    yes: bool,
    force: bool,
) -> Result<Option<ConfirmedEdit>> {
    let letter = store
        .dead_letter(upstream, id)?
        .ok_or_else(|| eyre!("dead letter {upstream}:{id} is not in the store"))?;
    let draft = match EditDraft::of(&letter.payload) {
        Ok(draft) => draft,
        Err(refusal) => {
            eprintln!("triage: {}: {refusal}", sanitize::line(id));
            return Ok(None);
        }
    };
    let file = EditFile::create(id, &draft.text, letter.content_type.as_deref())
        .map_err(|e| eyre!("cannot write the payload for editing: {e}"))?;
    let saved = match editor::run(&file).await {
        Ok(bytes) => bytes,
        Err(e) => {
            eprintln!("triage: {}", sanitize::line(&e));
            return Ok(None);
        }
    };
    let review = match editor::review(
        &ctx.config,
        (upstream, id, &letter.connector),
        &letter.payload,
        &draft,
        &saved,
    ) {
        Ok(review) => review,
        Err(refusal) => {
            eprintln!("triage: {}: {refusal}", sanitize::line(id));
            return Ok(None);
        }
    };
    print_review(&review);
    if review.violation.is_some() && !force {
        eprintln!(
            "triage: the edited payload violates its contract: nothing sent (add --force to send it anyway)"
        );
        return Ok(None);
    }
    if !yes {
        if !std::io::stdin().is_terminal() {
            eprintln!("triage: not a terminal to ask on: add --yes to send the edited payload");
            return Ok(None);
        }
        eprint!(
            "Replay the edited payload of {}? [y/N] ",
            sanitize::line(id)
        );
        let mut answer = String::new();
        std::io::stdin().read_line(&mut answer)?;
        if !matches!(answer.trim(), "y" | "Y" | "yes") {
            eprintln!("nothing sent");
            return Ok(None);
        }
    }
    let audit_detail = review.audit_detail();
    Ok(Some(ConfirmedEdit {
        payload: review.edited,
        audit_detail,
    }))
}

/// The diff and the verdicts on stderr (stdout stays for the outcome and `--json`).
fn print_review(review: &EditReview) {
    eprintln!(
        "edited {} ({}): {}",
        sanitize::line(&review.id),
        sanitize::line(&review.connector),
        review.summary()
    );
    for line in &review.diff {
        let text = sanitize::line(&line.render());
        match line {
            DiffLine::Skipped(_) => eprintln!("  {text}"),
            _ => eprintln!("{text}"),
        }
    }
    eprintln!("contract: {}", sanitize::line(&review.contract_line()));
    eprintln!("original sha256:{}", review.original_sha256);
    eprintln!("edited   sha256:{}", review.edited_sha256);
}
