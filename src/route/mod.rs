//! Request routing as API Gateway does it: stage (first path segment, unless
//! `$default`), then the most specific route key (exact segments >
//! `{param}` > greedy `{proxy+}` > `$default`), with `ANY` matching only
//! methods that have no route of their own on that path.
//!
//! A [`Table`] is built per listener by each worker from a validated
//! [`Gateway`] and then only read. Lookups match the raw (still
//! percent-encoded) path and decode the captured parameters into a reusable
//! [`Params`], so a lookup allocates nothing once `Params` has grown.
//! Does not: validate route keys for the user (config does, with locations,
//! by calling [`check_route_path`]).

use crate::config::{Gateway, Method, Protocol};

/// Routes for one listener.
#[derive(Debug)]
pub struct Table {
    _todo: (),
}

/// Where a request goes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Lookup {
    Found(Matched),
    /// No stage or no route matched. The protocol decides the answer (HTTP
    /// API 404 Not Found, REST 403 Missing Authentication Token): that of the
    /// API whose stage matched, else that of the listener's first API.
    NotFound(Protocol),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Matched {
    /// Index into `Gateway::apis`.
    pub api: usize,
    /// Index into that API's `stages`.
    pub stage: usize,
    /// Index into that API's `routes`.
    pub route: usize,
    /// Byte offset into the looked-up path where the path after the stage
    /// prefix starts (0 for `$default` stage); that rest always starts with `/`
    /// or is empty (treat empty as `/`).
    pub rest_start: usize,
}

impl Table {
    /// Build the routes of `listener` (index into `gw.listeners`).
    pub fn build(gw: &Gateway, listener: usize) -> Table {
        let _ = (gw, listener);
        todo!()
    }

    /// Route a request. `method_name` is the method token as sent (used when
    /// `method` is `Method::Other`). `path` is the raw path without query.
    /// Path parameters are percent-decoded into `params` (cleared first).
    pub fn lookup(&self, method: Method, method_name: &[u8], path: &[u8], params: &mut Params) -> Lookup {
        let _ = (method, method_name, path, params);
        todo!()
    }
}

/// Decoded path parameters of the last lookup. Reused across requests.
#[derive(Debug, Default)]
pub struct Params {
    _todo: (),
}

impl Params {
    pub fn clear(&mut self) {
        todo!()
    }
    /// The decoded value of parameter `name` (`proxy` for `{proxy+}`).
    pub fn get(&self, name: &str) -> Option<&str> {
        let _ = name;
        todo!()
    }
    /// (name, decoded value) pairs in path order.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &str)> {
        std::iter::empty()
    }
}

/// Check a route key's path as the user wrote it (`/pets/{id}`,
/// `/files/{proxy+}`); the error is a sentence for a config error.
pub fn check_route_path(path: &str) -> Result<(), String> {
    let _ = path;
    todo!()
}
