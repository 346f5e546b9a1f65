//! Sans-IO protocol code: bytes in, decisions out. Nothing here touches a
//! socket or reads a clock; callers pass buffers and `now`.

pub mod http1;
