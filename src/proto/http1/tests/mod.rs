//! Raw-bytes tests for the HTTP/1 codec. Every rejection rule has its own
//! test naming the RFC section it enforces (STYLE.md #2).

mod chunked;
mod req_util;
mod request;
mod request_framing;
mod request_syntax;
mod response;
