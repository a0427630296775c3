//! `triage completions SHELL` and `triage man [--dir DIR]`: generated from the clap definitions
//! in `cli.rs` (clap_complete, clap_mangen), so they list exactly the commands and flags the
//! binary takes.

use std::io::Write;
use std::path::Path;
use std::process::ExitCode;

use clap::CommandFactory;
use color_eyre::eyre::{Result, WrapErr};

use crate::cli::Cli;

pub fn completions(shell: clap_complete::Shell) -> Result<ExitCode> {
    let mut command = Cli::command();
    let mut out = std::io::stdout().lock();
    clap_complete::generate(shell, &mut command, "triage", &mut out);
    out.flush()?;
    Ok(ExitCode::SUCCESS)
}

pub fn man(dir: Option<&Path>) -> Result<ExitCode> {
    let command = Cli::command();
    match dir {
        None => {
            let mut out = std::io::stdout().lock();
            clap_mangen::Man::new(command).render(&mut out)?;
            out.flush()?;
        }
        Some(dir) => {
            std::fs::create_dir_all(dir)
                .wrap_err_with(|| format!("cannot create {}", dir.display()))?;
            clap_mangen::generate_to(command, dir)
                .wrap_err_with(|| format!("cannot write the man pages into {}", dir.display()))?;
            eprintln!("man pages written to {}", dir.display());
        }
    }
    Ok(ExitCode::SUCCESS)
}
