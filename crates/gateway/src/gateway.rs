//! `slipway gateway`: the cluster's front door (DESIGN.md §3.7).

use std::process::ExitCode;

/// `slipway gateway <command>`.
#[derive(Debug, Clone, clap::Subcommand)]
pub enum GatewayCommand {
    /// Run the gateway in the foreground.
    Run,
}

pub fn run(cmd: GatewayCommand) -> ExitCode {
    match cmd {
        GatewayCommand::Run => {
            eprintln!("slipway gateway: not built yet");
            ExitCode::FAILURE
        }
    }
}
