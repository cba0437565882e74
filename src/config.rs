//! Configuration from environment variables. A bad value refuses to start and names the
//! variable; the value itself is never printed, since it may be a secret.

use std::ffi::OsString;
use std::fmt;
use std::net::IpAddr;
use std::path::PathBuf;

use crate::client_addr::TrustedProxies;
use crate::session::SessionPolicy;

/// The maximum session timeout: ten years, in seconds. It keeps time arithmetic far
/// from overflow and catches values typed in milliseconds.
pub const MAX_SESSION_SECS: u64 = 315_360_000;

/// The help text of `studio-gate --help`.
pub const HELP: &str = "\
studio-gate: the front door of a GPU-pod studio

Usage: studio-gate [--help | --version]

Configuration comes from environment variables:
  API_KEY                the one credential; if unset, a key is generated on first boot
                         and kept in STUDIO_DIR/.api_key (mode 0600). Set but empty: refused.
  STUDIO_DIR             folder for all state (default: ./studio-data)
  HOST                   address to listen on (default: 127.0.0.1; pods use 0.0.0.0)
  PORT                   port to listen on (default: 8000)
  SESSION_IDLE_SECS      sliding idle timeout of a session and the cookie's Max-Age,
                         in seconds (default: 86400)
  SESSION_LIFETIME_SECS  absolute session lifetime from login, in seconds, not below the
                         idle timeout (default: 604800)
  COOKIE_SECURE          true or false (default: true). false lets browsers keep the cookie
                         over plain HTTP: use it only on a trusted network.
  TRUSTED_PROXIES        comma-separated addresses or networks (10.0.0.0/8) whose
                         X-Forwarded-For is believed (default: none)
  UPDATE_REPO            git repository that updates come from (default: unset, no updates)
  UPDATE_BRANCH          branch of UPDATE_REPO (default: main)
  RUST_LOG               log level: error, warn, info, debug or trace (default: info)
";

/// The server's settings.
#[derive(Clone)]
pub struct Config {
    /// The API key from `API_KEY`, or `None` to use or create `STUDIO_DIR/.api_key`.
    pub api_key: Option<String>,
    /// Folder for all state. Default `./studio-data`.
    pub studio_dir: PathBuf,
    /// Listen address. Default `127.0.0.1`.
    pub host: IpAddr,
    /// Listen port. Default 8000; 0 picks a free port.
    pub port: u16,
    /// Session timeouts. Default 86400 s idle, 604800 s lifetime.
    pub session: SessionPolicy,
    /// Whether the cookie carries `Secure`. Default true; false weakens security on any
    /// network that is not trusted.
    pub cookie_secure: bool,
    /// Proxies whose `X-Forwarded-For` is believed. Default none.
    pub trusted_proxies: TrustedProxies,
    /// The git repository of releases. Unset by default, which turns updates off.
    pub update_repo: Option<String>,
    /// The branch of `update_repo`. Default `main`.
    pub update_branch: String,
}

impl fmt::Debug for Config {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Config")
            .field("api_key", &self.api_key.as_ref().map(|_| "<hidden>"))
            .field("studio_dir", &self.studio_dir)
            .field("host", &self.host)
            .field("port", &self.port)
            .field("session", &self.session)
            .field("cookie_secure", &self.cookie_secure)
            .field("trusted_proxies", &self.trusted_proxies)
            .field("update_repo", &self.update_repo)
            .field("update_branch", &self.update_branch)
            .finish()
    }
}

/// A variable with an unusable value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    /// The variable's name.
    pub variable: &'static str,
    /// The problem and the expected form, without the value.
    pub problem: String,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "invalid {}: {}", self.variable, self.problem)
    }
}

impl std::error::Error for ConfigError {}

impl Config {
    /// Reads the configuration from the process environment.
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_lookup(|name| std::env::var_os(name))
    }

    /// Reads the configuration through `lookup`, which returns a variable's value if set.
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<OsString>) -> Result<Self, ConfigError> {
        let vars = Vars(&lookup);

        let api_key = vars.text("API_KEY")?;
        if let Some(key) = &api_key {
            crate::api_key::ApiKey::new(key).map_err(|error| ConfigError {
                variable: "API_KEY",
                problem: format!("{error}; unset it to have a key generated"),
            })?;
        }

        let idle_secs = vars.seconds("SESSION_IDLE_SECS", 86_400)?;
        let lifetime_secs = vars.seconds("SESSION_LIFETIME_SECS", 604_800)?;
        if lifetime_secs < idle_secs {
            return Err(ConfigError {
                variable: "SESSION_LIFETIME_SECS",
                problem: format!("must not be below SESSION_IDLE_SECS ({idle_secs})"),
            });
        }

        Ok(Self {
            api_key,
            studio_dir: vars
                .path("STUDIO_DIR")?
                .unwrap_or_else(|| PathBuf::from("studio-data")),
            host: vars
                .parsed("HOST", "an IP address such as 127.0.0.1 or 0.0.0.0")?
                .unwrap_or(IpAddr::from([127, 0, 0, 1])),
            port: vars
                .parsed("PORT", "a port number from 0 to 65535")?
                .unwrap_or(8000),
            session: SessionPolicy {
                idle_secs,
                lifetime_secs,
            },
            cookie_secure: vars.boolean("COOKIE_SECURE", true)?,
            trusted_proxies: vars.trusted_proxies()?,
            update_repo: vars.text("UPDATE_REPO")?.filter(|repo| !repo.is_empty()),
            update_branch: vars.branch()?,
        })
    }
}

/// Typed access to the variables, each error naming its variable.
struct Vars<'a, F: Fn(&str) -> Option<OsString>>(&'a F);

impl<F: Fn(&str) -> Option<OsString>> Vars<'_, F> {
    fn text(&self, name: &'static str) -> Result<Option<String>, ConfigError> {
        match (self.0)(name) {
            None => Ok(None),
            Some(value) => value.into_string().map(Some).map_err(|_| ConfigError {
                variable: name,
                problem: "is not valid UTF-8".into(),
            }),
        }
    }

    fn path(&self, name: &'static str) -> Result<Option<PathBuf>, ConfigError> {
        match (self.0)(name) {
            Some(value) if value.is_empty() => Err(ConfigError {
                variable: name,
                problem: "is empty; unset it to use the default".into(),
            }),
            value => Ok(value.map(PathBuf::from)),
        }
    }

    fn parsed<T: std::str::FromStr>(
        &self,
        name: &'static str,
        expected: &str,
    ) -> Result<Option<T>, ConfigError> {
        let Some(text) = self.text(name)? else {
            return Ok(None);
        };
        text.trim().parse().map(Some).map_err(|_| ConfigError {
            variable: name,
            problem: format!("expected {expected}"),
        })
    }

    fn seconds(&self, name: &'static str, default: u64) -> Result<u64, ConfigError> {
        let expected = format!("a whole number of seconds from 1 to {MAX_SESSION_SECS}");
        let value = self.parsed::<u64>(name, &expected)?.unwrap_or(default);
        if value == 0 || value > MAX_SESSION_SECS {
            return Err(ConfigError {
                variable: name,
                problem: format!("expected {expected}"),
            });
        }
        Ok(value)
    }

    fn boolean(&self, name: &'static str, default: bool) -> Result<bool, ConfigError> {
        match self.text(name)?.as_deref().map(str::trim) {
            None => Ok(default),
            Some("true" | "1") => Ok(true),
            Some("false" | "0") => Ok(false),
            Some(_) => Err(ConfigError {
                variable: name,
                problem: "expected true or false".into(),
            }),
        }
    }

    fn trusted_proxies(&self) -> Result<TrustedProxies, ConfigError> {
        let text = self.text("TRUSTED_PROXIES")?.unwrap_or_default();
        TrustedProxies::parse(&text).map_err(|problem| ConfigError {
            variable: "TRUSTED_PROXIES",
            problem,
        })
    }

    fn branch(&self) -> Result<String, ConfigError> {
        let branch = self.text("UPDATE_BRANCH")?.unwrap_or_else(|| "main".into());
        if !is_plain_branch_name(&branch) {
            return Err(ConfigError {
                variable: "UPDATE_BRANCH",
                problem: "expected a branch name of letters, digits and . _ - /, \
                          not starting with '-' or '/'"
                    .into(),
            });
        }
        Ok(branch)
    }
}

/// Returns true for branch names that git accepts and that cannot be read as an option.
fn is_plain_branch_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 200
        && !name.starts_with(['-', '/', '.'])
        && !name.ends_with(['/', '.'])
        && !name.contains("..")
        && !name.contains("//")
        && !name.ends_with(".lock")
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-' | b'/'))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn config(vars: &[(&str, &str)]) -> Result<Config, ConfigError> {
        let map: HashMap<String, OsString> = vars
            .iter()
            .map(|(k, v)| (k.to_string(), OsString::from(v)))
            .collect();
        Config::from_lookup(|name| map.get(name).cloned())
    }

    fn failing_variable(vars: &[(&str, &str)]) -> &'static str {
        config(vars).unwrap_err().variable
    }

    #[test]
    fn defaults_need_no_setup() {
        let config = config(&[]).unwrap();
        assert_eq!(config.api_key, None);
        assert_eq!(config.studio_dir, PathBuf::from("studio-data"));
        assert_eq!(config.host.to_string(), "127.0.0.1");
        assert_eq!(config.port, 8000);
        assert_eq!(
            config.session,
            SessionPolicy {
                idle_secs: 86_400,
                lifetime_secs: 604_800
            }
        );
        assert!(config.cookie_secure);
        assert!(config.trusted_proxies.is_empty());
        assert_eq!(config.update_repo, None);
        assert_eq!(config.update_branch, "main");
    }

    #[test]
    fn every_variable_is_read() {
        let config = config(&[
            ("API_KEY", "k"),
            ("STUDIO_DIR", "/workspace/studio"),
            ("HOST", "0.0.0.0"),
            ("PORT", "9000"),
            ("SESSION_IDLE_SECS", "60"),
            ("SESSION_LIFETIME_SECS", "120"),
            ("COOKIE_SECURE", "false"),
            ("TRUSTED_PROXIES", "10.0.0.0/8"),
            ("UPDATE_REPO", "/srv/releases"),
            ("UPDATE_BRANCH", "release/v2"),
        ])
        .unwrap();
        assert_eq!(config.api_key.as_deref(), Some("k"));
        assert_eq!(config.studio_dir, PathBuf::from("/workspace/studio"));
        assert_eq!(config.host.to_string(), "0.0.0.0");
        assert_eq!(config.port, 9000);
        assert_eq!(
            config.session,
            SessionPolicy {
                idle_secs: 60,
                lifetime_secs: 120
            }
        );
        assert!(!config.cookie_secure);
        assert!(config.trusted_proxies.contains("10.1.1.1".parse().unwrap()));
        assert_eq!(config.update_repo.as_deref(), Some("/srv/releases"));
        assert_eq!(config.update_branch, "release/v2");
    }

    #[test]
    fn empty_api_key_is_rejected() {
        assert_eq!(failing_variable(&[("API_KEY", "")]), "API_KEY");
    }

    #[test]
    fn bad_values_name_their_variable() {
        assert_eq!(failing_variable(&[("PORT", "80000")]), "PORT");
        assert_eq!(failing_variable(&[("PORT", "http")]), "PORT");
        assert_eq!(failing_variable(&[("HOST", "localhost:80")]), "HOST");
        assert_eq!(
            failing_variable(&[("SESSION_IDLE_SECS", "0")]),
            "SESSION_IDLE_SECS"
        );
        assert_eq!(
            failing_variable(&[("SESSION_IDLE_SECS", "-5")]),
            "SESSION_IDLE_SECS"
        );
        assert_eq!(
            failing_variable(&[("SESSION_IDLE_SECS", "1.5")]),
            "SESSION_IDLE_SECS"
        );
        assert_eq!(
            failing_variable(&[("SESSION_LIFETIME_SECS", "60")]),
            "SESSION_LIFETIME_SECS"
        );
        assert_eq!(
            failing_variable(&[("COOKIE_SECURE", "yes")]),
            "COOKIE_SECURE"
        );
        assert_eq!(
            failing_variable(&[("TRUSTED_PROXIES", "proxy")]),
            "TRUSTED_PROXIES"
        );
        assert_eq!(
            failing_variable(&[("UPDATE_BRANCH", "--upload-pack=x")]),
            "UPDATE_BRANCH"
        );
        assert_eq!(
            failing_variable(&[("UPDATE_BRANCH", "a..b")]),
            "UPDATE_BRANCH"
        );
        assert_eq!(failing_variable(&[("STUDIO_DIR", "")]), "STUDIO_DIR");
    }

    #[test]
    fn errors_do_not_show_the_key() {
        let error = config(&[("API_KEY", "secret\u{7}")]).unwrap_err();
        assert_eq!(error.variable, "API_KEY");
        assert!(!error.to_string().contains("secret"));
    }

    #[test]
    fn debug_output_hides_the_key() {
        let config = config(&[("API_KEY", "hunter2")]).unwrap();
        assert!(!format!("{config:?}").contains("hunter2"));
    }

    #[test]
    fn idle_and_lifetime_limits_are_exact() {
        let max = MAX_SESSION_SECS.to_string();
        let over = (MAX_SESSION_SECS + 1).to_string();
        assert!(config(&[("SESSION_IDLE_SECS", "1")]).is_ok());
        assert!(config(&[("SESSION_IDLE_SECS", &max), ("SESSION_LIFETIME_SECS", &max)]).is_ok());
        assert_eq!(
            failing_variable(&[("SESSION_LIFETIME_SECS", &over)]),
            "SESSION_LIFETIME_SECS"
        );
        assert!(config(&[
            ("SESSION_IDLE_SECS", "100"),
            ("SESSION_LIFETIME_SECS", "100")
        ])
        .is_ok());
    }
}
