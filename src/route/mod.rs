//! Request routing as API Gateway does it: custom domain and base path, or
//! stage (first path segment, unless `$default`); then, once the caller has
//! chosen the deployment (a stage's canary, see [`choose_deployment`]), the
//! most specific route key of that deployment (exact segments > `{param}` >
//! greedy `{proxy+}` > `$default`), with `ANY` matching only methods that
//! have no route of their own on that path.
//!
//! A [`Table`] is built per listener by each worker from a validated
//! [`Gateway`] and then only read: one route tree per deployment of each API
//! served there, built in time linear in the routes. Lookups match the raw
//! (still percent-encoded) path and decode the captured parameters into a
//! reusable [`Params`], so a lookup allocates nothing once `Params` has grown.
//! Does not: validate route keys for the user (config does, with locations,
//! by calling [`check_route_path`]), or read requests (the caller passes the
//! `Host` value, the path and, for sticky canaries, the header fields).
//!
//! Matching rules, in order:
//!
//! * **Custom domain** ([`Table::select`]). When the `Host` (port and case
//!   ignored) is a configured domain — exact names first, then `*.example.com`
//!   wildcards, which take exactly one more label — its base path mappings
//!   decide: a first path segment that is a mapped base path picks that
//!   API stage and is removed (`/v2/pets` → `/pets`); else the `""` mapping
//!   gets the whole path; else [`Selected::Forbidden`] (API Gateway's 403
//!   `{"message":"Forbidden"}`). A domain is served on every listener that
//!   serves one of its mapped APIs. Any other `Host` (or none) goes on to:
//! * **Stage.** If the first path segment is the name of a stage served on
//!   this listener, that stage is chosen and removed (`/prod/pets` → `/pets`;
//!   `/prod` alone → `/`), even if the route then does not match. Otherwise the
//!   listener's `$default` stage, if any, gets the whole path. Otherwise
//!   [`Selected::NotFound`].
//! * **Route** ([`Table::route`]). Segment by segment, a literal beats
//!   `{param}`, which beats a greedy `{name+}`; the earlier segment decides
//!   first (`/a/{x}` beats `/{y}/b` for `/a/b`). On a path, a route for the
//!   request's method beats `ANY`. When the most specific path has neither,
//!   less specific paths are tried (`GET /pets/{id}` + `ANY /pets/{proxy+}`:
//!   `POST /pets/7` goes to the greedy route). `HEAD` is its own method: it
//!   matches `HEAD` and `ANY` routes only, never `GET`. Then the deployment's
//!   `$default` route, else `NotFound` with that API's protocol.
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

mod canary;
mod domain;
mod params;
mod path;
mod tree;

pub use canary::{canary_pick, choose_deployment, cookie, mix64, roll_of, sticky_value};
pub use params::Params;
pub(crate) use path::{Segment, is_param_name, is_pchar, param_names, segments};

use crate::config::{Gateway, Method, Protocol};
use domain::Domains;
use tree::Tree;

/// Routes for one listener.
#[derive(Debug)]
pub struct Table {
    /// By index into `Gateway::apis`; `None` for APIs not served here.
    apis: Vec<Option<ApiRoutes>>,
    /// Stages that have a path prefix.
    stages: Vec<StageRef>,
    /// The `$default` stage served on this listener, if any.
    default_stage: Option<StageRef>,
    /// Protocol for requests that name no stage: the listener's first API's.
    fallback: Protocol,
    domains: Domains,
}

#[derive(Debug)]
struct ApiRoutes {
    protocol: Protocol,
    /// By index into the API's `deployments`.
    trees: Vec<Tree>,
}

#[derive(Debug)]
struct StageRef {
    name: Box<[u8]>,
    /// Index into `Gateway::apis`.
    api: usize,
    /// Index into the API's stages.
    stage: usize,
}

/// Where [`Table::select`] sends a request.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Selected {
    Stage(StageMatch),
    /// No stage: the answer is that protocol's "not found" (the listener's
    /// first API's).
    NotFound(Protocol),
    /// A custom domain with no mapping for this base path: 403 Forbidden in
    /// the shape of the domain's first mapped API.
    Forbidden(Protocol),
}

/// An API stage chosen for a request, before its route.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct StageMatch {
    /// Index into `Gateway::apis`.
    pub api: usize,
    /// Index into that API's `stages`.
    pub stage: usize,
    /// Byte offset into the path where the path after the base path or stage
    /// prefix starts (0 when nothing is removed); that rest always starts
    /// with `/` or is empty (treat empty as `/`).
    pub rest_start: usize,
}

/// Where a request goes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Lookup {
    Found(Matched),
    /// No route matched: the answer is that of the API's protocol (HTTP API
    /// 404 Not Found, REST 403 Missing Authentication Token).
    NotFound(Protocol),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Matched {
    /// Index into `Gateway::apis`.
    pub api: usize,
    /// Index into that API's `stages`.
    pub stage: usize,
    /// Index into that API's `deployments`.
    pub deployment: usize,
    /// Index into that deployment's `routes`.
    pub route: usize,
    /// As in [`StageMatch::rest_start`].
    pub rest_start: usize,
}

impl Table {
    /// Build the routes of `listener` (index into `gw.listeners`).
    pub fn build(gw: &Gateway, listener: usize) -> Table {
        let mut table = Table {
            apis: Vec::with_capacity(gw.apis.len()),
            stages: Vec::new(),
            default_stage: None,
            fallback: Protocol::Http,
            domains: Domains::build(gw, listener),
        };
        let mut served_any = false;
        for (api_index, api) in gw.apis.iter().enumerate() {
            if !api.listeners.contains(&listener) {
                table.apis.push(None);
                continue;
            }
            if !served_any {
                table.fallback = api.protocol;
                served_any = true;
            }
            table.apis.push(Some(ApiRoutes {
                protocol: api.protocol,
                trees: api
                    .deployments
                    .iter()
                    .map(|d| Tree::build(&d.routes))
                    .collect(),
            }));
            for (stage, s) in api.stages.iter().enumerate() {
                let stage_ref = StageRef {
                    name: s.name.as_bytes().into(),
                    api: api_index,
                    stage,
                };
                // Config refuses a stage name served twice on a listener; should
                // one get here anyway, the first API keeps it.
                if s.name == "$default" {
                    table.default_stage.get_or_insert(stage_ref);
                } else if !table.stages.iter().any(|o| *o.name == *s.name.as_bytes()) {
                    table.stages.push(stage_ref);
                }
            }
        }
        table
    }

    /// The API stage of a request: by custom domain and base path when `host`
    /// (the `Host` field's value) names a domain served here, else by stage
    /// prefix. `path` is the raw path without query.
    pub fn select(&self, host: Option<&[u8]>, path: &[u8]) -> Selected {
        if !self.domains.is_empty()
            && let Some(host) = host
            && let Some(domain) = self.domains.find(host)
        {
            return domain.select(path);
        }
        match self.select_stage(path) {
            Some((s, rest_start)) => Selected::Stage(StageMatch {
                api: s.api,
                stage: s.stage,
                rest_start,
            }),
            None => Selected::NotFound(self.fallback),
        }
    }

    /// Route a request of stage `sm` (from [`Table::select`] on the same
    /// `path`) in `deployment` (index into the API's deployments: the
    /// stage's, or its canary's). `method_name` is the method token as sent
    /// (used when `method` is `Method::Other`). Path parameters are
    /// percent-decoded into `params` (cleared first).
    pub fn route(
        &self,
        sm: StageMatch,
        deployment: usize,
        method: Method,
        method_name: &[u8],
        path: &[u8],
        params: &mut Params,
    ) -> Lookup {
        params.clear();
        let Some(api) = self.apis.get(sm.api).and_then(Option::as_ref) else {
            return Lookup::NotFound(self.fallback);
        };
        let Some(tree) = api.trees.get(deployment) else {
            return Lookup::NotFound(api.protocol);
        };
        let rest = match path.get(sm.rest_start..) {
            None | Some(b"") => b"/",
            Some(rest) => rest,
        };
        let route = match tree.find(method, method_name, rest) {
            Some((route, entry)) => {
                tree.capture(entry, rest, params);
                route
            }
            None => match tree.default_route {
                Some(route) => route,
                None => return Lookup::NotFound(api.protocol),
            },
        };
        Lookup::Found(Matched {
            api: sm.api,
            stage: sm.stage,
            deployment,
            route,
            rest_start: sm.rest_start,
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
mod stage_tests;
#[cfg(test)]
mod tests;
