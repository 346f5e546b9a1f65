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
//!
//! Matching rules, in order:
//!
//! * **Stage.** If the first path segment is the name of a stage served on
//!   this listener, that stage is chosen and removed (`/prod/pets` → `/pets`;
//!   `/prod` alone → `/`), even if the route then does not match. Otherwise the
//!   listener's `$default` stage, if any, gets the whole path. Otherwise
//!   [`Lookup::NotFound`].
//! * **Route.** Segment by segment, a literal beats `{param}`, which beats a
//!   greedy `{name+}`; the earlier segment decides first (`/a/{x}` beats
//!   `/{y}/b` for `/a/b`). On a path, a route for the request's method beats
//!   `ANY`. When the most specific path has neither, less specific paths are
//!   tried (`GET /pets/{id}` + `ANY /pets/{proxy+}`: `POST /pets/7` goes to the
//!   greedy route). `HEAD` is its own method: it matches `HEAD` and `ANY`
//!   routes only, never `GET`. Then the API's `$default` route, else
//!   `NotFound` with that API's protocol.
//! * **Trailing slash** is significant, as on API Gateway: `GET /pets` does
//!   not match `/pets/`, `GET /pets/{id}` does not match `/pets/7/` (both fall
//!   to `$default`). `{param}` never matches an empty segment (`//`).
//! * **Greedy** `{proxy+}` needs at least one byte after its `/`:
//!   `ANY /files/{proxy+}` matches `/files/a` (`proxy` = `a`), `/files/a/b`
//!   (`a/b`) and `/files/a/` (`a/`), but neither `/files` nor `/files/`.
//! * **Literals** compare with the raw request path byte for byte: a request
//!   for `/p%65ts` does not match `GET /pets`.
//! * **Parameters** are percent-decoded after matching, so `%2F` inside a
//!   `{param}` segment stays in that one parameter (as `/`). See [`Params`].

mod params;
mod path;
mod tree;

pub use params::Params;
pub(crate) use path::{Segment, is_param_name, param_names, segments};

use crate::config::{Gateway, Method, Protocol};
use tree::Tree;

/// Routes for one listener.
#[derive(Debug)]
pub struct Table {
    /// The route trees of the APIs served on this listener.
    apis: Vec<ApiRoutes>,
    /// Stages that have a path prefix.
    stages: Vec<StageRef>,
    /// The `$default` stage served on this listener, if any.
    default_stage: Option<StageRef>,
    /// Protocol for requests that name no stage: the listener's first API's.
    fallback: Protocol,
}

#[derive(Debug)]
struct ApiRoutes {
    /// Index into `Gateway::apis`.
    api: usize,
    protocol: Protocol,
    tree: Tree,
}

#[derive(Debug)]
struct StageRef {
    name: Box<[u8]>,
    /// Index into `Table::apis`.
    slot: usize,
    /// Index into the API's stages.
    stage: usize,
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
        let mut table = Table {
            apis: Vec::new(),
            stages: Vec::new(),
            default_stage: None,
            fallback: Protocol::Http,
        };
        for (api_index, api) in gw.apis.iter().enumerate() {
            if !api.listeners.contains(&listener) {
                continue;
            }
            if table.apis.is_empty() {
                table.fallback = api.protocol;
            }
            let slot = table.apis.len();
            table.apis.push(ApiRoutes {
                api: api_index,
                protocol: api.protocol,
                tree: Tree::build(&api.routes),
            });
            for (stage, name) in api.stages.iter().enumerate() {
                let stage_ref = StageRef {
                    name: name.as_bytes().into(),
                    slot,
                    stage,
                };
                // Config refuses a stage name served twice on a listener; should
                // one get here anyway, the first API keeps it.
                if name == "$default" {
                    table.default_stage.get_or_insert(stage_ref);
                } else if !table.stages.iter().any(|s| *s.name == *name.as_bytes()) {
                    table.stages.push(stage_ref);
                }
            }
        }
        table
    }

    /// Route a request. `method_name` is the method token as sent (used when
    /// `method` is `Method::Other`). `path` is the raw path without query.
    /// Path parameters are percent-decoded into `params` (cleared first).
    pub fn lookup(
        &self,
        method: Method,
        method_name: &[u8],
        path: &[u8],
        params: &mut Params,
    ) -> Lookup {
        params.clear();
        let Some((stage, rest_start)) = self.select_stage(path) else {
            return Lookup::NotFound(self.fallback);
        };
        let api = &self.apis[stage.slot];
        let rest = match &path[rest_start..] {
            b"" => b"/",
            rest => rest,
        };
        let route = match api.tree.find(method, method_name, rest) {
            Some((route, entry)) => {
                api.tree.capture(entry, rest, params);
                route
            }
            None => match api.tree.default_route {
                Some(route) => route,
                None => return Lookup::NotFound(api.protocol),
            },
        };
        Lookup::Found(Matched {
            api: api.api,
            stage: stage.stage,
            route,
            rest_start,
        })
    }

    /// The stage for `path` and where the rest of the path starts.
    fn select_stage(&self, path: &[u8]) -> Option<(&StageRef, usize)> {
        if let Some(body) = path.strip_prefix(b"/") {
            let first = match memchr::memchr(b'/', body) {
                Some(cut) => &body[..cut],
                None => body,
            };
            if let Some(stage) = self.stages.iter().find(|s| *s.name == *first) {
                return Some((stage, 1 + first.len()));
            }
        }
        self.default_stage.as_ref().map(|s| (s, 0))
    }
}

/// Check a route key's path as the user wrote it (`/pets/{id}`,
/// `/files/{proxy+}`); the error is a sentence for a config error.
pub fn check_route_path(path: &str) -> Result<(), String> {
    path::check(path)
}

#[cfg(test)]
mod tests;
