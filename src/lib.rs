//! tollgate: a self-hosted edge API gateway that runs Amazon API Gateway
//! definitions, thread-per-core on io_uring. See DESIGN.md in the shared docs
//! for the architecture; each module's own docs state its invariants.

pub mod admin;
pub mod auth;
pub mod cache;
pub mod config;
pub mod integration;
pub mod limit;
pub mod observe;
pub mod pipeline;
pub mod proto;
pub mod route;
pub mod server;
pub mod snapshot;
pub mod text;
pub mod tls;
pub mod upstream;
