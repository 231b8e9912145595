//! The one atomic file writer of pixveil: every output file, key file and checkpoint is written
//! to a temporary file in the destination's folder, flushed to disk, then renamed over the
//! destination, so a failure or a crash never leaves a partial file at the destination.
//!
//! Temporary files are named `.tmp-pixveil…` (a prefix `.tmp`, which the service's key store
//! sweeps after a crash) and live in the destination's folder, so the rename is atomic.
//!
//! A temporary file is removed when its writer fails or is dropped uncommitted. A process
//! killed by a signal runs no destructor: while it exists, every temporary file (and folder,
//! [`create_tracked`]) is also listed in a process-wide registry, which a signal handler empties
//! with [`remove_pending`] before the process exits.

use std::{
    fs,
    io::{self, Write},
    path::{Path, PathBuf},
    sync::{Mutex, PoisonError},
};

/// Temporary files and folders being written now (see [`remove_pending`]).
static PENDING: Mutex<Vec<PathBuf>> = Mutex::new(Vec::new());

/// A temporary file or folder listed for [`remove_pending`] until this is dropped.
#[derive(Debug)]
#[must_use = "the path is listed only while the guard lives"]
pub struct Tracked {
    path: PathBuf,
}

impl Drop for Tracked {
    fn drop(&mut self) {
        let mut pending = PENDING.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(i) = pending.iter().rposition(|p| *p == self.path) {
            pending.swap_remove(i);
        }
    }
}

/// Lists `path` (a temporary file or folder that must not outlive the process) for
/// [`remove_pending`] until the returned guard is dropped.
pub fn track_pending(path: &Path) -> Tracked {
    PENDING
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .push(path.to_path_buf());
    Tracked {
        path: path.to_path_buf(),
    }
}

/// Creates a temporary file or folder with `create` and lists the path `path_of` gives for
/// [`remove_pending`], as one step: the registry stays locked while `create` runs, so a
/// signal handler emptying it meanwhile waits for the new path instead of missing it (listing
/// after creating left a window in which a signal left the file behind).
///
/// # Errors
/// Those of `create`.
pub fn create_tracked<T>(
    create: impl FnOnce() -> io::Result<T>,
    path_of: impl FnOnce(&T) -> PathBuf,
) -> io::Result<(T, Tracked)> {
    let mut pending = PENDING.lock().unwrap_or_else(PoisonError::into_inner);
    let created = create()?;
    let path = path_of(&created);
    pending.push(path.clone());
    Ok((created, Tracked { path }))
}

/// Removes every temporary file and folder being written now: for a signal handler, just
/// before the process exits without running destructors. Best effort; returns how many
/// were removed.
pub fn remove_pending() -> usize {
    remove_pending_where(|_| true)
}

/// [`remove_pending`] of the listed paths that `select` accepts.
fn remove_pending_where(select: impl Fn(&Path) -> bool) -> usize {
    let taken: Vec<PathBuf> = {
        let mut pending = PENDING.lock().unwrap_or_else(PoisonError::into_inner);
        let (taken, kept) = std::mem::take(&mut *pending)
            .into_iter()
            .partition(|p| select(p));
        *pending = kept;
        taken
    };
    taken.iter().filter(|p| remove_path(p)).count()
}

/// Removes a file, or a folder another thread may still be writing files into: the folder is
/// renamed first, so that no new file can be created in it by its old path.
fn remove_path(p: &Path) -> bool {
    if !p.is_dir() {
        return fs::remove_file(p).is_ok();
    }
    let mut doomed = p.as_os_str().to_owned();
    doomed.push(".removing");
    let doomed = PathBuf::from(doomed);
    let target = if fs::rename(p, &doomed).is_ok() {
        doomed.as_path()
    } else {
        p
    };
    // A file whose creation began before the rename can still land in it: retry.
    (0..8).any(|_| fs::remove_dir_all(target).is_ok())
}

/// Who may read the written file.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum Access {
    /// An ordinary output file: on unix mode `0666` minus the umask, as a file created the
    /// ordinary way.
    #[default]
    Ordinary,
    /// A secret (a key file): on unix mode `0600`, set on the temporary file before anything is
    /// written, whatever the umask.
    OwnerOnly,
}

/// The folder a temporary file for `path` is created in: its parent, or `.` for a bare name.
pub fn parent_dir(path: &Path) -> PathBuf {
    match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    }
}

/// A file being written atomically: a temporary file beside its destination, which becomes the
/// destination on [`PendingFile::commit`] and is removed if dropped uncommitted.
#[derive(Debug)]
pub struct PendingFile {
    tmp: tempfile::NamedTempFile,
    dest: PathBuf,
    /// Dropped after `tmp` (fields drop in order), also when `commit` has moved `tmp` out.
    _tracked: Tracked,
}

impl PendingFile {
    /// Creates the temporary file in the folder of `dest`.
    ///
    /// # Errors
    /// The folder does not exist or does not accept a new file; on unix, the owner-only
    /// permissions cannot be set.
    pub fn beside(dest: &Path, access: Access) -> io::Result<Self> {
        let mut b = tempfile::Builder::new();
        b.prefix(".tmp-pixveil");
        let mode = match access {
            Access::Ordinary => 0o666,
            Access::OwnerOnly => 0o600,
        };
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            b.permissions(fs::Permissions::from_mode(mode));
        }
        #[cfg(not(unix))]
        let _ = mode;
        let (tmp, _tracked) =
            create_tracked(|| b.tempfile_in(parent_dir(dest)), |t| t.path().to_owned())?;
        #[cfg(unix)]
        if access == Access::OwnerOnly {
            use std::os::unix::fs::PermissionsExt;
            tmp.as_file()
                .set_permissions(fs::Permissions::from_mode(0o600))?;
        }
        Ok(Self {
            tmp,
            dest: dest.to_path_buf(),
            _tracked,
        })
    }

    /// Path of the temporary file, for writers that take a path.
    pub fn path(&self) -> &Path {
        self.tmp.path()
    }

    /// The open temporary file.
    pub fn file(&mut self) -> &mut fs::File {
        self.tmp.as_file_mut()
    }

    /// Flushes the temporary file to disk and renames it over the destination.
    ///
    /// # Errors
    /// I/O errors of the flush or the rename; the destination is then left as it was.
    pub fn commit(self) -> io::Result<()> {
        // Writers that took the path may have replaced the file: sync what is at the path.
        fs::File::open(self.tmp.path())?.sync_all()?;
        self.tmp.as_file().sync_all()?;
        self.tmp.persist(&self.dest).map_err(|e| e.error)?;
        Ok(())
    }
}

/// Writes `bytes` to `path` atomically (see the [module](self) documentation).
///
/// # Errors
/// I/O errors; `path` is then left as it was and no temporary file remains.
pub fn write_atomic(path: &Path, bytes: &[u8], access: Access) -> io::Result<()> {
    let mut pending = PendingFile::beside(path, access)?;
    pending.file().write_all(bytes)?;
    pending.commit()
}

/// Writes a file atomically through a writer that takes a path (a checkpoint writer, say):
/// `write` gets the temporary file's path, and the result is renamed to `path` if it succeeds.
///
/// # Errors
/// `write`'s error, or an I/O error (converted with `From<io::Error>`).
pub fn write_atomic_with<E: From<io::Error>>(
    path: &Path,
    access: Access,
    write: impl FnOnce(&Path) -> Result<(), E>,
) -> Result<(), E> {
    let pending = PendingFile::beside(path, access)?;
    write(pending.path())?;
    pending.commit()?;
    Ok(())
}

/// Fails unless a file can be written at `path`: it is not a folder, and its folder exists and
/// accepts a new file (a temporary file is created there and removed). For checks before long
/// work starts.
///
/// # Errors
/// `path` is a folder ("it is a folder"), or the temporary file cannot be created.
pub fn check_writable(path: &Path) -> io::Result<()> {
    if path.is_dir() {
        return Err(io::Error::other("it is a folder"));
    }
    drop(PendingFile::beside(path, Access::Ordinary)?);
    Ok(())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn mode(p: &Path) -> u32 {
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            fs::metadata(p).unwrap().permissions().mode() & 0o777
        }
        #[cfg(not(unix))]
        {
            let _ = p;
            0
        }
    }

    #[test]
    fn writes_replaces_and_leaves_nothing_behind() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("out.bin");
        write_atomic(&p, b"abc", Access::Ordinary).unwrap();
        assert_eq!(fs::read(&p).unwrap(), b"abc");
        let reference = dir.path().join("ref");
        fs::write(&reference, b"").unwrap();
        assert_eq!(
            mode(&p),
            mode(&reference),
            "ordinary files follow the umask"
        );
        fs::remove_file(&reference).unwrap();
        write_atomic(&p, b"de", Access::Ordinary).unwrap();
        assert_eq!(fs::read(&p).unwrap(), b"de");
        let bad = dir.path().join("no/such/dir/out.bin");
        assert!(write_atomic(&bad, b"x", Access::Ordinary).is_err());
        assert_eq!(
            fs::read_dir(dir.path()).unwrap().count(),
            1,
            "no stray files"
        );
    }

    #[test]
    fn a_signal_during_creation_still_removes_the_new_file() {
        // The handler's sweep starts while the file is being created (the window in which
        // `sigterm_mid_write_leaves_no_temporary_files` once saw a file left behind): it must
        // wait for the creation and remove the new file.
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().to_path_buf();
        let mut sweep = None;
        let (tmp, tracked) = create_tracked(
            || {
                let swept = root.clone();
                sweep = Some(std::thread::spawn(move || {
                    remove_pending_where(|q| q.starts_with(&swept))
                }));
                // Give the sweep every chance to run before the file exists.
                std::thread::sleep(std::time::Duration::from_millis(50));
                tempfile::Builder::new().tempfile_in(&root)
            },
            |t| t.path().to_owned(),
        )
        .unwrap();
        let path = tmp.path().to_owned();
        let (_, _) = tmp.keep().unwrap(); // a killed process runs no destructor
        assert_eq!(sweep.unwrap().join().unwrap(), 1);
        assert!(!path.exists(), "left behind: {}", path.display());
        drop(tracked);
    }

    #[test]
    fn pending_files_are_listed_until_done_and_removed_on_demand() {
        let dir = tempfile::tempdir().unwrap();
        let count = || fs::read_dir(dir.path()).unwrap().count();
        // A writer that fails halfway leaves nothing.
        let p = dir.path().join("big.bin");
        let e = write_atomic_with::<io::Error>(&p, Access::Ordinary, |t| {
            fs::write(t, vec![0u8; 1 << 20])?;
            Err(io::Error::other("interrupted"))
        });
        assert!(e.is_err());
        assert_eq!(count(), 0, "no temporary file after an error");
        // What a signal handler does while a write is in progress (the process then exits
        // without running destructors, as `forget` here).
        let mut pending = PendingFile::beside(&p, Access::Ordinary).unwrap();
        pending.file().write_all(b"half").unwrap();
        let tmp = pending.path().to_path_buf();
        assert!(tmp.exists());
        std::mem::forget(pending);
        // (Only this test's folder: tests run in parallel, each with its own pending files.)
        assert_eq!(remove_pending_where(|q| q.starts_with(dir.path())), 1);
        assert!(!tmp.exists());
        assert_eq!(count(), 0, "no temporary file after remove_pending");
        // Committed files are no longer listed.
        write_atomic(&p, b"done", Access::Ordinary).unwrap();
        let listed = PENDING
            .lock()
            .unwrap()
            .iter()
            .filter(|q| q.starts_with(dir.path()))
            .count();
        assert_eq!(listed, 0);
    }

    #[test]
    fn writability_check() {
        let dir = tempfile::tempdir().unwrap();
        check_writable(&dir.path().join("new.bin")).unwrap();
        let e = check_writable(dir.path()).unwrap_err();
        assert_eq!(e.to_string(), "it is a folder");
        assert!(check_writable(&dir.path().join("no/such/out.bin")).is_err());
        assert_eq!(
            fs::read_dir(dir.path()).unwrap().count(),
            0,
            "no stray files"
        );
    }

    #[test]
    fn secrets_are_owner_only() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("key.pxk");
        write_atomic(&p, b"secret", Access::OwnerOnly).unwrap();
        assert_eq!(fs::read(&p).unwrap(), b"secret");
        #[cfg(unix)]
        assert_eq!(mode(&p), 0o600);
    }

    #[test]
    fn writer_by_path_commits_only_on_success() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("model.bin");
        write_atomic_with::<io::Error>(&p, Access::Ordinary, |t| fs::write(t, b"m1")).unwrap();
        assert_eq!(fs::read(&p).unwrap(), b"m1");
        let e = write_atomic_with::<io::Error>(&p, Access::Ordinary, |t| {
            fs::write(t, b"half")?;
            Err(io::Error::other("failed"))
        });
        assert!(e.is_err());
        assert_eq!(
            fs::read(&p).unwrap(),
            b"m1",
            "a failed write leaves the file"
        );
        assert_eq!(
            fs::read_dir(dir.path()).unwrap().count(),
            1,
            "no stray files"
        );
    }
}
