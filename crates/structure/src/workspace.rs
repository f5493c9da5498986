//! The workspace as Cargo sees it: its packages, their dependencies and
//! their library and binary targets (`cargo metadata`).

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, Result, bail};
use serde_json::Value;

/// The workspace.
pub struct Workspace {
    /// Its root directory.
    pub root: PathBuf,
    /// Its member packages.
    pub packages: Vec<Package>,
}

/// A member package.
pub struct Package {
    /// Its name (`slipway-core`).
    pub name: String,
    /// Its `Cargo.toml`.
    pub manifest: PathBuf,
    /// Its dependencies, dev-dependencies included.
    pub dependencies: Vec<Dependency>,
    /// Its library and binary targets (tests, benches, examples and build
    /// scripts are not part of its structure).
    pub targets: Vec<Target>,
}

/// A dependency of a package.
pub struct Dependency {
    /// The package depended on.
    pub package: String,
    /// The name code uses for it (`slipway_core`, or the rename).
    pub extern_name: String,
    /// Whether it is a dev-dependency: for tests only.
    pub dev: bool,
}

/// A library or binary target.
pub struct Target {
    /// The crate's name as code names it (`slipway_core`, `slipway`).
    pub name: String,
    /// Whether it is the package's library (else a binary).
    pub lib: bool,
    /// Its root file (`src/lib.rs`, `src/main.rs`).
    pub root: PathBuf,
}

impl Package {
    /// The dependencies that are part of what the package ships (normal and
    /// build dependencies).
    pub fn shipped_dependencies(&self) -> impl Iterator<Item = &Dependency> {
        self.dependencies.iter().filter(|d| !d.dev)
    }
}

/// Reads the workspace of `manifest` (else of the current directory).
pub fn load(manifest: Option<&Path>) -> Result<Workspace> {
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let mut command = Command::new(cargo);
    command.args(["metadata", "--format-version", "1", "--no-deps"]);
    if let Some(manifest) = manifest {
        command.arg("--manifest-path").arg(manifest);
    }
    let output = command.output().context("running cargo metadata")?;
    if !output.status.success() {
        bail!(
            "cargo metadata failed: {}",
            String::from_utf8_lossy(&output.stderr).trim()
        );
    }
    let metadata: Value =
        serde_json::from_slice(&output.stdout).context("reading cargo metadata's answer")?;
    let root = PathBuf::from(text(&metadata, "workspace_root")?);
    let mut packages = Vec::new();
    for package in array(&metadata, "packages")? {
        let mut dependencies = Vec::new();
        for dependency in array(package, "dependencies")? {
            let name = text(dependency, "name")?;
            let extern_name = match dependency.get("rename").and_then(Value::as_str) {
                Some(rename) => rename.to_owned(),
                None => name.replace('-', "_"),
            };
            dependencies.push(Dependency {
                package: name.to_owned(),
                extern_name,
                dev: dependency.get("kind").and_then(Value::as_str) == Some("dev"),
            });
        }
        let mut targets = Vec::new();
        for target in array(package, "targets")? {
            let kinds: Vec<&str> = array(target, "kind")?
                .iter()
                .filter_map(Value::as_str)
                .collect();
            let lib = kinds.iter().any(|k| {
                matches!(
                    *k,
                    "lib" | "rlib" | "dylib" | "cdylib" | "staticlib" | "proc-macro"
                )
            });
            if !lib && !kinds.contains(&"bin") {
                continue;
            }
            targets.push(Target {
                name: text(target, "name")?.replace('-', "_"),
                lib,
                root: PathBuf::from(text(target, "src_path")?),
            });
        }
        packages.push(Package {
            name: text(package, "name")?.to_owned(),
            manifest: PathBuf::from(text(package, "manifest_path")?),
            dependencies,
            targets,
        });
    }
    packages.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(Workspace { root, packages })
}

fn text<'a>(value: &'a Value, key: &str) -> Result<&'a str> {
    value
        .get(key)
        .and_then(Value::as_str)
        .with_context(|| format!("cargo metadata: no `{key}`"))
}

fn array<'a>(value: &'a Value, key: &str) -> Result<&'a Vec<Value>> {
    value
        .get(key)
        .and_then(Value::as_array)
        .with_context(|| format!("cargo metadata: no `{key}`"))
}
