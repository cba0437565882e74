//! The `studio-gate` command: reads the configuration and runs the server until SIGINT or
//! SIGTERM, letting requests in flight finish.

use std::net::SocketAddr;
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use swansong::Swansong;

use studio_gate::{http_config, served_app, Config, Gate, HELP};

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
    if config
        .api_key
        .as_deref()
        .is_some_and(|key| key.chars().count() < SHORT_KEY_CHARS)
    {
        log::warn!(
            "API_KEY is shorter than {SHORT_KEY_CHARS} characters; a short key is easy to guess"
        );
    }
    if !config.cookie_secure {
        log::warn!("COOKIE_SECURE=false: session cookies are sent over plain HTTP too");
    }

    // Binding here, not inside trillium, turns a busy port into a clear error and lets the
    // log name the port actually bound when PORT=0.
    let listener = match bind(&config) {
        Ok(listener) => listener,
        Err(error) => {
            log::error!("{error}");
            eprintln!("studio-gate: {error}");
            return ExitCode::FAILURE;
        }
    };

    let gate = Arc::new(gate);
    let swansong = Swansong::new();
    spawn_shutdown_deadline(swansong.clone(), gate.clone());
    // NOTE: trillium 1.4 has no read timeouts, so an idle or half-sent connection stays open
    // until its client closes it. The stop deadline above bounds only shutdown.
    trillium_smol::config()
        .with_prebound_server(listener)
        .with_swansong(swansong)
        .with_nodelay()
        .with_http_config(http_config())
        .run(served_app(gate.clone()));

    finish(&gate)
}

/// Keys shorter than this get a warning at start. Generated keys are much longer.
const SHORT_KEY_CHARS: usize = 16;

/// How long a graceful stop waits for requests in flight before the process ends anyway. It
/// bounds what a client that never finishes its request can hold up: SIGTERM, or the restart
/// after a backend update.
const SHUTDOWN_DEADLINE: Duration = Duration::from_secs(10);

/// Binds the configured address and logs it, with the port the system chose for `PORT=0`.
fn bind(config: &Config) -> Result<smol::net::TcpListener, String> {
    let address = SocketAddr::new(config.host, config.port);
    let listener = std::net::TcpListener::bind(address)
        .map_err(|error| format!("cannot listen on {address} (HOST, PORT): {error}"))?;
    let bound = listener.local_addr().unwrap_or(address);
    let listener = smol::net::TcpListener::try_from(listener)
        .map_err(|error| format!("cannot listen on {address} (HOST, PORT): {error}"))?;
    log::info!("listening on http://{bound}");
    Ok(listener)
}

/// Starts a thread that ends the process [`SHUTDOWN_DEADLINE`] after a graceful stop began,
/// if requests are still in flight by then.
fn spawn_shutdown_deadline(swansong: Swansong, gate: Arc<Gate>) {
    std::thread::spawn(move || {
        smol::block_on(swansong.shutting_down());
        std::thread::sleep(SHUTDOWN_DEADLINE);
        if FINISHING.swap(true, Ordering::SeqCst) {
            return;
        }
        log::warn!(
            "requests still in flight {} s after the stop began; stopping anyway",
            SHUTDOWN_DEADLINE.as_secs()
        );
        let code = finish_now(&gate);
        std::process::exit(if code == ExitCode::SUCCESS { 0 } else { 1 });
    });
}

/// Set by whichever of the main thread and the deadline thread finishes the process first.
static FINISHING: AtomicBool = AtomicBool::new(false);

/// Finishes the process once the server has stopped, unless the deadline thread already is.
fn finish(gate: &Gate) -> ExitCode {
    if FINISHING.swap(true, Ordering::SeqCst) {
        // The deadline thread is restarting or exiting the process; leave that to it.
        loop {
            std::thread::park();
        }
    }
    finish_now(gate)
}

/// Runs the executable a backend update asked for, or reports the stop.
fn finish_now(gate: &Gate) -> ExitCode {
    match gate.take_restart() {
        Some(executable) => restart(&executable),
        None => {
            log::info!("stopped");
            log::logger().flush();
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
