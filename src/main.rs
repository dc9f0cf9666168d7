use std::process::ExitCode;

use clap::Parser;
use switchyard::config::{Cli, Command, LogFormat};

/// mimalloc instead of the system allocator: a request allocates many small
/// short-lived buffers (headers, JSON values, SQL parameters), and glibc's
/// malloc and free were a sixth of the server's CPU under load.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn init_tracing(cfg: &switchyard::Config) {
    let filter =
        tracing_subscriber::EnvFilter::try_new(&cfg.log).unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    // Colours only for a terminal (and not under a non-empty `NO_COLOR`):
    // escape codes are noise in a file or a journal, and colouring each
    // request span's fields cost 3% of the work of accepting a record
    // (callgrind, `bench ingest`'s path).
    let no_color = std::env::var_os("NO_COLOR").is_some_and(|v| !v.is_empty());
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stderr()) && !no_color;
    let builder = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr).with_ansi(ansi);
    match cfg.log_format {
        LogFormat::Json => builder.json().init(),
        LogFormat::Text => builder.init(),
    }
}

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    if let Err(msg) = cli.config.validate() {
        eprintln!("error: {msg}");
        return ExitCode::from(2);
    }
    init_tracing(&cli.config);
    let result = match cli.command.unwrap_or(Command::Serve) {
        Command::Serve => switchyard::cli::serve(cli.config).await,
        Command::Migrate => switchyard::cli::migrate(cli.config).await,
        Command::Schema => {
            print!("{}", switchyard::graphql::sdl());
            Ok(())
        }
        Command::Admin(cmd) => switchyard::cli::admin(cli.config, cmd).await,
        Command::Bench(cmd) => switchyard::bench::run(cli.config, cmd).await,
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            for d in e.details() {
                eprintln!("  {}: {}", d.field, d.error);
            }
            ExitCode::FAILURE
        }
    }
}
