//! The public paths as the product contract lists them, written out independently of
//! `studio_gate::is_public_path` so that the targets can compare the two.

/// The paths that are public as a whole.
const EXACT_PUBLIC_PATHS: [&str; 3] = ["/login", "/api/auth/login", "/api/health"];

/// The prefix below which every path is public. The prefix itself is not.
const STATIC_PREFIX: &str = "/static/";

/// Returns true if the contract lists `path` as public: exactly `/login`, `/api/auth/login`
/// or `/api/health`, or a path that continues after `/static/`. `/staticfoo`,
/// `/api/healthz` and `/LOGIN` are not public.
pub fn is_listed_public(path: &str) -> bool {
    EXACT_PUBLIC_PATHS.contains(&path)
        || (path.starts_with(STATIC_PREFIX) && path.len() > STATIC_PREFIX.len())
}
