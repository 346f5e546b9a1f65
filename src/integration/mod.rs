//! Integrations: where a routed request is answered. `mock` answers from the
//! configuration; `http` proxies to an upstream; `lambda` invokes a function
//! with an API Gateway proxy event.

pub mod h2_proxy;
pub mod http;
pub mod lambda;
pub mod mock;
