//! The snapshot file's fixed header, and the errors of reading a snapshot.
//!
//! Layout (integers little-endian), 64 bytes, then the payload:
//!
//! | offset | size | field |
//! |---:|---:|---|
//! | 0 | 8 | magic `TGSNAP\0\0` |
//! | 8 | 4 | format version (u32), [`FORMAT_VERSION`] |
//! | 12 | 4 | flags (u32), none defined: must be 0 |
//! | 16 | 8 | payload length in bytes (u64) |
//! | 24 | 32 | SHA-256 of the payload |
//! | 56 | 8 | reserved, zero (keeps the payload 16-byte aligned) |
//! | 64 | n | payload: rkyv 0.8 archive of [`Gateway`](crate::config::Gateway) |
//!
//! Format version 1 is rkyv 0.8's default format (little-endian, aligned,
//! 32-bit relative pointers) of the model as this version of tollgate
//! defines it: a change of the model's archived shape needs a new version.
//! Guarantees: [`payload`] returns bytes only when magic, version, flags,
//! reserved bytes, length and hash are all right; what is wrong first is the
//! error. Does not: look inside the payload.

use sha2::{Digest, Sha256};

/// The first 8 bytes of every snapshot file.
pub const MAGIC: [u8; 8] = *b"TGSNAP\0\0";
/// The format version this build writes, and the newest it reads.
pub const FORMAT_VERSION: u32 = 6;
/// Bytes before the payload.
pub const HEADER_LEN: usize = 64;

/// Why snapshot bytes were refused.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum SnapshotError {
    /// The bytes do not start with [`MAGIC`].
    BadMagic,
    /// The bytes end inside the header.
    TruncatedHeader { len: usize },
    /// Written by a newer tollgate in a format this one does not read.
    NewerVersion { version: u32 },
    /// A format version older than any this tollgate reads.
    OlderVersion { version: u32 },
    /// Flags are set that this tollgate does not know.
    UnknownFlags { flags: u32 },
    /// The reserved header bytes are not zero.
    BadHeader,
    /// The bytes end before the payload length the header gives.
    Truncated { expected: u64, found: u64 },
    /// More bytes follow the payload length the header gives.
    TrailingBytes { expected: u64, found: u64 },
    /// The payload's SHA-256 differs from the header's.
    HashMismatch,
    /// The payload is not a valid archive of the model (bytecheck's message).
    Invalid(String),
    /// The payload is a valid archive but breaks an invariant of the model.
    Inconsistent(String),
}

impl std::fmt::Display for SnapshotError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            SnapshotError::BadMagic => f.write_str("not a tollgate snapshot (bad magic)"),
            SnapshotError::TruncatedHeader { len } => write!(
                f,
                "snapshot is truncated: the header needs {HEADER_LEN} bytes, file has {len}"
            ),
            SnapshotError::NewerVersion { version } => write!(
                f,
                "snapshot format version {version} is newer than this tollgate understands ({FORMAT_VERSION})"
            ),
            SnapshotError::OlderVersion { version } => write!(
                f,
                "snapshot format version {version} is older than this tollgate understands ({FORMAT_VERSION})"
            ),
            SnapshotError::UnknownFlags { flags } => write!(
                f,
                "snapshot sets flags {flags:#x} that this tollgate does not understand"
            ),
            SnapshotError::BadHeader => {
                f.write_str("snapshot is corrupted: reserved header bytes are not zero")
            }
            SnapshotError::Truncated { expected, found } => write!(
                f,
                "snapshot is truncated: header says {expected} payload bytes, file has {found}"
            ),
            SnapshotError::TrailingBytes { expected, found } => write!(
                f,
                "snapshot is corrupted: header says {expected} payload bytes, file has {found}"
            ),
            SnapshotError::HashMismatch => {
                f.write_str("snapshot is corrupted: payload hash does not match")
            }
            SnapshotError::Invalid(e) => write!(f, "snapshot payload failed validation: {e}"),
            SnapshotError::Inconsistent(e) => write!(f, "snapshot is inconsistent: {e}"),
        }
    }
}

impl std::error::Error for SnapshotError {}

/// The header for `payload`.
pub fn header(payload: &[u8]) -> [u8; HEADER_LEN] {
    let mut h = [0u8; HEADER_LEN];
    h[0..8].copy_from_slice(&MAGIC);
    h[8..12].copy_from_slice(&FORMAT_VERSION.to_le_bytes());
    h[12..16].copy_from_slice(&0u32.to_le_bytes());
    h[16..24].copy_from_slice(&(payload.len() as u64).to_le_bytes());
    h[24..56].copy_from_slice(&Sha256::digest(payload));
    h
}

/// Check the header of snapshot file bytes and the payload's length and hash;
/// the payload.
pub fn payload(file: &[u8]) -> Result<&[u8], SnapshotError> {
    let magic_len = file.len().min(MAGIC.len());
    if file[..magic_len] != MAGIC[..magic_len] {
        return Err(SnapshotError::BadMagic);
    }
    let Some((head, payload)) = file.split_first_chunk::<HEADER_LEN>() else {
        return Err(SnapshotError::TruncatedHeader { len: file.len() });
    };
    let u32_at =
        |at: usize| u32::from_le_bytes([head[at], head[at + 1], head[at + 2], head[at + 3]]);
    let version = u32_at(8);
    if version > FORMAT_VERSION {
        return Err(SnapshotError::NewerVersion { version });
    }
    if version < FORMAT_VERSION {
        return Err(SnapshotError::OlderVersion { version });
    }
    let flags = u32_at(12);
    if flags != 0 {
        return Err(SnapshotError::UnknownFlags { flags });
    }
    if head[56..64].iter().any(|&b| b != 0) {
        return Err(SnapshotError::BadHeader);
    }
    let mut len = [0u8; 8];
    len.copy_from_slice(&head[16..24]);
    let expected = u64::from_le_bytes(len);
    let found = payload.len() as u64;
    if found < expected {
        return Err(SnapshotError::Truncated { expected, found });
    }
    if found > expected {
        return Err(SnapshotError::TrailingBytes { expected, found });
    }
    if Sha256::digest(payload)[..] != head[24..56] {
        return Err(SnapshotError::HashMismatch);
    }
    Ok(payload)
}
