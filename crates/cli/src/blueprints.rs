//! `slipway blueprint check DIR`: a blueprint checked offline, as a module
//! author's CI runs it (`slipway_engine::check`). Each finding is printed
//! as `DIR/FILE:LINE: message`; any finding exits 1.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use serde_json::json;

use crate::exit::{self, Failure};

pub fn check(dir: &Path, json: bool) -> Result<ExitCode, Failure> {
    if !dir.is_dir() {
        return Err(Failure::invalid(
            "dir",
            format!("{} is not a directory", dir.display()),
        ));
    }
    let report = slipway_engine::check::check_dir(dir)
        .map_err(|e| Failure::new(exit::FAILED, "unreadable", e.to_string()))?;
    if json {
        crate::output::json(&json!({
            "blueprint": report.blueprint,
            "files": report.files,
            "resources": report.resources,
            "findings": report.findings.iter().map(|f| json!({
                "file": f.file,
                "line": f.line,
                "message": f.message,
            })).collect::<Vec<_>>(),
            "skipped": report.skipped,
        }));
    } else {
        for finding in &report.findings {
            println!("{}/{finding}", dir.display());
        }
        let name = report.blueprint.as_deref().unwrap_or("(unnamed)");
        let verdict = match report.findings.len() {
            0 => "no problem found".to_owned(),
            1 => "1 problem".to_owned(),
            n => format!("{n} problems"),
        };
        println!(
            "blueprint {name}: {} Terraform files, {} resources checked: {verdict}",
            report.files, report.resources
        );
        for skipped in &report.skipped {
            println!("not run: {skipped}");
        }
    }
    Ok(if report.findings.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(exit::FAILED)
    })
}

impl crate::client::Connection {
    /// `slipway blueprint publish DIR --version V`: the directory, packed
    /// and checked here first (so an author hears about a finding without a
    /// round trip), then published for every replica and worker.
    pub async fn publish_blueprint(
        &self,
        source: Source,
        version: &str,
        organizations: Option<Vec<String>>,
        latest: bool,
    ) -> Result<ExitCode, Failure> {
        slipway_core::names::check_version(version)
            .map_err(|e| Failure::invalid("version", e.to_string()))?;
        let (_checkout, dir, from) = match source {
            Source::Dir(dir) => (None, dir, None),
            Source::Git {
                url,
                reference,
                path,
            } => {
                let (checkout, commit) = fetch(&url, &reference)?;
                let dir = match path {
                    Some(path) => inside(checkout.path(), &path)?,
                    None => checkout.path().to_owned(),
                };
                (
                    Some(checkout),
                    dir,
                    Some(format!(" from {url} at {commit}")),
                )
            }
        };
        let dir = dir.as_path();
        let source = slipway_engine::catalog::BlueprintSource::read_dir(dir)
            .map_err(|e| Failure::invalid("dir", e.to_string()))?;
        let archive = slipway_engine::catalog::pack_dir(dir)
            .map_err(|e| Failure::new(exit::FAILED, "unreadable", e.to_string()))?;
        let name = source.metadata.name;
        let published = self
            .client
            .publish_blueprint(&name, version, archive, organizations.as_deref(), latest)
            .await?;
        if self.json {
            crate::output::json(&published);
        } else {
            let b = &published.blueprint;
            let what = if published.created {
                "Published"
            } else {
                "Already published, the same content:"
            };
            println!(
                "{what} blueprint {} version {}{} (digest {}) for {}{}; every replica and worker has it.",
                b.name,
                b.version,
                from.unwrap_or_default(),
                &b.digest[..b.digest.len().min(12)],
                who(b),
                if b.latest {
                    ", and latest names it"
                } else {
                    ""
                }
            );
            for skipped in &published.skipped {
                println!("not run: {skipped}");
            }
        }
        Ok(ExitCode::SUCCESS)
    }

    /// `slipway blueprint list`: every version, by blueprint; `slipway
    /// blueprint versions NAME`: one blueprint's.
    pub async fn list_blueprints(&self, only: Option<&str>) -> Result<ExitCode, Failure> {
        let mut versions = self.client.blueprints().await?;
        if let Some(name) = only {
            versions.retain(|b| b.name == name);
            if versions.is_empty() {
                return Err(Failure::new(
                    exit::BAD_INPUT,
                    "not_found",
                    format!(
                        "no version of blueprint {name} is published for you (slipway blueprint list)"
                    ),
                ));
            }
        }
        versions.sort_by(|a, b| {
            a.name
                .cmp(&b.name)
                .then_with(|| slipway_core::blueprint::newest_first(&a.version, &b.version))
        });
        if self.json {
            crate::output::json_list("blueprints", &versions, None);
        } else {
            let mut table = crate::output::Table::new(&[
                "BLUEPRINT",
                "VERSION",
                "FOR",
                "DIGEST",
                "PUBLISHED",
                "NOTE",
            ]);
            for b in &versions {
                let mut note = Vec::new();
                if b.latest {
                    note.push("latest".to_owned());
                }
                if let Some(why) = &b.deprecated {
                    note.push(format!("deprecated: {why}"));
                }
                table.row([
                    b.name.clone(),
                    b.version.clone(),
                    who(b),
                    b.digest.chars().take(12).collect(),
                    b.created_at.format("%Y-%m-%d %H:%M").to_string(),
                    note.join("; "),
                ]);
            }
            table.print();
        }
        Ok(ExitCode::SUCCESS)
    }

    /// `slipway blueprint show NAME [VERSION]`.
    pub async fn show_blueprint(&self, name: &str, version: &str) -> Result<ExitCode, Failure> {
        let detail = self.client.blueprint(name, version).await?;
        if self.json {
            crate::output::json(&detail);
            return Ok(ExitCode::SUCCESS);
        }
        let b = &detail.blueprint;
        println!("{} {}", b.name, b.version);
        if !b.description.is_empty() {
            println!("  {}", b.description);
        }
        println!("for:          {}", who(b));
        println!("digest:       {}", b.digest);
        println!(
            "published:    {}",
            b.created_at.format("%Y-%m-%d %H:%M UTC")
        );
        if b.latest {
            println!("latest:       yes");
        }
        if let Some(why) = &b.deprecated {
            println!("deprecated:   {why}");
        }
        let n = detail.nodes;
        println!("nodes:        {}..{} (default {})", n.min, n.max, n.default);
        println!(
            "providers:    {}",
            if detail.providers.is_empty() {
                "none".to_owned()
            } else {
                detail.providers.join(", ")
            }
        );
        println!("files:        {}", detail.files.join(", "));
        if !detail.variables.is_empty() {
            let mut table = crate::output::Table::new(&["VARIABLE", "TYPE", "DEFAULT", "NOTE"]);
            for v in &detail.variables {
                let mut note = Vec::new();
                if v.sensitive {
                    note.push("sensitive".to_owned());
                }
                if !v.allowed.is_empty() {
                    note.push(format!("one of {}", v.allowed.join(", ")));
                }
                if !v.description.is_empty() {
                    note.push(v.description.clone());
                }
                table.row([
                    v.name.clone(),
                    v.kind.clone(),
                    v.default
                        .as_ref()
                        .map_or_else(|| "(required)".to_owned(), |d| d.to_string()),
                    note.join("; "),
                ]);
            }
            table.print();
        }
        Ok(ExitCode::SUCCESS)
    }

    /// `slipway blueprint deprecate NAME VERSION --reason R`.
    pub async fn deprecate_blueprint(
        &self,
        name: &str,
        version: &str,
        reason: &str,
    ) -> Result<ExitCode, Failure> {
        let b = self
            .client
            .deprecate_blueprint(name, version, reason)
            .await?;
        if self.json {
            crate::output::json(&b);
        } else {
            println!(
                "Deprecated blueprint {} version {}: no new cluster runs it; the ones that do keep running.",
                b.name, b.version
            );
        }
        Ok(ExitCode::SUCCESS)
    }

    /// `slipway blueprint latest NAME VERSION`.
    pub async fn move_blueprint_latest(
        &self,
        name: &str,
        version: &str,
    ) -> Result<ExitCode, Failure> {
        let b = self.client.move_blueprint_latest(name, version).await?;
        if self.json {
            crate::output::json(&b);
        } else {
            println!(
                "latest names blueprint {} version {} now.",
                b.name, b.version
            );
        }
        Ok(ExitCode::SUCCESS)
    }
}

/// Whose clusters may use a version.
fn who(b: &slipway_api::types::BlueprintView) -> String {
    match &b.organizations {
        None => "every organization".to_owned(),
        Some(orgs) => orgs.join(", "),
    }
}

/// Where a published version comes from.
pub enum Source {
    Dir(PathBuf),
    /// A repository at a branch, tag or commit; the blueprint at `path`
    /// within it (default: its root).
    Git {
        url: String,
        reference: String,
        path: Option<PathBuf>,
    },
}

/// Fetches `reference` of the repository at `url` — that commit only —
/// into a temporary directory; that directory and the commit. Git never
/// prompts (a repository that needs credentials fails, saying so), and
/// neither the URL nor the ref can be taken for an option.
fn fetch(url: &str, reference: &str) -> Result<(tempfile::TempDir, String), Failure> {
    if url.starts_with('-') || url.is_empty() {
        return Err(Failure::invalid(
            "git",
            format!("not a repository: {url:?}"),
        ));
    }
    slipway_core::JobVersion::parse(reference)
        .map_err(|e| Failure::invalid("ref", e.to_string()))?;
    let checkout = tempfile::Builder::new()
        .prefix("slipway-blueprint-")
        .tempdir()
        .map_err(|e| Failure::new(exit::FAILED, "unreadable", e.to_string()))?;
    let git = |args: &[&str]| {
        let out = std::process::Command::new("git")
            .args(args)
            .current_dir(checkout.path())
            .env("GIT_TERMINAL_PROMPT", "0")
            .stdin(std::process::Stdio::null())
            .output()
            .map_err(|e| Failure::new(exit::FAILED, "git", format!("cannot run git: {e}")))?;
        if !out.status.success() {
            return Err(Failure::new(
                exit::FAILED,
                "git",
                format!(
                    "git {}: {}",
                    args.first().copied().unwrap_or_default(),
                    String::from_utf8_lossy(&out.stderr).trim()
                ),
            ));
        }
        Ok(String::from_utf8_lossy(&out.stdout).trim().to_owned())
    };
    git(&["init", "--quiet"])?;
    git(&["fetch", "--quiet", "--depth", "1", "--", url, reference]).map_err(|e| {
        Failure::new(
            exit::FAILED,
            "git",
            format!("cannot fetch {reference} from {url}: {}", e.error.message),
        )
    })?;
    git(&["checkout", "--quiet", "FETCH_HEAD"])?;
    let commit = git(&["rev-parse", "HEAD"])?;
    Ok((checkout, commit))
}

/// `path` within `root`, refused if it leaves it.
fn inside(root: &Path, path: &Path) -> Result<PathBuf, Failure> {
    use std::path::Component;
    if !path
        .components()
        .all(|c| matches!(c, Component::Normal(_) | Component::CurDir))
    {
        return Err(Failure::invalid(
            "path",
            format!(
                "{} must be a directory within the repository",
                path.display()
            ),
        ));
    }
    Ok(root.join(path))
}
