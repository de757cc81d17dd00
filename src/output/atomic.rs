//! Atomic file replacement.
//!
//! Writes go to a temporary file in the destination's directory, which is
//! flushed and synced and then renamed over the destination. On POSIX file
//! systems `rename` within one directory replaces the target atomically
//! (POSIX.1-2017, `rename()`), so readers see either the old file or the
//! complete new one, never a torn write; the temporary must live in the same
//! directory because a rename cannot cross file systems. The directory is
//! then synced too, as the rename itself is only durable once its directory
//! entry is on disk.

use std::ffi::OsString;
use std::fs::File;
use std::io::{BufWriter, Error, ErrorKind};
use std::path::{Path, PathBuf};

/// Writes `path` atomically: either it ends up with everything `write`
/// produced, or it is left exactly as it was.
///
/// `write` fills a buffered temporary file `.<name>.tmp` next to `path`,
/// which is then flushed, synced to disk and renamed onto `path`. If `write`
/// or any of those steps fails, or `write` panics, the temporary file is
/// removed and the error returned; an existing `path` is untouched.
/// Concurrent writers to the same `path` share the temporary name and are
/// not supported.
///
/// Fails with [`ErrorKind::InvalidInput`] if `path` has no file name.
pub fn write_atomically(
    path: &Path,
    write: impl FnOnce(&mut BufWriter<File>) -> std::io::Result<()>,
) -> std::io::Result<()> {
    let name = path.file_name().ok_or_else(|| {
        Error::new(
            ErrorKind::InvalidInput,
            format!("{} has no file name", path.display()),
        )
    })?;
    let directory = path.parent().unwrap_or(Path::new(""));
    let mut temporary_name = OsString::from(".");
    temporary_name.push(name);
    temporary_name.push(".tmp");
    let temporary = RemoveOnDrop(directory.join(temporary_name));

    // `create` truncates, so a temporary left by a killed process is reused.
    let mut writer = BufWriter::new(File::create(&temporary.0)?);
    write(&mut writer)?;
    let file = writer.into_inner().map_err(|e| e.into_error())?;
    file.sync_all()?;
    drop(file);
    std::fs::rename(&temporary.0, path)?;
    std::mem::forget(temporary);
    sync_directory(directory);
    Ok(())
}

/// Deletes the temporary file unless disarmed with `mem::forget`, which
/// covers early returns and panics in the caller's closure alike.
struct RemoveOnDrop(PathBuf);

impl Drop for RemoveOnDrop {
    fn drop(&mut self) {
        // Best effort: the original error matters more than this one.
        let _ = std::fs::remove_file(&self.0);
    }
}

/// Makes the rename durable. Failure is ignored because the new file is
/// already in place and complete; only its survival of a power cut is at
/// stake, and some file systems cannot sync directories at all.
fn sync_directory(directory: &Path) {
    #[cfg(unix)]
    {
        let directory = if directory.as_os_str().is_empty() {
            Path::new(".")
        } else {
            directory
        };
        if let Ok(handle) = File::open(directory) {
            let _ = handle.sync_all();
        }
    }
    #[cfg(not(unix))]
    let _ = directory;
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs;
    use std::io::Write;

    fn entries(dir: &Path) -> Vec<String> {
        let mut names: Vec<String> = fs::read_dir(dir)
            .expect("readable temp dir")
            .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        names
    }

    #[test]
    fn success_replaces_the_file_and_leaves_no_temporary() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("result.txt");
        fs::write(&path, "old").expect("seed file");
        write_atomically(&path, |w| w.write_all(b"new contents")).expect("write succeeds");
        assert_eq!(fs::read_to_string(&path).expect("read"), "new contents");
        assert_eq!(entries(dir.path()), ["result.txt"]);
    }

    #[test]
    fn success_creates_a_missing_file() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("fresh.bin");
        write_atomically(&path, |w| w.write_all(&[1, 2, 3])).expect("write succeeds");
        assert_eq!(fs::read(&path).expect("read"), [1, 2, 3]);
    }

    #[test]
    fn error_keeps_the_old_file_and_removes_the_temporary() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("result.txt");
        fs::write(&path, "old").expect("seed file");
        let err = write_atomically(&path, |w| {
            // Large enough to be flushed to the temporary before failing.
            w.write_all(&vec![b'x'; 1 << 16])?;
            Err(Error::other("solver diverged"))
        })
        .expect_err("closure error is returned");
        assert_eq!(err.to_string(), "solver diverged");
        assert_eq!(fs::read_to_string(&path).expect("read"), "old");
        assert_eq!(entries(dir.path()), ["result.txt"]);
    }

    #[test]
    fn error_without_an_old_file_leaves_nothing() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("never.txt");
        let result = write_atomically(&path, |_| Err(Error::other("nope")));
        assert!(result.is_err());
        assert!(entries(dir.path()).is_empty());
    }

    #[test]
    fn panic_in_the_closure_removes_the_temporary() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("result.txt");
        fs::write(&path, "old").expect("seed file");
        let outcome = std::panic::catch_unwind(|| {
            let _ = write_atomically(&path, |w| {
                w.write_all(b"partial")?;
                panic!("bug in a writer");
            });
        });
        assert!(outcome.is_err());
        assert_eq!(fs::read_to_string(&path).expect("read"), "old");
        assert_eq!(entries(dir.path()), ["result.txt"]);
    }

    #[test]
    fn stale_temporary_from_a_killed_run_is_overwritten() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("result.txt");
        fs::write(dir.path().join(".result.txt.tmp"), "stale garbage").expect("seed");
        write_atomically(&path, |w| w.write_all(b"ok")).expect("write succeeds");
        assert_eq!(fs::read_to_string(&path).expect("read"), "ok");
        assert_eq!(entries(dir.path()), ["result.txt"]);
    }

    #[test]
    fn missing_directory_and_nameless_path_are_errors() {
        let dir = tempfile::tempdir().expect("temp dir");
        let missing = dir.path().join("no/such/dir/out.txt");
        assert_eq!(
            write_atomically(&missing, |_| Ok(()))
                .expect_err("directory does not exist")
                .kind(),
            ErrorKind::NotFound
        );
        assert_eq!(
            write_atomically(Path::new("/"), |_| Ok(()))
                .expect_err("no file name")
                .kind(),
            ErrorKind::InvalidInput
        );
    }
}
