//! The sans-IO parsers under fuzz, compiled from the main crate's sources so
//! a fuzz build needs neither monoio nor the rest of tollgate. The included
//! modules must only name `std`, `httparse`, `memchr` and `super::` items.

#[path = "../../src/proto/http1/mod.rs"]
pub mod http1;
