//! The `tollgate` command: run a gateway, or validate a configuration.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use tollgate::server::{self, Driver};

#[derive(Parser)]
#[command(
    name = "tollgate",
    version,
    about = "A self-hosted edge API gateway for API Gateway definitions"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Serve the APIs of a configuration until SIGTERM or SIGINT.
    Run {
        /// The configuration file (YAML or JSON).
        config: PathBuf,
        /// Worker threads (default: the CPUs this process may use).
        #[arg(long)]
        workers: Option<usize>,
        /// I/O driver.
        #[arg(long, value_enum, default_value_t = Driver::Auto)]
        driver: Driver,
    },
    /// Check a configuration and report every error with its line.
    Validate { config: PathBuf },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::Validate { config } => match tollgate::config::load(&config) {
            Ok(gw) => {
                let routes: usize = gw.apis.iter().map(|a| a.routes.len()).sum();
                println!(
                    "{}: ok ({} listeners, {} apis, {} routes)",
                    config.display(),
                    gw.listeners.len(),
                    gw.apis.len(),
                    routes
                );
                ExitCode::SUCCESS
            }
            Err(errors) => {
                report(&errors);
                ExitCode::from(2)
            }
        },
        Command::Run {
            config,
            workers,
            driver,
        } => {
            let gw = match tollgate::config::load(&config) {
                Ok(gw) => gw,
                Err(errors) => {
                    report(&errors);
                    return ExitCode::from(2);
                }
            };
            let opts = server::Options { workers, driver };
            match server::run(gw, &opts) {
                Ok(()) => ExitCode::SUCCESS,
                Err(e) => {
                    eprintln!("tollgate: {e}");
                    ExitCode::FAILURE
                }
            }
        }
    }
}

fn report(errors: &[tollgate::config::ConfigError]) {
    for e in errors {
        eprintln!("{e}");
    }
    eprintln!(
        "{} error{}",
        errors.len(),
        if errors.len() == 1 { "" } else { "s" }
    );
}
