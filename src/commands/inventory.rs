//! `triage inventory export [--csv|--json] [--days N] [-o FILE]`: the connector inventory with
//! incident metrics from the store (incidents in the window, reopens, MTTA, MTTR).

use std::path::Path;
use std::process::ExitCode;

use chrono::{TimeDelta, Utc};
use color_eyre::eyre::{Result, WrapErr};

use super::Context;
use crate::domain::metrics::inventory_csv;

pub fn export(ctx: &Context, as_json: bool, days: u32, output: Option<&Path>) -> Result<ExitCode> {
    let store = ctx.open_store()?;
    let since = Utc::now() - TimeDelta::days(i64::from(days));
    let metrics = store.connector_metrics(since)?;
    let inventory = ctx.config.inventory();
    let text = if as_json {
        let mut out = String::new();
        for c in &inventory {
            let m = metrics
                .iter()
                .find(|m| m.connector == c.id && m.upstream == c.upstream);
            let value = serde_json::json!({ "connector": c, "window_days": days, "metrics": m });
            out.push_str(&serde_json::to_string(&value)?);
            out.push('\n');
        }
        out
    } else {
        inventory_csv(&inventory, &metrics)
    };
    match output {
        Some(path) => std::fs::write(path, text)
            .wrap_err_with(|| format!("cannot write the inventory to {}", path.display()))?,
        None => print!("{text}"),
    }
    Ok(ExitCode::SUCCESS)
}
