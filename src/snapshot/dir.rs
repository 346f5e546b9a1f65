//! A snapshot directory: immutable `<id>.snap` files and `current`, which
//! names the one to serve.
//!
//! Guarantees: a reader never sees a partly written file. [`write_dir`]
//! writes each file under a temporary name, fsyncs it and renames it into
//! place (then fsyncs the directory), the snapshot before `current`; a
//! snapshot already present with the same id is kept. [`read_current`]
//! accepts only a `current` that names `<32 hex digits>.snap` in the same
//! directory, and only a file whose content hash is its name.
//! Does not: delete old snapshots, or lock against two writers (the last
//! rename wins, and either result is a whole file).

use std::fs::File;
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};

use rkyv::util::AlignedVec;

use super::{ALIGN, SnapshotError, decode, id_of, is_id};
use crate::config::Gateway;

/// The name of the file in a snapshot directory that names the snapshot to serve.
pub const CURRENT: &str = "current";

/// Why a snapshot directory could not be loaded.
#[derive(Debug)]
#[non_exhaustive]
pub enum LoadError {
    /// A file could not be read.
    Io { path: PathBuf, error: io::Error },
    /// `current` does not hold the name of a snapshot file.
    BadCurrent { path: PathBuf, content: String },
    /// The snapshot file was refused.
    Snapshot { path: PathBuf, error: SnapshotError },
    /// The snapshot file's content hash is not the id in its name.
    IdMismatch { path: PathBuf, actual: String },
}

impl std::fmt::Display for LoadError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            LoadError::Io { path, error } => write!(f, "{}: cannot read: {error}", path.display()),
            LoadError::BadCurrent { path, content } => write!(
                f,
                "{}: expected the name of a snapshot file (`<id>.snap`), found {content:?}",
                path.display()
            ),
            LoadError::Snapshot { path, error } => write!(f, "{}: {error}", path.display()),
            LoadError::IdMismatch { path, actual } => write!(
                f,
                "{}: snapshot is corrupted: its content hash is {actual}, not the id in its name",
                path.display()
            ),
        }
    }
}

impl std::error::Error for LoadError {}

/// Store snapshot file bytes in `dir` (created if missing) as `<id>.snap` and
/// point `dir/current` at it; the id.
pub fn write_dir(dir: &Path, bytes: &[u8]) -> io::Result<String> {
    std::fs::create_dir_all(dir)?;
    let id = id_of(bytes);
    let name = format!("{id}.snap");
    let path = dir.join(&name);
    // Content-addressed: a file with this name already holds these bytes,
    // unless it was damaged, in which case it is replaced.
    if std::fs::read(&path).ok().as_deref() != Some(bytes) {
        replace(dir, &name, bytes)?;
    }
    replace(dir, CURRENT, format!("{name}\n").as_bytes())?;
    Ok(id)
}

/// Write `dir/name` atomically: a temporary file, fsync, rename, fsync of `dir`.
fn replace(dir: &Path, name: &str, bytes: &[u8]) -> io::Result<()> {
    let tmp = dir.join(format!(".{name}.tmp.{}", std::process::id()));
    let written = (|| {
        let mut f = File::create(&tmp)?;
        f.write_all(bytes)?;
        f.sync_all()?;
        std::fs::rename(&tmp, dir.join(name))
    })();
    if written.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    written?;
    File::open(dir)?.sync_all()
}

/// Read, check and decode the snapshot `dir/current` names; its id and gateway.
pub fn read_current(dir: &Path) -> Result<(String, Gateway), LoadError> {
    let name = current_name(dir)?;
    let path = dir.join(&name);
    let gw = read_file(&path)?;
    Ok((name.trim_end_matches(".snap").to_owned(), gw))
}

/// The snapshot file name `dir/current` holds (`<id>.snap`).
pub fn current_name(dir: &Path) -> Result<String, LoadError> {
    let path = dir.join(CURRENT);
    let mut text = String::new();
    File::open(&path)
        .and_then(|f| f.take(256).read_to_string(&mut text))
        .map_err(|error| LoadError::Io {
            path: path.clone(),
            error,
        })?;
    let name = text.trim();
    match name.strip_suffix(".snap") {
        Some(id) if is_id(id) => Ok(name.to_owned()),
        _ => Err(LoadError::BadCurrent {
            path,
            content: text,
        }),
    }
}

/// Read, check and decode the snapshot file `path`, whose name must be
/// `<id>.snap` with the id of its content.
pub fn read_file(path: &Path) -> Result<Gateway, LoadError> {
    let bytes = read_aligned(path).map_err(|error| LoadError::Io {
        path: path.to_owned(),
        error,
    })?;
    let gw = decode(&bytes).map_err(|error| LoadError::Snapshot {
        path: path.to_owned(),
        error,
    })?;
    let actual = id_of(&bytes);
    let named = path.file_name().and_then(|n| n.to_str());
    if named != Some(format!("{actual}.snap").as_str()) {
        return Err(LoadError::IdMismatch {
            path: path.to_owned(),
            actual,
        });
    }
    Ok(gw)
}

/// The whole file in a buffer aligned for the payload.
fn read_aligned(path: &Path) -> io::Result<AlignedVec<ALIGN>> {
    let mut f = File::open(path)?;
    let len = f.metadata()?.len();
    let mut buf = AlignedVec::<ALIGN>::with_capacity(usize::try_from(len).unwrap_or(0));
    buf.extend_from_reader(&mut f)?;
    Ok(buf)
}
