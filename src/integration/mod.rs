//! Integrations: where a routed request is answered. `mock` answers from the
//! configuration; `http` proxies to an upstream.

pub mod http;
pub mod mock;
