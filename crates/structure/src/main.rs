//! `check-structure`: checks the structure ARCHITECTURE.md promises, which
//! the compiler does not — a developer tool, not part of the `slipway`
//! binary.
//!
//! 1. Crates depend one way: each only on crates of lower layers; the
//!    test-only and tool crates stand apart (`rules::LAYERS`).
//! 2. No module cycle inside a crate: no module depends on a module that
//!    depends on it back, directly or through others. A module depends on
//!    every module whose items it names — through `use` trees (grouped,
//!    nested, globs, renames), paths in code, macros and attributes —
//!    counted at the module that *defines* them, through every re-export
//!    (and type alias).
//!    A module's own submodules are part of it, not dependencies. Unit tests
//!    (`#[cfg(test)]`) are left out.
//! 3. No forbidden import (`rules::FORBIDDEN`): the service and the worker
//!    import no transport, the transports no store, the service not the
//!    worker — neither as a Cargo dependency nor in a path.
//!
//! Usage: `check-structure [--manifest-path <Cargo.toml>] [--list-dependencies]
//! [--list-unseen]`. Exits 0 when
//! every rule holds, 1 naming each problem (file:line), 2 when the workspace
//! cannot be read.

mod check;
mod resolve;
mod rules;
mod tree;
mod workspace;

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Result, bail};

fn main() -> ExitCode {
    match run() {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::from(1),
        Err(error) => {
            eprintln!("check-structure: {error:#}");
            ExitCode::from(2)
        }
    }
}

/// Checks; whether every rule holds.
fn run() -> Result<bool> {
    let mut manifest: Option<PathBuf> = None;
    let mut list_unseen = false;
    let mut list_dependencies = false;
    let mut args = std::env::args_os().skip(1);
    while let Some(arg) = args.next() {
        match arg.to_str() {
            Some("--manifest-path") => match args.next() {
                Some(path) => manifest = Some(path.into()),
                None => bail!("--manifest-path needs a path"),
            },
            Some("--list-unseen") => list_unseen = true,
            Some("--list-dependencies") => list_dependencies = true,
            Some("-h" | "--help") => {
                println!(
                    "check-structure [--manifest-path <Cargo.toml>] [--list-dependencies] [--list-unseen]\n\
                     Checks crate layers, module cycles and forbidden imports.\n  \
                     --list-dependencies  first lists every dependency between two modules of a crate, with its places\n  \
                     --list-unseen        first lists the paths naming nothing the reading saw (items made by macros)"
                );
                return Ok(true);
            }
            _ => bail!("unknown argument {arg:?} (try --help)"),
        }
    }
    let workspace = workspace::load(manifest.as_deref())?;
    let graph = resolve::Graph::load(&workspace)?;
    if list_dependencies {
        print!("{}", check::list_dependencies(&graph, &workspace.root));
    }
    if list_unseen {
        for line in check::unseen(&graph, &workspace.root) {
            println!("{line}");
        }
    }
    let report = check::check(&workspace, &graph);
    print!("{}", report.render());
    Ok(report.clean())
}
