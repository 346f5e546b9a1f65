//! Deployment snapshots: a resolved [`Gateway`] compiled into immutable,
//! content-addressed bytes that a gateway loads instead of a configuration.
//!
//! A snapshot file is a fixed 64-byte header and an rkyv 0.8 payload (see
//! [`format`] for the layout). Its id is the lowercase hex of the first 16
//! bytes of the SHA-256 of the whole file, and a snapshot directory holds
//! `<id>.snap` files plus `current`, a one-line text file naming the one to
//! serve (replaced atomically by [`write_dir`]).
//!
//! Guarantees: [`decode`] returns a [`Gateway`] only after the header
//! (magic, format version, flags, length), the payload's SHA-256, the
//! payload's structure (bytecheck, through [`rkyv::access`]) and the model's
//! invariants ([`check`]: every index points at an existing element, route
//! paths are well formed) all passed; otherwise a [`SnapshotError`] says
//! which check failed. [`encode`] is deterministic: the same `Gateway` gives
//! the same bytes, so the same configuration compiles to the same id.
//!
//! The archived bytes are checked in place (zero-copy, in a 16-byte aligned
//! buffer) and then deserialized once into the owned [`Gateway`]: each worker
//! builds its derived state (route tables, upstream pools) from the owned
//! model, and that happens once per load, never per request, so reading the
//! archive in place on the hot path would buy nothing and would tie every
//! module to the archived types.
//!
//! Does not: resolve host names (the addresses resolved when the
//! configuration was compiled are the ones served), watch files, or talk to
//! workers. [`encode`], [`decode`] and [`check`] do no I/O; [`dir`] and
//! [`source`] read and write files.

pub mod check;
pub mod dir;
pub mod format;
pub mod source;
#[cfg(test)]
mod tests;

pub use dir::{LoadError, read_current, read_file, write_dir};
pub use format::{FORMAT_VERSION, HEADER_LEN, MAGIC, SnapshotError};
pub use source::{Loaded, Source};

use rkyv::rancor;
use rkyv::util::AlignedVec;
use sha2::{Digest, Sha256};

use crate::config::{ArchivedGateway, Gateway};

/// Alignment of the buffer a payload is checked in: the header is 64 bytes, so
/// a file read into such a buffer has its payload aligned too.
const ALIGN: usize = 16;

/// The snapshot file bytes (header and payload) of `gw`.
///
/// # Panics
///
/// If rkyv cannot serialize the model, which happens only for a length or
/// offset beyond 4 GiB (rkyv's 32-bit relative pointers).
pub fn encode(gw: &Gateway) -> Vec<u8> {
    let payload = rkyv::to_bytes::<rancor::Error>(gw)
        .expect("a resolved gateway serializes (it is far below rkyv's 4 GiB offset limit)");
    let mut out = Vec::with_capacity(HEADER_LEN + payload.len());
    out.extend_from_slice(&format::header(&payload));
    out.extend_from_slice(&payload);
    out
}

/// Check the snapshot file bytes `file` and return the gateway it holds.
///
/// The payload is checked where it lies when it is 16-byte aligned in memory
/// (as in a file read by [`read_file`]), else in an aligned copy.
pub fn decode(file: &[u8]) -> Result<Gateway, SnapshotError> {
    let payload = format::payload(file)?;
    if payload.as_ptr().addr().is_multiple_of(ALIGN) {
        return deserialize(access(payload)?);
    }
    let mut aligned = AlignedVec::<ALIGN>::with_capacity(payload.len());
    aligned.extend_from_slice(payload);
    deserialize(access(&aligned)?)
}

fn access(payload: &[u8]) -> Result<&ArchivedGateway, SnapshotError> {
    rkyv::access::<ArchivedGateway, rancor::Error>(payload)
        .map_err(|e| SnapshotError::Invalid(e.to_string()))
}

fn deserialize(archived: &ArchivedGateway) -> Result<Gateway, SnapshotError> {
    let gw = rkyv::deserialize::<Gateway, rancor::Error>(archived)
        .map_err(|e| SnapshotError::Invalid(e.to_string()))?;
    check::check(&gw).map_err(SnapshotError::Inconsistent)?;
    Ok(gw)
}

/// The id of snapshot file bytes: lowercase hex of the first 16 bytes of
/// their SHA-256.
pub fn id_of(file: &[u8]) -> String {
    let digest = Sha256::digest(file);
    let mut id = String::with_capacity(32);
    for b in &digest[..16] {
        id.push(char::from(HEX[usize::from(b >> 4)]));
        id.push(char::from(HEX[usize::from(b & 0xf)]));
    }
    id
}

const HEX: &[u8; 16] = b"0123456789abcdef";

/// Whether `name` is an id as [`id_of`] writes it (32 lowercase hex digits).
pub fn is_id(name: &str) -> bool {
    name.len() == 32 && name.bytes().all(|b| HEX.contains(&b))
}
