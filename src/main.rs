//! The `studio-gate` command: reads the configuration and runs the server until SIGINT or
//! SIGTERM, letting requests in flight finish.

use std::process::ExitCode;
use std::sync::Arc;

use studio_gate::{app, Config, Gate, HELP};

fn main() -> ExitCode {
    match std::env::args().nth(1).as_deref() {
        None => {}
        Some("--help" | "-h") => {
            print!("{HELP}");
            return ExitCode::SUCCESS;
        }
        Some("--version" | "-V") => {
            println!("studio-gate {}", studio_gate::APP_VERSION);
            return ExitCode::SUCCESS;
        }
        Some(_) => {
            eprintln!("studio-gate: unknown argument; see studio-gate --help");
            return ExitCode::from(2);
        }
    }

    studio_gate::init_logging();

    let config = match Config::from_env() {
        Ok(config) => config,
        Err(error) => {
            log::error!("{error}");
            eprintln!("studio-gate: {error}");
            return ExitCode::from(2);
        }
    };
    let gate = match Gate::open(&config) {
        Ok(gate) => gate,
        Err(error) => {
            log::error!("{error}");
            eprintln!("studio-gate: {error}");
            return ExitCode::FAILURE;
        }
    };
    if !config.cookie_secure {
        log::warn!("COOKIE_SECURE=false: session cookies are sent over plain HTTP too");
    }

    let gate = Arc::new(gate);
    log::info!("listening on http://{}:{}", config.host, config.port);
    trillium_smol::config()
        .with_host(&config.host.to_string())
        .with_port(config.port)
        .with_nodelay()
        .run(app(gate.clone()));

    match gate.take_restart() {
        Some(executable) => restart(&executable),
        None => {
            log::info!("stopped");
            ExitCode::SUCCESS
        }
    }
}

/// Replaces this process with `executable`, keeping the arguments and environment, so the new
/// backend listens on the same address. Returns only if that fails.
fn restart(executable: &std::path::Path) -> ExitCode {
    use std::os::unix::process::CommandExt;

    log::info!("stopped; starting {}", executable.display());
    log::logger().flush();
    let error = std::process::Command::new(executable)
        .args(std::env::args_os().skip(1))
        .exec();
    log::error!("cannot start {}: {error}", executable.display());
    ExitCode::FAILURE
}
