//! Key files in the data dir: readable by the owner only, written whole.

use std::io::Write;
use std::path::Path;

/// Creates `path` (and its folder) holding `bytes`, mode 0600; fails if it exists, so
/// a key is never overwritten.
pub fn write_private(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut file = options.open(path)?;
    file.write_all(bytes)?;
    file.sync_all()
}

/// Replaces `path` with `bytes` (mode 0600) in one step: written beside it first, then
/// renamed over it, so a reader sees the old content or the new, never a part. The new
/// file keeps the old one's owner where this process may set it (a rotation run as
/// root must leave a file the service's own user can still read).
pub fn replace_private(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let mut staged = path.as_os_str().to_owned();
    staged.push(".new");
    let staged = std::path::PathBuf::from(staged);
    // What an interrupted replacement left behind.
    match std::fs::remove_file(&staged) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => return Err(e),
        _ => {}
    }
    write_private(&staged, bytes)?;
    #[cfg(unix)]
    if let Ok(old) = std::fs::metadata(path) {
        use std::os::unix::fs::MetadataExt;
        // Best effort: without the right to, the file stays the caller's.
        let _ = std::os::unix::fs::chown(&staged, Some(old.uid()), Some(old.gid()));
    }
    std::fs::rename(&staged, path)?;
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        // The rename itself survives a crash only once the folder is on disk.
        std::fs::File::open(dir)?.sync_all()?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_replaced_file_holds_the_new_bytes_and_nothing_is_left_beside_it() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("keys/k");
        write_private(&path, b"old").unwrap();
        assert!(write_private(&path, b"again").is_err());
        std::fs::write(dir.path().join("keys/k.new"), b"left by a crash").unwrap();
        replace_private(&path, b"new").unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), b"new");
        assert_eq!(std::fs::read_dir(dir.path().join("keys")).unwrap().count(), 1);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            assert_eq!(std::fs::metadata(&path).unwrap().permissions().mode() & 0o777, 0o600);
        }
    }
}
