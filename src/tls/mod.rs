//! TLS on both sides of the gateway, over rustls with the aws-lc-rs
//! provider: terminating client connections (certificates per SNI name,
//! ALPN, resumption — see `server`), originating upstream connections
//! (verification against the web's roots or a configured CA bundle — see
//! `client`), and the stream glue that drives rustls on monoio (`stream`).

pub mod certs;
pub mod client;
pub mod poll;
pub mod server;
pub mod stream;
pub mod x509;

pub use stream::{Stream, TlsStream};
