//! `Transfer-Encoding: chunked` (RFC 9112 §7.1): an incremental decoder and
//! the two encoder pieces. Interface fixed; bodies to fill.

use super::Reject;
use std::ops::Range;

/// The terminating chunk with an empty trailer section.
pub const LAST_CHUNK: &[u8] = b"0\r\n\r\n";

/// Append a chunk-size line (`{hex}\r\n`) for a chunk of `len` bytes (`len > 0`).
/// The caller appends the data and then `\r\n`.
pub fn write_chunk_header(out: &mut Vec<u8>, len: usize) {
    let _ = (out, len);
    todo!()
}

/// What one `decode` step found.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Chunk {
    /// The input ended inside framing bytes; call again with more input.
    NeedMore,
    /// Body data: this range of the input slice passed to `decode`.
    Data(Range<usize>),
    /// The last chunk and the trailer section were consumed; the body is complete.
    Done,
}

/// Incremental chunked-body decoder; holds only a few integers of state.
#[derive(Clone, Debug, Default)]
pub struct ChunkedDecoder {
    _todo: (),
}

impl ChunkedDecoder {
    pub fn new() -> Self {
        Self::default()
    }

    /// Decode from the front of `input`. Returns how many bytes of `input` were
    /// consumed and what they held. The caller drops the consumed bytes and
    /// calls again (with more input after `NeedMore`).
    pub fn decode(&mut self, input: &[u8]) -> Result<(usize, Chunk), Reject> {
        let _ = input;
        todo!()
    }
}
