//! Per-core observability primitives: the coarse wall clock behind `Date`
//! headers and request ids. Nothing here locks or allocates per request.

pub mod clock;
pub mod request_id;
