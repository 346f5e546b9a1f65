//! `snapshot::decode` on an arbitrary payload under a valid header (the
//! header's SHA-256 is computed over the input, so every input reaches
//! rkyv's bytecheck and the semantic checks instead of stopping at the
//! checksum). Checks: no panic, no out-of-bounds read; a payload that
//! decodes re-encodes to a snapshot that decodes to the same model, and
//! damaging one byte of a whole snapshot file is refused, never accepted.

#![no_main]

use libfuzzer_sys::fuzz_target;
use tollgate::snapshot::{decode, encode, format};

fuzz_target!(|payload: &[u8]| {
    let mut file = format::header(payload).to_vec();
    file.extend_from_slice(payload);
    let Ok(gw) = decode(&file) else { return };
    let again = encode(&gw);
    let gw2 = decode(&again).expect("a re-encoded snapshot decodes");
    assert_eq!(encode(&gw2), again, "encoding is deterministic");
    // The checksum covers every payload byte.
    if again.len() > format::HEADER_LEN {
        let mut damaged = again.clone();
        let i = format::HEADER_LEN + payload.len() % (again.len() - format::HEADER_LEN);
        damaged[i] ^= 0x40;
        assert!(decode(&damaged).is_err(), "damage at {i} accepted");
    }
});
