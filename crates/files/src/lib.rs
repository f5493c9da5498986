//! Files only their owner may read.
//!
//! Slipway's data directory holds the database (with its `-wal` and `-shm`
//! files), sealed secrets, the bootstrap token, Terraform's working
//! directories and archived logs; the CLI saves sign-ins. All of it is
//! private to the user the process runs as: directories `0700`, files
//! `0600`, and processes that own a data directory run with a umask of
//! `077`, so files other code creates there (SQLite's, Terraform's) are
//! private too.

use std::io::Write;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::Path;

/// Makes every file and directory this process creates from now on private
/// to its user (umask `077`). For processes that own a data directory.
pub fn restrict_new_files() {
    nix::sys::stat::umask(nix::sys::stat::Mode::from_bits_truncate(0o077));
}

/// Creates `dir` (and its parents) if needed, and makes it private (`0700`),
/// whatever mode it had.
pub fn private_dir(dir: &Path) -> std::io::Result<()> {
    std::fs::create_dir_all(dir)?;
    std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))
}

/// Writes `content` to `path` so that only its owner can read it (`0600`):
/// into a new file beside it first (hidden, named for this process, so
/// neither a reader of the directory nor another writer takes it for the
/// real one), synced, then renamed over it — a reader never sees half a
/// file, a crash leaves the old content or the new, and the old content is
/// never left readable. The staged file is removed if anything fails.
pub fn write_private(path: &Path, content: &[u8]) -> std::io::Result<()> {
    let staged = staged_path(path);
    let written = (|| {
        let mut file = std::fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(0o600)
            .open(&staged)?;
        // An existing file keeps its mode on open: set it.
        file.set_permissions(std::fs::Permissions::from_mode(0o600))?;
        file.write_all(content)?;
        file.sync_all()?;
        std::fs::rename(&staged, path)
    })();
    if written.is_err() {
        let _ = std::fs::remove_file(&staged);
    }
    written
}

/// Creates `path`, which must not exist yet, with `content`, readable by its
/// owner only (`0600`) from the start. Not synced: for files in a directory
/// that is itself new and dies with what uses it (a run's directory).
pub fn write_new_private(path: &Path, content: &[u8]) -> std::io::Result<()> {
    std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)?
        .write_all(content)
}

/// `dir/.name.tmp-<pid>-<n>`: hidden, unique to this process and write, and
/// not ending like the real file (so a scan for `*.json` skips it).
fn staged_path(path: &Path) -> std::path::PathBuf {
    use std::sync::atomic::{AtomicU64, Ordering};
    static WRITES: AtomicU64 = AtomicU64::new(0);
    let mut name = std::ffi::OsString::from(".");
    name.push(path.file_name().unwrap_or_default());
    name.push(format!(
        ".tmp-{}-{}",
        std::process::id(),
        WRITES.fetch_add(1, Ordering::Relaxed)
    ));
    path.with_file_name(name)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mode(path: &Path) -> u32 {
        std::fs::metadata(path).unwrap().permissions().mode() & 0o777
    }

    #[test]
    fn files_and_directories_are_private() {
        let temp = tempfile::tempdir().unwrap();
        let dir = temp.path().join("a/b");
        private_dir(&dir).unwrap();
        assert_eq!(mode(&dir), 0o700);
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o755)).unwrap();
        private_dir(&dir).unwrap();
        assert_eq!(mode(&dir), 0o700, "an existing directory is made private");

        let file = dir.join("secret");
        std::fs::write(&file, "old").unwrap();
        std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o644)).unwrap();
        write_private(&file, b"new").unwrap();
        assert_eq!(std::fs::read(&file).unwrap(), b"new");
        assert_eq!(mode(&file), 0o600);
        let left: Vec<_> = std::fs::read_dir(&dir).unwrap().collect();
        assert_eq!(left.len(), 1, "nothing staged is left behind");

        // A write that fails (its directory is gone) leaves nothing.
        assert!(write_private(&temp.path().join("gone/secret"), b"x").is_err());

        let fresh = dir.join("fresh");
        write_new_private(&fresh, b"first").unwrap();
        assert_eq!(mode(&fresh), 0o600);
        assert!(
            write_new_private(&fresh, b"second").is_err(),
            "never over an existing file"
        );
        assert_eq!(std::fs::read(&fresh).unwrap(), b"first");
    }
}
