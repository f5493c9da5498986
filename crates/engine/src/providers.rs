//! Where Terraform's providers come from: one plugin cache every run of
//! this process shares, and optionally a mirror — a directory or an HTTPS
//! network mirror — that is then the only source, as an air-gapped site
//! needs. Written once into the CLI configuration file every Terraform
//! command of the engine reads (`TF_CLI_CONFIG_FILE`).
//!
//! Terraform does not promise that concurrent `init`s sharing a plugin
//! cache are safe, so the engine runs them one at a time, across processes
//! too (a file lock in the cache). A module's dependency lock file, when it
//! has one, is enforced (`init -lockfile=readonly`): every run installs the
//! very providers the version was published with, or fails saying so.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

/// The dependency lock file Terraform reads and writes in a module.
pub const LOCK_FILE: &str = ".terraform.lock.hcl";

/// How providers are installed.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Providers {
    /// The shared plugin cache (default: `plugin-cache` in the engine's
    /// working directory).
    pub plugin_cache_dir: Option<PathBuf>,
    /// A provider mirror, the only place providers are installed from: a
    /// directory laid out as `terraform providers mirror` writes it, or the
    /// `https://` URL of a network mirror. None: Terraform's registries.
    pub mirror: Option<String>,
}

impl Providers {
    /// The plugin cache, given the engine's working directory.
    pub fn cache_dir(&self, work_root: &Path) -> PathBuf {
        self.plugin_cache_dir
            .clone()
            .unwrap_or_else(|| work_root.join("plugin-cache"))
    }

    /// The CLI configuration file's text.
    pub fn cli_config(&self, cache_dir: &Path) -> String {
        let mut text = format!(
            "plugin_cache_dir = {}\n",
            quoted(&cache_dir.display().to_string())
        );
        match self.mirror.as_deref() {
            None => {}
            Some(url) if url.starts_with("https://") => text.push_str(&format!(
                "provider_installation {{\n  network_mirror {{\n    url = {}\n  }}\n}}\n",
                quoted(url)
            )),
            Some(dir) => text.push_str(&format!(
                "provider_installation {{\n  filesystem_mirror {{\n    path = {}\n  }}\n}}\n",
                quoted(dir)
            )),
        }
        text
    }
}

/// The providers a dependency lock file pins, as `SOURCE VERSION`.
pub fn locked(lock_file: &str) -> Vec<String> {
    let Ok(body) = hcl::parse(lock_file) else {
        return Vec::new();
    };
    body.blocks()
        .filter(|b| b.identifier() == "provider")
        .filter_map(|b| {
            let source = b.labels().first()?.as_str();
            let version = b.body().attributes().find(|a| a.key() == "version")?;
            match version.expr() {
                hcl::Expression::String(v) => Some(format!("{source} {v}")),
                _ => None,
            }
        })
        .collect()
}

/// An HCL string literal: JSON's escapes, and `${`/`%{` kept literal.
fn quoted(text: &str) -> String {
    serde_json::Value::String(text.to_owned())
        .to_string()
        .replace("${", "$${")
        .replace("%{", "%%{")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_mirror_is_the_only_source_and_the_cache_is_shared() {
        let cache = Path::new("/var/lib/slipway/work/plugin-cache");
        let none = Providers::default();
        assert_eq!(
            none.cli_config(cache),
            "plugin_cache_dir = \"/var/lib/slipway/work/plugin-cache\"\n"
        );
        assert_eq!(
            none.cache_dir(Path::new("/w")),
            Path::new("/w/plugin-cache")
        );
        let dir = Providers {
            mirror: Some("/srv/mirror".into()),
            ..Default::default()
        };
        let text = dir.cli_config(cache);
        assert!(
            text.contains("filesystem_mirror {\n    path = \"/srv/mirror\""),
            "{text}"
        );
        assert!(!text.contains("direct"), "{text}");
        let net = Providers {
            mirror: Some("https://mirror.example/providers/".into()),
            ..Default::default()
        };
        assert!(
            net.cli_config(cache)
                .contains("network_mirror {\n    url = \"https://mirror.example/providers/\"")
        );
    }

    #[test]
    fn a_lock_file_names_the_providers_it_pins() {
        let lock = "# This file is maintained automatically by \"terraform init\".\n\nprovider \"slipway.test/test/tiny\" {\n  version     = \"0.1.0\"\n  constraints = \"0.1.0\"\n  hashes = [\n    \"h1:dxcr+p1j982wcGwbvDS+I5U17g4tah2Smw5U+o9YdwM=\",\n  ]\n}\n";
        assert_eq!(locked(lock), ["slipway.test/test/tiny 0.1.0"]);
        assert!(locked("not hcl {").is_empty());
    }

    #[test]
    fn paths_are_quoted_as_literals() {
        assert_eq!(quoted("/a \"b\"/${c}"), r#""/a \"b\"/$${c}""#);
    }
}
