//! Blueprints as they come in: a directory (or the embedded `local`
//! blueprint) holding `blueprint.toml` and a Terraform module, checked and
//! given a content digest before the store registers it as an immutable
//! version.

use std::collections::BTreeMap;
use std::path::Path;

use sha2::{Digest, Sha256};
use slipway_core::BlueprintName;
use slipway_core::blueprint::BlueprintMetadata;

use crate::module::ModuleInfo;
use crate::providers::LOCK_FILE;
use crate::{EngineError, STANDARD_VARIABLES};

/// The metadata file beside a blueprint's module.
pub const METADATA_FILE: &str = "blueprint.toml";

/// The embedded `local` blueprint's files (see `blueprints/local/`).
const LOCAL_FILES: &[(&str, &str)] = &[
    (
        METADATA_FILE,
        include_str!("../../../blueprints/local/blueprint.toml"),
    ),
    ("main.tf", include_str!("../../../blueprints/local/main.tf")),
    (
        "runner/main.tf",
        include_str!("../../../blueprints/local/runner/main.tf"),
    ),
];

/// A checked blueprint: metadata, module files and their digest.
#[derive(Debug, Clone, PartialEq)]
pub struct BlueprintSource {
    pub metadata: BlueprintMetadata,
    /// The module's files (the metadata file excluded), by relative path.
    pub files: BTreeMap<String, String>,
    /// The metadata file as written.
    pub metadata_text: String,
    /// SHA-256 over the metadata file and every module file.
    pub digest: String,
}

/// The content digest of a blueprint given as files, the metadata file
/// among them: SHA-256 over each path and content, in path order.
pub fn content_digest(files: &BTreeMap<String, String>) -> String {
    let mut hash = Sha256::new();
    for (path, content) in files {
        hash.update(path.as_bytes());
        hash.update([0]);
        hash.update(content.as_bytes());
        hash.update([0]);
    }
    hex::encode(hash.finalize())
}

/// Whether a stored version's module and metadata file are the content
/// its digest names: what a process checks before it runs a version it
/// read from the database.
pub fn matches_digest(
    metadata_text: &str,
    files: &BTreeMap<String, String>,
    digest: &str,
) -> Result<(), String> {
    let mut all = files.clone();
    all.insert(METADATA_FILE.to_owned(), metadata_text.to_owned());
    let computed = content_digest(&all);
    if computed == digest {
        Ok(())
    } else {
        Err(format!(
            "its stored content does not match its digest (published as {digest}, read as {computed}): it was changed after it was published, so it is not run; publish the intended content as a new version"
        ))
    }
}

/// The standard variable that named the executable running Terraform;
/// provisioners now find it as `SLIPWAY_BIN` in their environment.
const NO_LONGER_PASSED: &str = "slipway_bin";

impl BlueprintSource {
    /// The embedded default: a cluster of `slipway node` processes on this
    /// machine, run through real Terraform.
    pub fn embedded_local() -> Self {
        let files = LOCAL_FILES
            .iter()
            .map(|(path, content)| ((*path).to_owned(), (*content).to_owned()))
            .collect();
        Self::from_files(files).expect("the embedded local blueprint is valid")
    }

    /// Checks a blueprint given as files (`blueprint.toml` plus the module).
    pub fn from_files(mut files: BTreeMap<String, String>) -> Result<Self, EngineError> {
        let invalid = |reason: String| EngineError::InvalidModule {
            file: METADATA_FILE.into(),
            reason,
        };
        let digest = content_digest(&files);
        let text = files
            .remove(METADATA_FILE)
            .ok_or_else(|| invalid("missing: every blueprint needs one".into()))?;
        let metadata: BlueprintMetadata =
            toml::from_str(&text).map_err(|e| invalid(e.to_string()))?;
        BlueprintName::parse(&metadata.name).map_err(|e| invalid(e.to_string()))?;
        metadata.check().map_err(|e| invalid(e.to_string()))?;

        let module = ModuleInfo::inspect(&files)?;
        if !files
            .keys()
            .any(|p| p.ends_with(".tf") || p.ends_with(".tf.json"))
        {
            return Err(invalid("the blueprint has no Terraform files".into()));
        }
        if let Some(backend) = &module.backend {
            return Err(invalid(format!(
                "the module declares a {backend:?} backend; Slipway keeps the state, so blueprints must not"
            )));
        }
        if module.variables.contains(NO_LONGER_PASSED) {
            return Err(EngineError::InvalidModule {
                file: "(module)".into(),
                reason: format!(
                    "declares variable {NO_LONGER_PASSED:?}, which Slipway no longer passes: a variable is kept in the state, and the path of one process's executable made every other process's next run replace the cluster; provisioners find the executable as $SLIPWAY_BIN in their environment"
                ),
            });
        }
        let uses_runner_module = metadata
            .jobs
            .as_ref()
            .is_some_and(|j| j.runner == slipway_core::job::RunnerKind::Terraform);
        if uses_runner_module
            && !files.keys().any(|p| {
                p.starts_with("runner/") && (p.ends_with(".tf") || p.ends_with(".tf.json"))
            })
        {
            return Err(invalid(
                "jobs.runner is \"terraform\" but the blueprint has no runner/ module".into(),
            ));
        }
        for name in metadata.variables.keys() {
            if STANDARD_VARIABLES.contains(&name.as_str()) {
                return Err(invalid(format!(
                    "variable {name:?} is one Slipway sets itself; user variables need other names"
                )));
            }
            if !module.variables.contains(name) {
                return Err(invalid(format!(
                    "variable {name:?} is not declared by the module"
                )));
            }
        }
        Ok(Self {
            metadata,
            files,
            metadata_text: text,
            digest,
        })
    }

    /// Reads a blueprint directory: every text file below it, except
    /// Terraform's own working files.
    pub fn read_dir(dir: &Path) -> Result<Self, EngineError> {
        let mut files = BTreeMap::new();
        read_tree(dir, dir, &mut files)?;
        Self::from_files(files)
    }
}

/// Whether a file or directory of that name is part of a blueprint: not
/// hidden (Terraform's data directory, an editor's files) but the
/// dependency lock file, and no state.
fn kept(name: &str) -> bool {
    (name == LOCK_FILE || !name.starts_with('.')) && !name.contains(".tfstate")
}

pub(crate) fn read_tree(
    root: &Path,
    dir: &Path,
    files: &mut BTreeMap<String, String>,
) -> Result<(), EngineError> {
    let entries = std::fs::read_dir(dir).map_err(|e| EngineError::io(dir, e))?;
    for entry in entries {
        let entry = entry.map_err(|e| EngineError::io(dir, e))?;
        let path = entry.path();
        let name = entry.file_name().to_string_lossy().into_owned();
        if !kept(&name) {
            continue;
        }
        if path.is_dir() {
            read_tree(root, &path, files)?;
        } else {
            let content = std::fs::read_to_string(&path).map_err(|e| EngineError::io(&path, e))?;
            let relative = path
                .strip_prefix(root)
                .expect("below the root")
                .to_string_lossy()
                .into_owned();
            files.insert(relative, content);
        }
    }
    Ok(())
}

/// Blueprint versions under a root laid out as `<root>/<name>/<version>/`.
pub fn scan_root(root: &Path) -> Result<Vec<(String, BlueprintSource)>, EngineError> {
    let mut found = Vec::new();
    let mut names: Vec<_> = std::fs::read_dir(root)
        .map_err(|e| EngineError::io(root, e))?
        .filter_map(Result::ok)
        .filter(|e| e.path().is_dir())
        .collect();
    names.sort_by_key(|e| e.file_name());
    for name in names {
        let mut versions: Vec<_> = std::fs::read_dir(name.path())
            .map_err(|e| EngineError::io(&name.path(), e))?
            .filter_map(Result::ok)
            .filter(|e| e.path().is_dir())
            .collect();
        versions.sort_by_key(|e| e.file_name());
        for version in versions {
            let label = version.file_name().to_string_lossy().into_owned();
            slipway_core::names::check_version(&label).map_err(|e| EngineError::InvalidModule {
                file: version.path().display().to_string(),
                reason: e.to_string(),
            })?;
            let source = BlueprintSource::read_dir(&version.path())?;
            if source.metadata.name != name.file_name().to_string_lossy() {
                return Err(EngineError::InvalidModule {
                    file: version.path().join(METADATA_FILE).display().to_string(),
                    reason: format!(
                        "names the blueprint {:?} but lives under {:?}",
                        source.metadata.name,
                        name.file_name()
                    ),
                });
            }
            found.push((label, source));
        }
    }
    Ok(found)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn files(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(p, c)| (p.to_string(), c.to_string()))
            .collect()
    }

    #[test]
    fn the_embedded_local_blueprint_is_valid() {
        let local = BlueprintSource::embedded_local();
        assert_eq!(local.metadata.name, "local");
        assert!(local.files.contains_key("main.tf"));
        assert!(!local.files.contains_key(METADATA_FILE));
        assert_eq!(local.digest.len(), 64);
    }

    #[test]
    fn refuses_backends_unknown_and_standard_variables() {
        let meta = "name = \"demo\"\n";
        let with_backend = files(&[
            (METADATA_FILE, meta),
            ("main.tf", "terraform {\n  backend \"s3\" {}\n}\n"),
        ]);
        assert!(
            BlueprintSource::from_files(with_backend)
                .unwrap_err()
                .to_string()
                .contains("backend")
        );

        let undeclared = files(&[
            (
                METADATA_FILE,
                "name = \"demo\"\n[variables.size]\ntype = \"string\"\n",
            ),
            ("main.tf", "variable \"other\" {}\n"),
        ]);
        assert!(
            BlueprintSource::from_files(undeclared)
                .unwrap_err()
                .to_string()
                .contains("size")
        );

        let standard = files(&[
            (
                METADATA_FILE,
                "name = \"demo\"\n[variables.node_count]\ntype = \"number\"\n",
            ),
            ("main.tf", "variable \"node_count\" {}\n"),
        ]);
        assert!(
            BlueprintSource::from_files(standard)
                .unwrap_err()
                .to_string()
                .contains("node_count")
        );

        assert!(BlueprintSource::from_files(files(&[("main.tf", "")])).is_err());

        // The executable is no variable any more: a module still declaring
        // it is told where to find it.
        let old = files(&[
            (METADATA_FILE, meta),
            ("main.tf", "variable \"slipway_bin\" {}\n"),
        ]);
        let err = BlueprintSource::from_files(old).unwrap_err().to_string();
        assert!(err.contains("$SLIPWAY_BIN"), "{err}");
    }

    #[test]
    fn the_digest_follows_the_content() {
        let a = files(&[
            (METADATA_FILE, "name = \"demo\"\n"),
            ("main.tf", "variable \"x\" {}\n"),
        ]);
        let mut b = a.clone();
        b.insert("main.tf".into(), "variable \"y\" {}\n".into());
        let (a, b) = (
            BlueprintSource::from_files(a).unwrap(),
            BlueprintSource::from_files(b).unwrap(),
        );
        assert_ne!(a.digest, b.digest);
    }

    #[test]
    fn scans_name_and_version_directories() {
        let root = tempfile::tempdir().unwrap();
        let v = root.path().join("demo").join("1.2.0");
        std::fs::create_dir_all(&v).unwrap();
        std::fs::write(v.join(METADATA_FILE), "name = \"demo\"\n").unwrap();
        std::fs::write(v.join("main.tf"), "variable \"x\" {}\n").unwrap();
        std::fs::create_dir_all(v.join(".terraform")).unwrap();
        std::fs::write(v.join(".terraform").join("junk"), "x").unwrap();
        std::fs::write(v.join(".editor-swap"), "x").unwrap();
        std::fs::write(v.join(LOCK_FILE), "# providers\n").unwrap();
        let found = scan_root(root.path()).unwrap();
        assert_eq!(found.len(), 1);
        assert_eq!(found[0].0, "1.2.0");
        assert_eq!(
            found[0].1.files.keys().collect::<Vec<_>>(),
            [LOCK_FILE, "main.tf"]
        );
    }
}

/// The most an uploaded blueprint archive may unpack to, in bytes.
pub const ARCHIVE_MAX_BYTES: u64 = 16 * 1024 * 1024;
/// The most files an uploaded blueprint archive may hold.
pub const ARCHIVE_MAX_FILES: usize = 2_000;

/// A blueprint directory packed for `slipway blueprint publish`: the files
/// [`BlueprintSource::read_dir`] reads, in a gzip'd tar archive.
pub fn pack_dir(dir: &Path) -> Result<Vec<u8>, EngineError> {
    let mut files = BTreeMap::new();
    read_tree(dir, dir, &mut files)?;
    let mut archive = tar::Builder::new(flate2::write::GzEncoder::new(
        Vec::new(),
        flate2::Compression::default(),
    ));
    for (path, content) in &files {
        let mut header = tar::Header::new_gnu();
        header.set_size(content.len() as u64);
        header.set_mode(0o644);
        header.set_entry_type(tar::EntryType::Regular);
        archive
            .append_data(&mut header, path, content.as_bytes())
            .map_err(|e| EngineError::io(dir, e))?;
    }
    archive
        .into_inner()
        .and_then(|gz| gz.finish())
        .map_err(|e| EngineError::io(dir, e))
}

/// The files of an uploaded blueprint archive (gzip'd tar), as
/// [`BlueprintSource::read_dir`] would read them from its directory:
/// regular text files below the root, hidden files and Terraform's state
/// left out. Anything else — a link, a path that leaves the root, a file
/// that is not UTF-8 text, more than [`ARCHIVE_MAX_FILES`] files or
/// [`ARCHIVE_MAX_BYTES`] unpacked (counted as read, not as announced) — is
/// refused, naming it.
pub fn unpack(archive: &[u8]) -> Result<BTreeMap<String, String>, EngineError> {
    use std::io::Read as _;
    use std::path::Component;
    let refuse = |file: &str, reason: String| EngineError::InvalidModule {
        file: file.to_owned(),
        reason,
    };
    let unreadable = |e: std::io::Error| {
        refuse(
            "(archive)",
            format!("not a gzip'd tar archive of the blueprint's directory: {e}"),
        )
    };
    let mut files = BTreeMap::new();
    let mut left = ARCHIVE_MAX_BYTES;
    let mut tar = tar::Archive::new(flate2::read::GzDecoder::new(archive));
    for entry in tar.entries().map_err(unreadable)? {
        let mut entry = entry.map_err(unreadable)?;
        let path = entry.path().map_err(unreadable)?.into_owned();
        let shown = path.display().to_string();
        let mut parts = Vec::new();
        for component in path.components() {
            match component {
                Component::Normal(part) => parts.push(part.to_string_lossy().into_owned()),
                Component::CurDir => {}
                Component::ParentDir | Component::RootDir | Component::Prefix(_) => {
                    return Err(refuse(
                        &shown,
                        "leaves the blueprint's directory: paths must stay below it".into(),
                    ));
                }
            }
        }
        let kind = entry.header().entry_type();
        if kind.is_dir() || parts.is_empty() {
            continue;
        }
        if !kind.is_file() {
            return Err(refuse(
                &shown,
                format!("is a {kind:?} entry: a blueprint holds regular files only"),
            ));
        }
        if !parts.iter().all(|p| kept(p)) {
            continue;
        }
        if files.len() == ARCHIVE_MAX_FILES {
            return Err(refuse(
                "(archive)",
                format!("holds more than {ARCHIVE_MAX_FILES} files"),
            ));
        }
        let mut bytes = Vec::new();
        (&mut entry)
            .take(left + 1)
            .read_to_end(&mut bytes)
            .map_err(unreadable)?;
        left = left.checked_sub(bytes.len() as u64).ok_or_else(|| {
            refuse(
                "(archive)",
                format!("unpacks to more than {ARCHIVE_MAX_BYTES} bytes"),
            )
        })?;
        let text = String::from_utf8(bytes).map_err(|_| {
            refuse(
                &shown,
                "is not UTF-8 text: a blueprint holds text files".into(),
            )
        })?;
        files.insert(parts.join("/"), text);
    }
    Ok(files)
}

#[cfg(test)]
mod archive_tests {
    use super::*;

    fn archive(entries: &[(&str, tar::EntryType, &[u8])]) -> Vec<u8> {
        let mut builder = tar::Builder::new(flate2::write::GzEncoder::new(
            Vec::new(),
            flate2::Compression::fast(),
        ));
        for (path, kind, content) in entries {
            let mut header = tar::Header::new_gnu();
            header.set_entry_type(*kind);
            header.set_size(content.len() as u64);
            header.set_mode(0o644);
            // Written raw, so that hostile paths reach the archive as given.
            header.as_gnu_mut().unwrap().name[..path.len()].copy_from_slice(path.as_bytes());
            header.set_cksum();
            builder.append(&header, *content).unwrap();
        }
        builder.into_inner().unwrap().finish().unwrap()
    }

    #[test]
    fn a_packed_directory_unpacks_to_what_reading_it_gives() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("runner")).unwrap();
        std::fs::create_dir_all(dir.path().join(".terraform")).unwrap();
        std::fs::write(dir.path().join("main.tf"), "# root\n").unwrap();
        std::fs::write(dir.path().join("runner/main.tf"), "# runner\n").unwrap();
        std::fs::write(dir.path().join(".terraform/junk"), "x").unwrap();
        std::fs::write(dir.path().join("terraform.tfstate"), "{}").unwrap();
        let files = unpack(&pack_dir(dir.path()).unwrap()).unwrap();
        assert_eq!(
            files.keys().collect::<Vec<_>>(),
            ["main.tf", "runner/main.tf"]
        );
    }

    #[test]
    fn hostile_archives_are_refused_naming_what_is_wrong() {
        let refused = |bytes: &[u8]| match unpack(bytes) {
            Err(EngineError::InvalidModule { file, reason }) => format!("{file}: {reason}"),
            other => panic!("accepted: {other:?}"),
        };
        let regular = tar::EntryType::Regular;
        assert!(
            refused(&archive(&[("../escape.tf", regular, b"x")]))
                .contains("leaves the blueprint's directory")
        );
        assert!(
            refused(&archive(&[("/etc/passwd", regular, b"x")]))
                .contains("leaves the blueprint's directory")
        );
        assert!(
            refused(&archive(&[("link.tf", tar::EntryType::Symlink, b"")]))
                .contains("regular files only")
        );
        assert!(refused(&archive(&[("blob.bin", regular, &[0xff, 0xfe])])).contains("not UTF-8"));
        assert!(refused(b"not an archive").starts_with("(archive): not a gzip'd tar archive"));
        // A bomb: what it unpacks to counts, however small it is packed.
        let big = vec![b'a'; (ARCHIVE_MAX_BYTES + 1) as usize];
        let bomb = archive(&[("big.tf", regular, &big)]);
        assert!(bomb.len() < 1024 * 1024, "packed small: {}", bomb.len());
        assert!(refused(&bomb).contains("unpacks to more than"));
    }
}
