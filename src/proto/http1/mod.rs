//! HTTP/1.x message heads and body framing (RFC 9112), sans-IO.
//!
//! * [`parse_request`] parses a request head from the front of a buffer into a
//!   reusable [`RequestHead`] that stores byte ranges ([`Span`]) into that
//!   buffer, so nothing is copied or allocated once the head's `Vec` has grown
//!   to the connection's usual header count.
//! * [`request_framing`] is the one place that applies RFC 9112's
//!   Content-Length / Transfer-Encoding / Host rules to a request.
//! * [`parse_response`] / [`response_framing`] do the same for an upstream's
//!   response (RFC 9112 §6.3 for bodies that a request method or status rules
//!   out).
//! * [`ChunkedDecoder`] decodes `Transfer-Encoding: chunked` incrementally,
//!   [`write_chunk_header`] / [`LAST_CHUNK`] encode it.
//!
//! Guarantees: every rejection is a typed [`Reject`]; input that passes is
//! safe to re-serialize to an upstream (no obs-fold, no bare CR/LF, no CTLs in
//! values, exactly one framing). Does not: decode percent-encoding, route, or
//! know about API Gateway.
//!
//! Files: `head.rs` (types, parsing), `target.rs` (request-target forms),
//! `framing.rs` (the RFC 9112 §6 decision), `chunked.rs` (the chunked
//! coding), `tests/` (raw-bytes tests, each naming its RFC section).
//!
//! The codec depends on `std`, `httparse` and `memchr` only, and names
//! nothing outside this directory (`super::` paths only), so `fuzz/` compiles
//! it on its own without the rest of the crate. Keep it that way.

mod chunked;
mod framing;
mod head;
mod target;
#[cfg(test)]
mod tests;

pub use chunked::{
    Chunk, ChunkedDecoder, LAST_CHUNK, MAX_EXT_BYTES, MAX_TRAILER_BYTES, write_chunk_header,
};
pub use framing::{request_framing, response_framing};
pub use head::{
    Framing, HeadLimits, MAX_HEADERS_CAP, Method, Reject, RequestHead, ResponseHead, Span, Version,
    parse_request, parse_response,
};
