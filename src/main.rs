//! The `tollgate` command: run a gateway, compile a configuration into a
//! deployment snapshot, or validate either.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Instant;

use clap::{Parser, Subcommand};
use tollgate::config::Gateway;
use tollgate::server::{self, Driver};
use tollgate::snapshot::{self, Loaded, Source};

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
    /// Serve the APIs of a configuration or a snapshot directory until SIGTERM or SIGINT.
    Run {
        /// A configuration file (YAML or JSON), or a snapshot directory
        /// (serves the snapshot its `current` file names).
        path: PathBuf,
        /// Worker threads (default: the CPUs this process may use).
        #[arg(long)]
        workers: Option<usize>,
        /// I/O driver.
        #[arg(long, value_enum, default_value_t = Driver::Auto)]
        driver: Driver,
        /// Admin listener (health, readiness, status, reload).
        #[arg(long, value_name = "ADDR", default_value = "127.0.0.1:9901")]
        admin: std::net::SocketAddr,
        /// Run without the admin listener.
        #[arg(long, conflicts_with = "admin")]
        no_admin: bool,
        /// Reload when the configuration file (or a snapshot directory's
        /// `current`) changes. SIGHUP and `POST /admin/reload` always reload.
        #[arg(long)]
        watch: bool,
    },
    /// Validate a configuration and write it as a deployment snapshot
    /// `DIR/<id>.snap`, then point `DIR/current` at it.
    Compile {
        /// The configuration file (YAML or JSON).
        config: PathBuf,
        /// The snapshot directory (created if missing).
        #[arg(short = 'o', long = "out", value_name = "DIR")]
        out: PathBuf,
    },
    /// Check a configuration (every error with its line) or a snapshot directory.
    Validate {
        /// A configuration file, or a snapshot directory.
        path: PathBuf,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::Validate { path } => match load(&Source::from_arg(&path)) {
            Ok(loaded) => {
                let gw = &loaded.gateway;
                println!(
                    "{}: ok ({} listeners, {} apis, {} routes; id {})",
                    loaded.origin,
                    gw.listeners.len(),
                    gw.apis.len(),
                    route_count(gw),
                    loaded.id
                );
                ExitCode::SUCCESS
            }
            Err(code) => code,
        },
        Command::Compile { config, out } => compile(&config, &out),
        Command::Run {
            path,
            workers,
            driver,
            admin,
            no_admin,
            watch,
        } => {
            let source = Source::from_arg(&path);
            let opts = server::Options {
                workers,
                driver,
                admin: (!no_admin).then_some(admin),
                // The bearer token for mutating admin endpoints; from the
                // environment so it stays out of files and process lists.
                admin_token: std::env::var("TOLLGATE_ADMIN_TOKEN")
                    .ok()
                    .filter(|t| !t.is_empty()),
                watch,
            };
            serve(source, &opts)
        }
    }
}

/// Load `source` and run the gateway until it is stopped.
fn serve(source: Source, opts: &server::Options) -> ExitCode {
    let loaded = match load(&source) {
        Ok(loaded) => loaded,
        Err(code) => return code,
    };
    match server::run(source, loaded, opts) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("tollgate: {e}");
            ExitCode::FAILURE
        }
    }
}

/// `tollgate compile CONFIG -o DIR`.
fn compile(config: &Path, out: &Path) -> ExitCode {
    let started = Instant::now();
    let gw = match tollgate::config::load(config) {
        Ok(gw) => gw,
        Err(errors) => {
            let errors: Vec<String> = errors.iter().map(ToString::to_string).collect();
            return report(&errors);
        }
    };
    let bytes = snapshot::encode(&gw);
    match snapshot::write_dir(out, &bytes) {
        Ok(id) => {
            println!(
                "compiled {id} ({} bytes) in {} ms",
                bytes.len(),
                started.elapsed().as_millis()
            );
            println!("{}", out.join(format!("{id}.snap")).display());
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!(
                "tollgate: cannot write the snapshot to {}: {e}",
                out.display()
            );
            ExitCode::FAILURE
        }
    }
}

/// Load `source`; on errors report them.
fn load(source: &Source) -> Result<Loaded, ExitCode> {
    source.load().map_err(|errors| report(&errors))
}

/// Print each error, then their count; exit status 2.
fn report(errors: &[String]) -> ExitCode {
    for e in errors {
        eprintln!("{e}");
    }
    eprintln!(
        "{} error{}",
        errors.len(),
        if errors.len() == 1 { "" } else { "s" }
    );
    ExitCode::from(2)
}

fn route_count(gw: &Gateway) -> usize {
    gw.route_count()
}
