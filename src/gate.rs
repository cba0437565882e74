//! The state every handler shares: credentials, keys, the revocation list, the login limiter,
//! the maintenance switch and the frontend.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr};
use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicBool;
use std::sync::{Arc, Mutex};
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use trillium::{Conn, KnownHeaderName};

use crate::api_key::ApiKey;
use crate::client_addr::{client_address, TrustedProxies};
use crate::config::Config;
use crate::login_limiter::LoginLimiter;
use crate::maintenance::Maintenance;
use crate::revocation::RevocationStore;
use crate::secret_file::{self, SecretFileError};
use crate::session::{Session, SessionKey, SessionPolicy, COOKIE_NAME};
use crate::static_files::Frontend;
use crate::update_status::UpdateStatus;

/// The most `session` cookies of one request that are checked. Browsers send one; more are
/// tried so that a stale cookie for a parent path does not lock the user out.
const MAX_SESSION_COOKIES: usize = 4;

/// Shared state of a running studio-gate.
pub struct Gate {
    /// The one credential.
    pub api_key: ApiKey,
    /// Signs and checks session cookies.
    pub session_key: SessionKey,
    /// Session timeouts.
    pub policy: SessionPolicy,
    /// Whether cookies carry `Secure`.
    pub cookie_secure: bool,
    /// Proxies whose `X-Forwarded-For` is believed.
    pub trusted_proxies: TrustedProxies,
    /// Sessions ended by logout.
    pub revocations: RevocationStore,
    /// Failed login attempts per client.
    pub limiter: Mutex<LoginLimiter>,
    /// The maintenance switch.
    pub maintenance: Maintenance,
    /// The pages and assets.
    pub frontend: Frontend,
    /// The state of updates, for the status route.
    pub update_status: Mutex<UpdateStatus>,
    /// Folder for all state.
    pub studio_dir: PathBuf,
    /// The git repository of releases, if updates are configured.
    pub update_repo: Option<String>,
    /// The branch of `update_repo`.
    pub update_branch: String,
    /// When this process started serving.
    pub started: Instant,
    /// Set while an update runs.
    pub update_running: Arc<AtomicBool>,
    /// Component and disk figures of the status route.
    pub status_cache: crate::system::StatusCache,
    /// The executable to re-execute once the server has stopped, after a backend update.
    pub restart: Mutex<Option<PathBuf>>,
}

impl fmt::Debug for Gate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Gate")
            .field("policy", &self.policy)
            .field("cookie_secure", &self.cookie_secure)
            .field("studio_dir", &self.studio_dir)
            .finish_non_exhaustive()
    }
}

/// A reason the server cannot start.
#[derive(Debug)]
pub enum StartupError {
    /// `STUDIO_DIR` cannot be created or used.
    StudioDir(PathBuf, std::io::Error),
    /// A secret file is unusable.
    Secret(SecretFileError),
    /// The revocation list cannot be read.
    Revocations(PathBuf, std::io::Error),
}

impl fmt::Display for StartupError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::StudioDir(path, error) => {
                write!(f, "cannot use STUDIO_DIR {}: {error}", path.display())
            }
            Self::Secret(error) => error.fmt(f),
            Self::Revocations(path, error) => write!(
                f,
                "cannot read the revocation list {}: {error}",
                path.join(crate::revocation::REVOCATION_FILE).display()
            ),
        }
    }
}

impl std::error::Error for StartupError {}

impl Gate {
    /// Prepares `STUDIO_DIR` and loads or creates the key, the secret and the revocation list.
    pub fn open(config: &Config) -> Result<Self, StartupError> {
        let dir = config.studio_dir.clone();
        create_studio_dir(&dir).map_err(|error| StartupError::StudioDir(dir.clone(), error))?;
        if let Err(error) =
            crate::component_swap::recover(&crate::component_swap::StudioPaths::new(&dir))
        {
            log::error!("cannot clean up an interrupted update: {error}");
        }

        let key_text = match &config.api_key {
            Some(key) => key.clone(),
            None => load_generated_key(&dir)?,
        };
        // Config has checked API_KEY, and load_or_create_api_key has checked the file.
        let api_key = ApiKey::new(&key_text).map_err(|_| {
            StartupError::Secret(SecretFileError::Invalid(
                dir.join(secret_file::API_KEY_FILE),
                "invalid key",
            ))
        })?;
        drop(key_text);

        let secret =
            secret_file::load_or_create_session_secret(&dir).map_err(StartupError::Secret)?;
        let session_key = SessionKey::derive(secret.as_bytes(), api_key.fingerprint());
        let revocations = RevocationStore::load(&dir, unix_now())
            .map_err(|error| StartupError::Revocations(dir.clone(), error))?;

        Ok(Self {
            api_key,
            session_key,
            policy: config.session,
            cookie_secure: config.cookie_secure,
            trusted_proxies: config.trusted_proxies.clone(),
            revocations,
            limiter: Mutex::new(LoginLimiter::new()),
            maintenance: Maintenance::default(),
            frontend: Frontend::new(&dir),
            update_status: Mutex::new(UpdateStatus::load(&dir)),
            studio_dir: dir,
            update_repo: config.update_repo.clone(),
            update_branch: config.update_branch.clone(),
            started: Instant::now(),
            update_running: Arc::new(AtomicBool::new(false)),
            restart: Mutex::new(None),
            status_cache: crate::system::StatusCache::default(),
        })
    }

    /// Returns the executable to re-execute, if a backend update asked for a restart.
    pub fn take_restart(&self) -> Option<PathBuf> {
        self.restart
            .lock()
            .ok()
            .and_then(|mut target| target.take())
    }

    /// Returns the client's address: the TCP peer, or the address a trusted proxy forwarded.
    pub fn client_ip(&self, conn: &Conn) -> IpAddr {
        let peer = conn.peer_ip().unwrap_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED));
        // Several header lines are one comma-separated list (RFC 9110, section 5.3). A value
        // that is not text reads as an empty entry, where the walk from the right stops.
        let forwarded = conn
            .request_headers()
            .get_values(KnownHeaderName::XforwardedFor)
            .map(|values| {
                values
                    .iter()
                    .map(|value| value.as_str().unwrap_or_default())
                    .collect::<Vec<_>>()
                    .join(",")
            });
        client_address(peer, forwarded.as_deref(), &self.trusted_proxies)
    }

    /// Returns the session of the first valid, unrevoked `session` cookie of the request.
    ///
    /// Logs a warning with the client's address when a session cookie is present but refused.
    pub fn session_from_cookies(&self, conn: &Conn, now: u64) -> Option<Session> {
        let mut refused = false;
        for value in session_cookie_values(conn).take(MAX_SESSION_COOKIES) {
            match self.session_key.open(COOKIE_NAME, value, self.policy, now) {
                Some(session) if !self.revocations.is_revoked(&session.id, now) => {
                    return Some(session)
                }
                _ => refused = true,
            }
        }
        if refused {
            log::warn!("refused a session cookie from {}", self.client_ip(conn));
        }
        None
    }

    /// Returns the `Set-Cookie` value that carries `session`, with Max-Age at `now`.
    pub fn session_cookie(&self, session: &Session, now: u64) -> String {
        let value = self.session_key.seal(COOKIE_NAME, session);
        let max_age = session.max_age(self.policy, now);
        format!(
            "{COOKIE_NAME}={value}; {}; Max-Age={max_age}",
            self.cookie_flags()
        )
    }

    /// Returns the `Set-Cookie` value that deletes the session cookie.
    pub fn deleted_session_cookie(&self) -> String {
        format!(
            "{COOKIE_NAME}=; {}; Max-Age=0; Expires=Thu, 01 Jan 1970 00:00:00 GMT",
            self.cookie_flags()
        )
    }

    fn cookie_flags(&self) -> &'static str {
        if self.cookie_secure {
            "HttpOnly; Secure; SameSite=Strict; Path=/"
        } else {
            "HttpOnly; SameSite=Strict; Path=/"
        }
    }
}

/// Returns the values of every `session` cookie in the request's `Cookie` headers.
fn session_cookie_values(conn: &Conn) -> impl Iterator<Item = &str> {
    conn.request_headers()
        .get_values(KnownHeaderName::Cookie)
        .into_iter()
        .flatten()
        .filter_map(|value| value.as_str())
        .flat_map(|header| header.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .filter(|(name, _)| *name == COOKIE_NAME)
        .map(|(_, value)| value.trim())
}

/// Creates `STUDIO_DIR` with mode 0700 if it does not exist.
fn create_studio_dir(dir: &Path) -> std::io::Result<()> {
    use std::os::unix::fs::DirBuilderExt;
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
}

fn load_generated_key(dir: &Path) -> Result<String, StartupError> {
    let (key, created) = secret_file::load_or_create_api_key(dir).map_err(StartupError::Secret)?;
    let path = dir.join(secret_file::API_KEY_FILE);
    if created {
        log::info!(
            "API_KEY is not set: generated a new API key in {}",
            path.display()
        );
    } else {
        log::info!(
            "API_KEY is not set: using the API key in {}",
            path.display()
        );
    }
    Ok(key)
}

/// Returns the current time in Unix seconds.
pub fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |elapsed| elapsed.as_secs())
}
