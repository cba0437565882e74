//! Releases: the `version.json` of the release repository, the local one in `STUDIO_DIR`,
//! and the plan of what an update changes.
//!
//! A release's `version.json` is an object:
//!
//! ```json
//! {"app_version": "1.4.0", "min_runtime": "0.1.0", "components": {"frontend": "1.4.0"}}
//! ```
//!
//! Versions are dotted numbers (`1`, `1.4`, `1.4.0`, at most 8 parts) compared part by part,
//! a missing part counting as 0, so `1.4` equals `1.4.0` and `1.10` is newer than `1.9`.
//! Component names are 1 to 64 characters of letters, digits, `.`, `_` and `-`, starting with
//! a letter or digit; each is the folder of that name at the top of the repository.

use std::cmp::Ordering;
use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use serde::{Deserialize, Serialize};

/// The maximum number of parts in a version.
const MAX_VERSION_PARTS: usize = 8;

/// A version of dotted numbers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Version(Vec<u64>);

impl Version {
    /// Parses `1.4.0`; anything but dotted decimal numbers is an error.
    pub fn parse(text: &str) -> Result<Self, String> {
        let parts: Result<Vec<u64>, _> = text
            .split('.')
            .map(|part| {
                if part.is_empty() || !part.bytes().all(|b| b.is_ascii_digit()) {
                    Err(())
                } else {
                    part.parse::<u64>().map_err(|_| ())
                }
            })
            .collect();
        match parts {
            Ok(parts) if parts.len() <= MAX_VERSION_PARTS => Ok(Self(parts)),
            _ => Err(format!(
                "'{}' is not a version of dotted numbers",
                shorten(text)
            )),
        }
    }
}

impl Default for Version {
    /// Version `0`, older than every other.
    fn default() -> Self {
        Self(vec![0])
    }
}

impl Ord for Version {
    fn cmp(&self, other: &Self) -> Ordering {
        let length = self.0.len().max(other.0.len());
        (0..length)
            .map(|index| {
                let ours = self.0.get(index).copied().unwrap_or(0);
                let theirs = other.0.get(index).copied().unwrap_or(0);
                ours.cmp(&theirs)
            })
            .find(|ordering| ordering.is_ne())
            .unwrap_or(Ordering::Equal)
    }
}

impl PartialOrd for Version {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl fmt::Display for Version {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let parts: Vec<String> = self.0.iter().map(u64::to_string).collect();
        f.write_str(&parts.join("."))
    }
}

/// Returns true if `name` may name a component folder.
pub fn is_component_name(name: &str) -> bool {
    let mut bytes = name.bytes();
    name.len() <= 64
        && bytes
            .next()
            .is_some_and(|first| first.is_ascii_alphanumeric())
        && bytes.all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
}

/// A release as its `version.json` describes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Release {
    /// The release's own version.
    pub app_version: String,
    /// The oldest studio-gate that may install it.
    pub min_runtime: Version,
    /// Component name to version.
    pub components: BTreeMap<String, String>,
}

#[derive(Deserialize)]
struct ReleaseFile {
    app_version: String,
    min_runtime: String,
    components: BTreeMap<String, String>,
}

impl Release {
    /// Parses and checks a release's `version.json`. The error message names what is wrong.
    pub fn parse(bytes: &[u8]) -> Result<Self, String> {
        let file: ReleaseFile = serde_json::from_slice(bytes)
            .map_err(|error| format!("version.json of the release is invalid: {error}"))?;
        Version::parse(&file.app_version).map_err(|error| format!("app_version: {error}"))?;
        let min_runtime =
            Version::parse(&file.min_runtime).map_err(|error| format!("min_runtime: {error}"))?;
        for (name, version) in &file.components {
            if !is_component_name(name) {
                return Err(format!("component name '{}' is not allowed", shorten(name)));
            }
            Version::parse(version).map_err(|error| format!("component {name}: {error}"))?;
        }
        Ok(Self {
            app_version: file.app_version,
            min_runtime,
            components: file.components,
        })
    }
}

/// The studio's own `STUDIO_DIR/version.json`: what is installed.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct LocalVersions {
    /// The version of the last release installed, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub app_version: Option<String>,
    /// Installed component name to version.
    #[serde(default)]
    pub components: BTreeMap<String, String>,
    /// The id of the update that wrote this file, used to finish or undo an interrupted one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub update_id: Option<String>,
}

/// The decision of an update: blocked, up to date, or the components to install.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Plan {
    /// The release needs a newer studio-gate; nothing changes.
    Blocked {
        /// The release's `min_runtime`.
        needs: Version,
    },
    /// Nothing is newer; nothing changes.
    UpToDate,
    /// These components are newer (or missing locally) and will be installed.
    Install(Vec<String>),
}

/// Decides what to install. A component is installed when the release's version is newer than
/// the local one, when it has no local version, or when its folder is missing
/// (`is_present` reports whether it exists). Components in `skip` are left alone.
pub fn plan(
    release: &Release,
    local: &LocalVersions,
    skip: &BTreeSet<String>,
    runtime: &Version,
    is_present: impl Fn(&str) -> bool,
) -> Plan {
    if release.min_runtime > *runtime {
        return Plan::Blocked {
            needs: release.min_runtime.clone(),
        };
    }
    let changed: Vec<String> = release
        .components
        .iter()
        .filter(|(name, _)| !skip.contains(*name))
        .filter(|(name, version)| {
            let newer = match local
                .components
                .get(*name)
                .map(|local| Version::parse(local))
            {
                Some(Ok(installed)) => {
                    Version::parse(version).is_ok_and(|offered| offered > installed)
                }
                Some(Err(_)) | None => true,
            };
            newer || !is_present(name)
        })
        .map(|(name, _)| name.clone())
        .collect();
    if changed.is_empty() {
        Plan::UpToDate
    } else {
        Plan::Install(changed)
    }
}

/// Returns the local versions after installing `installed` from `release`: skipped and
/// untouched components keep their local version.
pub fn merged_versions(
    local: &LocalVersions,
    release: &Release,
    installed: &[String],
    update_id: &str,
) -> LocalVersions {
    let mut components = local.components.clone();
    for name in installed {
        if let Some(version) = release.components.get(name) {
            components.insert(name.clone(), version.clone());
        }
    }
    LocalVersions {
        app_version: Some(release.app_version.clone()),
        components,
        update_id: Some(update_id.to_owned()),
    }
}

/// Cuts text quoted in an error to 64 characters.
fn shorten(text: &str) -> String {
    let mut short: String = text.chars().take(64).collect();
    if short.len() < text.len() {
        short.push('…');
    }
    short
}

#[cfg(test)]
mod tests {
    use super::*;

    fn version(text: &str) -> Version {
        Version::parse(text).unwrap()
    }

    fn release(components: &[(&str, &str)]) -> Release {
        Release {
            app_version: "2.0.0".into(),
            min_runtime: version("0.1.0"),
            components: components
                .iter()
                .map(|(n, v)| (n.to_string(), v.to_string()))
                .collect(),
        }
    }

    fn local(components: &[(&str, &str)]) -> LocalVersions {
        LocalVersions {
            components: components
                .iter()
                .map(|(n, v)| (n.to_string(), v.to_string()))
                .collect(),
            ..LocalVersions::default()
        }
    }

    #[test]
    fn versions_compare_as_numbers() {
        assert!(version("1.10") > version("1.9"));
        assert!(version("2") > version("1.99.99"));
        assert_eq!(version("1.4").cmp(&version("1.4.0")), Ordering::Equal);
        assert!(version("0.1.1") > version("0.1"));
    }

    #[test]
    fn bad_versions_are_rejected() {
        for text in [
            "",
            "1.",
            ".1",
            "1..2",
            "v1",
            "1.2-beta",
            "1 .2",
            "-1",
            "1.2.3.4.5.6.7.8.9",
            "99999999999999999999",
        ] {
            assert!(Version::parse(text).is_err(), "{text}");
        }
    }

    #[test]
    fn release_file_is_validated() {
        let good = br#"{"app_version":"1.0","min_runtime":"0.1","components":{"frontend":"1.0"}}"#;
        assert!(Release::parse(good).is_ok());
        let cases: [(&[u8], &str); 6] = [
            (b"not json", "invalid"),
            (br#"{"app_version":"1.0","components":{}}"#, "min_runtime"),
            (
                br#"{"app_version":"x","min_runtime":"0.1","components":{}}"#,
                "app_version",
            ),
            (
                br#"{"app_version":"1","min_runtime":"0.1","components":{"../etc":"1"}}"#,
                "not allowed",
            ),
            (
                br#"{"app_version":"1","min_runtime":"0.1","components":{"a":"one"}}"#,
                "component a",
            ),
            (
                br#"{"app_version":"1","min_runtime":"0.1","components":[]}"#,
                "invalid",
            ),
        ];
        for (bytes, expected) in cases {
            let error = Release::parse(bytes).unwrap_err();
            assert!(error.contains(expected), "{error}");
        }
    }

    #[test]
    fn component_names() {
        for name in ["frontend", "backend", "model-pack_2", "v1.2"] {
            assert!(is_component_name(name), "{name}");
        }
        for name in [
            "",
            ".",
            "..",
            ".git",
            "a/b",
            "a\\b",
            "-x",
            &"a".repeat(65),
            "a b",
        ] {
            assert!(!is_component_name(name), "{name}");
        }
    }

    #[test]
    fn newer_and_missing_components_are_planned() {
        let release = release(&[("frontend", "1.2"), ("backend", "1.0"), ("models", "3")]);
        let local = local(&[("frontend", "1.1"), ("backend", "1.0")]);
        let plan = plan(
            &release,
            &local,
            &BTreeSet::new(),
            &version("0.1.0"),
            |_| true,
        );
        assert_eq!(
            plan,
            Plan::Install(vec!["frontend".into(), "models".into()])
        );
    }

    #[test]
    fn skipped_components_are_not_planned() {
        let release = release(&[("frontend", "1.2")]);
        let skip = BTreeSet::from(["frontend".to_string()]);
        assert_eq!(
            plan(&release, &local(&[]), &skip, &version("0.1.0"), |_| true),
            Plan::UpToDate
        );
    }

    #[test]
    fn missing_folder_is_reinstalled() {
        let release = release(&[("frontend", "1.0")]);
        let local = local(&[("frontend", "1.0")]);
        let plan = plan(
            &release,
            &local,
            &BTreeSet::new(),
            &version("0.1.0"),
            |_| false,
        );
        assert_eq!(plan, Plan::Install(vec!["frontend".into()]));
    }

    #[test]
    fn older_release_changes_nothing() {
        let release = release(&[("frontend", "1.0")]);
        let local = local(&[("frontend", "1.0.1")]);
        assert_eq!(
            plan(
                &release,
                &local,
                &BTreeSet::new(),
                &version("0.1.0"),
                |_| true
            ),
            Plan::UpToDate
        );
    }

    #[test]
    fn newer_runtime_requirement_blocks() {
        let mut release = release(&[("frontend", "9")]);
        release.min_runtime = version("0.2");
        let plan = plan(
            &release,
            &local(&[]),
            &BTreeSet::new(),
            &version("0.1.9"),
            |_| true,
        );
        assert_eq!(
            plan,
            Plan::Blocked {
                needs: version("0.2")
            }
        );
    }

    #[test]
    fn merge_keeps_skipped_versions() {
        let release = release(&[("frontend", "2"), ("backend", "2")]);
        let local = local(&[("frontend", "1"), ("backend", "1")]);
        let merged = merged_versions(&local, &release, &["frontend".into()], "id");
        assert_eq!(merged.components["frontend"], "2");
        assert_eq!(merged.components["backend"], "1");
        assert_eq!(merged.app_version.as_deref(), Some("2.0.0"));
        assert_eq!(merged.update_id.as_deref(), Some("id"));
    }
}
