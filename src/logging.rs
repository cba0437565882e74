//! The process logger: `env_logger` configured by `RUST_LOG` (default `info`), with one
//! exception that no setting can lift.
//!
//! trillium-http logs every request and response head at trace level, headers included, so
//! `RUST_LOG=trace` would write `X-API-Key` and `Cookie` values into the log. Records from
//! `trillium_http` above info level are therefore dropped.

use log::{Level, Log, Metadata, Record};

/// The crate whose verbose records carry request headers.
const HEADER_LOGGING_TARGET: &str = "trillium_http";

/// Wraps `env_logger` and drops trillium-http's debug and trace records.
struct SecretSafeLogger(env_logger::Logger);

impl Log for SecretSafeLogger {
    fn enabled(&self, metadata: &Metadata<'_>) -> bool {
        is_allowed(metadata) && self.0.enabled(metadata)
    }

    fn log(&self, record: &Record<'_>) {
        if is_allowed(record.metadata()) {
            self.0.log(record);
        }
    }

    fn flush(&self) {
        self.0.flush();
    }
}

/// Returns false for debug and trace records of trillium-http and its modules.
fn is_allowed(metadata: &Metadata<'_>) -> bool {
    let target = metadata.target();
    let from_http = target == HEADER_LOGGING_TARGET
        || target
            .strip_prefix(HEADER_LOGGING_TARGET)
            .is_some_and(|rest| rest.starts_with("::"));
    !(from_http && metadata.level() > Level::Info)
}

/// Installs the logger. Call once, before anything logs.
pub fn init() {
    let logger =
        env_logger::Builder::from_env(env_logger::Env::default().default_filter_or("info")).build();
    let max_level = logger.filter();
    if log::set_boxed_logger(Box::new(SecretSafeLogger(logger))).is_ok() {
        log::set_max_level(max_level);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn allowed(target: &str, level: Level) -> bool {
        is_allowed(&Metadata::builder().target(target).level(level).build())
    }

    #[test]
    fn http_heads_are_dropped() {
        assert!(!allowed("trillium_http::conn::h1", Level::Trace));
        assert!(!allowed("trillium_http", Level::Debug));
        assert!(allowed("trillium_http::conn::h1", Level::Info));
        assert!(allowed("trillium_http", Level::Warn));
    }

    #[test]
    fn other_targets_pass() {
        assert!(allowed("studio_gate::request", Level::Trace));
        assert!(allowed("trillium_http_extra", Level::Trace));
        assert!(allowed("trillium_server_common", Level::Debug));
    }
}
