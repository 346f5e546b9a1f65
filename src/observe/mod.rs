//! Per-core observability primitives: the coarse wall clock behind `Date`
//! headers and request ids. Nothing here locks or allocates per request.

pub mod access_log;
pub mod clock;
pub mod exchange;
pub mod log_writer;
pub mod metrics;
pub mod request_id;
pub mod trace;
