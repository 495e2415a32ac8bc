//! `helm-oci`: the native host of the helm-oci component.
//!
//! It parses the command line the way Helm would, works out exactly which directories and
//! registry hosts the command needs, runs the component with only those, and prints the
//! result the Helm way. All chart and registry logic lives in the component.

mod cli;
mod commands;
mod component;
mod credentials;
mod learnt;
mod output;
mod paths;
mod registries;
mod repositories;
mod sandbox;
mod transport;

use std::process::ExitCode;

fn main() -> ExitCode {
    let cli = match cli::parse::<cli::Cli>(cli::arrange(std::env::args_os())) {
        Ok(cli) => cli,
        Err(e) => return cli::refused(&e),
    };
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build();
    let result = runtime.map_err(anyhow::Error::from).and_then(|rt| rt.block_on(commands::run(cli)));
    match result {
        // The work is done, but its results did not reach the user.
        Ok(()) => match output::stream::lost() {
            Some(why) => {
                output::stream::errln!("Error: cannot write the output: {why}");
                ExitCode::FAILURE
            }
            None => ExitCode::SUCCESS,
        },
        Err(e) => {
            // Helm ran and has said why it failed: its exit code is ours, with nothing added.
            if let Some(commands::helm::HelmExit(code)) = e.downcast_ref() {
                return ExitCode::from(*code);
            }
            output::error(&e);
            // A run stopped by a signal ends as a shell reports one: 128 + its number.
            match e.downcast_ref::<sandbox::Interrupted>() {
                Some(sandbox::Interrupted(signal)) => ExitCode::from(128 + *signal as u8),
                None => ExitCode::FAILURE,
            }
        }
    }
}
