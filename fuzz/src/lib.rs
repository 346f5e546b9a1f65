//! The parsers under fuzz, re-exported from the `tollgate` library so the
//! targets fuzz exactly the code the gateway runs.

pub use tollgate::proto::http1;
pub use tollgate::auth;
