//! Bounded reading (raw or gzip) and atomic writing, shared by every format module.
//!
//! Reading never allocates from a header value: bytes are pulled through
//! [`Read::take`]`(limit + 1)`, so a buffer grows only as real data arrives, and anything longer
//! than the limit is refused as [`Error::Limits`].

use std::{
    fs,
    io::{self, BufRead, BufReader, Read, Write},
    path::Path,
};

use flate2::{bufread::MultiGzDecoder, Compression, GzBuilder};

use crate::{Error, Result};

/// Largest decoded (decompressed) size of one input file, in bytes: 1 GiB.
///
/// The largest standard file pixveil reads, MNIST's `train-images-idx3-ubyte`, is 47 MB.
pub const MAX_DECODED_BYTES: u64 = 1 << 30;

/// The two magic bytes that open a gzip stream (RFC 1952).
pub(crate) const GZIP_MAGIC: [u8; 2] = [0x1f, 0x8b];

/// Decoded content of a file and whether it was gzip-compressed.
#[derive(Debug)]
pub(crate) struct Loaded {
    pub(crate) bytes: Vec<u8>,
    pub(crate) gzip: bool,
}

/// Wraps an I/O error with the path it concerns.
pub(crate) fn io_err(path: &Path) -> impl FnOnce(io::Error) -> Error + '_ {
    move |source| Error::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// Reads `path` fully, decompressing it if it starts with the gzip magic, refusing more than
/// `limit` decoded bytes.
pub(crate) fn load_file(path: &Path, limit: u64) -> Result<Loaded> {
    let meta = fs::metadata(path).map_err(io_err(path))?;
    if !meta.is_file() {
        return Err(Error::Io {
            path: path.to_path_buf(),
            source: io::Error::new(io::ErrorKind::InvalidInput, "not a regular file"),
        });
    }
    let file = fs::File::open(path).map_err(io_err(path))?;
    load_reader(BufReader::new(file), path, limit)
}

/// As [`load_file`], from bytes already in memory (`path` only names them in errors).
pub(crate) fn load_bytes(data: &[u8], path: &Path, limit: u64) -> Result<Loaded> {
    load_reader(data, path, limit)
}

fn load_reader<R: BufRead>(mut reader: R, path: &Path, limit: u64) -> Result<Loaded> {
    let head = reader.fill_buf().map_err(io_err(path))?;
    let gzip = head.starts_with(&GZIP_MAGIC);
    let mut bytes = Vec::new();
    let read = if gzip {
        MultiGzDecoder::new(reader)
            .take(limit.saturating_add(1))
            .read_to_end(&mut bytes)
    } else {
        reader.take(limit.saturating_add(1)).read_to_end(&mut bytes)
    };
    match read {
        Ok(_) => {}
        Err(e)
            if gzip
                && matches!(
                    e.kind(),
                    io::ErrorKind::InvalidData
                        | io::ErrorKind::InvalidInput
                        | io::ErrorKind::UnexpectedEof
                ) =>
        {
            return Err(Error::Decoding {
                path: path.to_path_buf(),
                reason: format!("corrupt gzip stream: {e}"),
            })
        }
        Err(e) => return Err(io_err(path)(e)),
    }
    if bytes.len() as u64 > limit {
        return Err(Error::Limits {
            path: path.to_path_buf(),
            reason: format!(
                "{} content exceeds the limit of {limit} bytes",
                if gzip { "decompressed" } else { "file" }
            ),
        });
    }
    Ok(Loaded { bytes, gzip })
}

/// Compresses `raw` as a deterministic gzip stream (level 9, no file name, mtime 0, OS
/// "unknown"), so the same input always gives the same bytes.
pub(crate) fn gzip(raw: &[u8], path: &Path) -> Result<Vec<u8>> {
    let mut enc = GzBuilder::new()
        .mtime(0)
        .operating_system(255)
        .write(Vec::new(), Compression::best());
    enc.write_all(raw).map_err(io_err(path))?;
    enc.finish().map_err(io_err(path))
}

/// Encodes `raw` as-is or gzip-compressed.
pub(crate) fn maybe_gzip(raw: Vec<u8>, gzip_it: bool, path: &Path) -> Result<Vec<u8>> {
    if gzip_it {
        gzip(&raw, path)
    } else {
        Ok(raw)
    }
}

/// A temp-folder builder whose folders get ordinary permissions (`mode` minus the umask on Unix)
/// rather than tempfile's owner-only `0700`, since they become the user's output folders.
fn builder(#[allow(unused_variables)] mode: u32) -> tempfile::Builder<'static, 'static> {
    let mut b = tempfile::Builder::new();
    b.prefix(".pixveil-tmp");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        b.permissions(fs::Permissions::from_mode(mode));
    }
    b
}

/// Writes `bytes` to `path` atomically with ordinary permissions, through pixveil-core's one
/// atomic writer ([`pixveil_core::fsio::write_atomic`]). On any failure `path` is left as it
/// was.
pub(crate) fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    pixveil_core::fsio::write_atomic(path, bytes, pixveil_core::fsio::Access::Ordinary)
        .map_err(io_err(path))
}

/// Creates a temporary directory beside `path` (same parent, so a final rename is atomic).
/// The folder is listed for removal on a signal ([`pixveil_core::fsio::create_tracked`]) until
/// the returned guard is dropped.
pub(crate) fn temp_dir_beside(
    path: &Path,
) -> Result<(tempfile::TempDir, pixveil_core::fsio::Tracked)> {
    pixveil_core::fsio::create_tracked(
        || builder(0o777).tempdir_in(pixveil_core::fsio::parent_dir(path)),
        |d| d.path().to_owned(),
    )
    .map_err(io_err(path))
}

/// Renames a finished temporary directory to `path`, which must not exist or be an empty folder.
pub(crate) fn persist_dir(tmp: tempfile::TempDir, path: &Path) -> Result<()> {
    let from = tmp.keep();
    if let Err(e) = fs::rename(&from, path) {
        // Best effort clean-up: the temp folder holds only our own files.
        let _ = fs::remove_dir_all(&from);
        return Err(io_err(path)(e));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gzip_is_deterministic_and_detected() {
        let raw = vec![7u8; 1000];
        let a = gzip(&raw, Path::new("x")).unwrap();
        assert_eq!(a, gzip(&raw, Path::new("x")).unwrap());
        assert_eq!(&a[..2], &GZIP_MAGIC);
        assert_eq!(&a[4..8], &[0, 0, 0, 0], "mtime must be 0");
        let l = load_bytes(&a, Path::new("x"), 1000).unwrap();
        assert!(l.gzip);
        assert_eq!(l.bytes, raw);
        let l = load_bytes(&raw, Path::new("x"), 1000).unwrap();
        assert!(!l.gzip);
    }

    #[test]
    fn limits_refuse_bombs_and_big_files() {
        let bomb = gzip(&vec![0u8; 4 << 20], Path::new("x")).unwrap();
        assert!(bomb.len() < 64 << 10);
        let e = load_bytes(&bomb, Path::new("bomb.gz"), 1 << 20).unwrap_err();
        assert!(matches!(e, Error::Limits { .. }), "{e}");
        assert!(e.to_string().contains("bomb.gz"));
        let e = load_bytes(&[1u8; 11], Path::new("big"), 10).unwrap_err();
        assert!(matches!(e, Error::Limits { .. }), "{e}");
    }

    #[test]
    fn corrupt_gzip_is_a_decoding_error() {
        let mut z = gzip(&[5u8; 100], Path::new("x")).unwrap();
        let n = z.len();
        z.truncate(n / 2);
        let e = load_bytes(&z, Path::new("cut.gz"), 1000).unwrap_err();
        assert!(matches!(e, Error::Decoding { .. }), "{e}");
    }

    #[test]
    fn atomic_write_and_unwritable_path() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("out.bin");
        write_atomic(&p, b"abc").unwrap();
        assert_eq!(fs::read(&p).unwrap(), b"abc");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            // Same mode as a file created the ordinary way (0666 minus the umask).
            let reference = dir.path().join("ref");
            fs::write(&reference, b"").unwrap();
            let mode = |p: &Path| fs::metadata(p).unwrap().permissions().mode() & 0o777;
            assert_eq!(mode(&p), mode(&reference));
            fs::remove_file(&reference).unwrap();
        }
        write_atomic(&p, b"de").unwrap();
        assert_eq!(fs::read(&p).unwrap(), b"de");
        let bad = dir.path().join("no/such/dir/out.bin");
        let e = write_atomic(&bad, b"x").unwrap_err();
        assert!(matches!(e, Error::Io { .. }));
        assert!(e.to_string().contains("no/such/dir/out.bin"), "{e}");
        assert_eq!(
            fs::read_dir(dir.path()).unwrap().count(),
            1,
            "no stray temp files"
        );
    }

    #[test]
    fn unreadable_paths() {
        let dir = tempfile::tempdir().unwrap();
        let e = load_file(&dir.path().join("missing"), 10).unwrap_err();
        assert!(matches!(e, Error::Io { .. }));
        let e = load_file(dir.path(), 10).unwrap_err();
        // The message names the path, the cause says what is wrong (printed once, as a chain).
        let cause = std::error::Error::source(&e).map(ToString::to_string);
        assert!(
            cause.is_some_and(|c| c.contains("not a regular file")),
            "{e}"
        );
    }
}
