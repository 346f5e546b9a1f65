//! `ChunkedDecoder` on arbitrary bytes fed in arbitrary pieces. The first
//! byte says how many of the next bytes are piece sizes (`b % 8`); the rest
//! is the body. Checks: every call's answer is in bounds (`Data` non-empty
//! and ending at `consumed`, `NeedMore` consuming everything), feeding in
//! pieces gives exactly what feeding in one piece gives (same data, same
//! consumed count, same error), and a decoded body re-encoded as chunks
//! decodes to itself.

#![no_main]

use libfuzzer_sys::fuzz_target;
use tollgate_fuzz::http1::{Chunk, ChunkedDecoder, LAST_CHUNK, Reject, write_chunk_header};

#[derive(Debug, PartialEq, Eq)]
struct Outcome {
    body: Vec<u8>,
    consumed: usize,
    done: bool,
    error: Option<Reject>,
}

/// Feeds `input` in pieces of `sizes` (cycled; a 0 means one byte), keeping
/// unconsumed bytes in front as a connection would.
fn feed(input: &[u8], sizes: &[u8]) -> Outcome {
    let mut dec = ChunkedDecoder::new();
    let mut out = Outcome {
        body: Vec::new(),
        consumed: 0,
        done: false,
        error: None,
    };
    let mut pending = Vec::new();
    let mut fed = 0;
    let mut piece = 0;
    while fed < input.len() || !pending.is_empty() {
        let size = match sizes {
            [] => input.len(),
            _ => usize::from(sizes[piece % sizes.len()]).max(1),
        };
        piece += 1;
        let take = size.min(input.len() - fed);
        pending.extend_from_slice(&input[fed..fed + take]);
        fed += take;
        loop {
            let (n, chunk) = match dec.decode(&pending) {
                Ok(x) => x,
                Err(e) => {
                    // How many bytes earlier calls consumed depends on the
                    // split; the data handed out and the error do not.
                    out.error = Some(e);
                    out.consumed = 0;
                    return out;
                }
            };
            assert!(n <= pending.len());
            match &chunk {
                Chunk::Data(r) => {
                    assert!(!r.is_empty() && r.end == n, "{r:?} consumed {n}");
                    out.body.extend_from_slice(&pending[r.clone()]);
                }
                Chunk::NeedMore => assert_eq!(n, pending.len(), "NeedMore left input"),
                Chunk::Done => {
                    out.consumed += n;
                    out.done = true;
                    assert!(dec.is_done());
                    assert_eq!(dec.body_len(), out.body.len() as u64);
                    assert_eq!(dec.decode(&pending[n..]), Ok((0, Chunk::Done)));
                    return out;
                }
            }
            pending.drain(..n);
            out.consumed += n;
            if chunk == Chunk::NeedMore {
                break;
            }
        }
        if fed == input.len() {
            break;
        }
    }
    assert_eq!(dec.body_len(), out.body.len() as u64);
    out
}

fuzz_target!(|data: &[u8]| {
    let Some((&k, rest)) = data.split_first() else {
        return;
    };
    let k = usize::from(k % 8).min(rest.len());
    let (sizes, body) = rest.split_at(k);

    let whole = feed(body, &[]);
    let bytewise = feed(body, &[1]);
    assert_eq!(whole, bytewise);
    if !sizes.is_empty() {
        assert_eq!(whole, feed(body, sizes));
    }

    if let Some(e) = whole.error {
        assert!(!e.reason().starts_with("internal"), "{e:?}");
    }
    if whole.done {
        // Re-encode what was decoded; it must decode to the same bytes.
        let mut encoded = Vec::new();
        for piece in whole.body.chunks(7) {
            write_chunk_header(&mut encoded, piece.len());
            encoded.extend_from_slice(piece);
            encoded.extend_from_slice(b"\r\n");
        }
        encoded.extend_from_slice(LAST_CHUNK);
        let again = feed(&encoded, &[]);
        assert_eq!(again.body, whole.body);
        assert!(again.done && again.consumed == encoded.len() && again.error.is_none());
    }
});
