//! The user's configuration: YAML or JSON in API Gateway's vocabulary, read
//! with line-precise errors, validated as a whole, and resolved into the
//! [`Gateway`] model the server runs.
//!
//! Guarantees: a [`Gateway`] returned by [`load`] is internally consistent
//! (every index points at an existing element, route keys are well formed and
//! do not conflict, templates reference only parameters their route has).
//! [`load`] reports every error it finds, each as `file:line:column: what`,
//! sorted by position (a file that does not parse, or does not fit the schema's
//! types, gives one error: where parsing stopped).
//! Does not: open sockets or build routers (see `route`). Host names in
//! upstream targets are resolved once, while loading.
//!
//! # Schema
//!
//! YAML, or JSON when the file name ends in `.json` (checked as strict JSON,
//! then read by the same YAML reader, so errors are located the same way).
//! Unknown fields are errors. Durations are in milliseconds and must be > 0.
//!
//! ```yaml
//! listeners:                    # required, at least one
//!   - name: main                # letters, digits, . _ - ; unique
//!     address: 127.0.0.1:8080   # IP:port; port 0 = any free port. IPv6: "[::1]:8080" (quoted)
//!
//! limits:                       # optional; defaults shown
//!   max_header_bytes: 16384     # request head larger → 431
//!   max_headers: 100            # more header fields → 431
//!   max_body_bytes: 10485760    # larger body → 413
//!   header_read_timeout_ms: 10000
//!   keepalive_timeout_ms: 60000
//!   drain_timeout_ms: 30000     # grace for in-flight requests on SIGTERM/SIGINT
//!
//! upstreams:                    # optional: name -> upstream
//!   backend:                    # letters, digits, . _ - (no `:`)
//!     targets: [127.0.0.1:9000, localhost:9001]   # host:port, at least one; names are
//!                               # resolved at load (first IPv4 address, else the first)
//!     balance: round_robin      # round_robin (default) | least_request
//!     pool_size: 64             # idle keep-alive connections kept per target per worker
//!     connect_timeout_ms: 2000
//!     idle_timeout_ms: 60000
//!
//! apis:
//!   - name: shop                # unique
//!     protocol: http            # http (HTTP API, default) | rest (REST API)
//!     listeners: [main]         # optional; default: every listener
//!     stages: [prod]            # at least one; letters, digits, _ - ; or $default (no path
//!                               # prefix). Two APIs sharing a listener may not share a stage.
//!     routes:
//!       - route: GET /pets/{id} # METHOD /path, or $default
//!         integration:
//!           type: mock          # a fixed response
//!           status: 200         # 100..=599, default 200
//!           headers: {content-type: application/json}
//!           body: '{"id": 7}'   # a string, default empty
//!       - route: ANY /files/{proxy+}
//!         integration:
//!           type: http_proxy    # forward to an HTTP/1.1 backend
//!           uri: http://backend/files/{proxy}
//!           timeout_ms: 29000   # 50..=300000, default 29000
//!           pass_host: false    # true: send the client's Host instead of the uri's authority
//!       - route: $default
//!         integration: {type: http_proxy, uri: http://127.0.0.1:9000}
//! ```
//!
//! **Route keys.** `METHOD /path` or exactly `$default`. METHOD is `GET`,
//! `HEAD`, `POST`, `PUT`, `DELETE`, `PATCH`, `OPTIONS`, `CONNECT`, `TRACE`,
//! `ANY`, or any other method token (an extension method, matched by name);
//! methods are case-sensitive. The path starts with `/`, has no empty segment
//! and no trailing `/` (except the root `/`), no `?` or `#`; literal segments
//! use RFC 3986 path characters (percent-encode others); a parameter `{name}`
//! is a whole segment, `name` = letters, digits, `.`, `_`, `-`; a greedy
//! `{name+}` only as the last segment; no name twice. How requests match is
//! described in the `route` module. Refused as conflicts: the same key twice,
//! two paths that differ only in parameter names (`/pets/{id}` and
//! `/pets/{petId}`, whatever their methods), two `$default` routes.
//!
//! **Integration URIs** (`http_proxy`). `http://` only (`https://` is not
//! supported yet). The authority is either the name of an upstream, or a
//! literal `host:port`, which adds an implicit single-target upstream named
//! `host:port` with default settings (one per distinct spelling). The
//! authority as written is the `Host` header sent (unless `pass_host`). A URI
//! with no path, or path `/`, and no query forwards the request's whole path
//! as it came, stage prefix included (as API Gateway's HTTP APIs do); any other path and query (`http://b?x=1` counts
//! as `/?x=1`) is a template: `{name}` is replaced by the route's parameter
//! `name` (`{proxy}` for `{proxy+}`), which must exist — a `$default` route
//! has none. The request's query string is appended after the URI's own.
//!
//! **YAML note.** Inside flow collections (`{...}`, `[...]`) the characters
//! `{ } [ ] ,` end an unquoted value, so quote route keys and URIs with
//! parameters there: `{route: "GET /pets/{id}", ...}`. Block style
//! (`route: GET /pets/{id}`) needs no quotes.

use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;

pub use crate::proto::http1::Method;

mod model;
mod resolve;
mod routes;
#[cfg(test)]
mod tests;

use resolve::Errors;
use serde_saphyr::MessageFormatter;

/// One configuration error, located in its file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConfigError {
    pub file: String,
    pub line: u64,
    pub column: u64,
    pub message: String,
}

impl std::fmt::Display for ConfigError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{}:{}:{}: {}",
            self.file, self.line, self.column, self.message
        )
    }
}

/// The resolved, validated configuration.
#[derive(Clone, Debug, PartialEq, rkyv::Archive, rkyv::Serialize, rkyv::Deserialize)]
pub struct Gateway {
    pub listeners: Vec<Listener>,
    pub limits: Limits,
    pub upstreams: Vec<Upstream>,
    pub apis: Vec<Api>,
}

#[derive(Clone, Debug, PartialEq, rkyv::Archive, rkyv::Serialize, rkyv::Deserialize)]
pub struct Listener {
    pub name: String,
    /// Port 0 asks the OS for a free port; the server prints what it bound.
    pub address: SocketAddr,
}

/// Connection-level limits, server-wide.
#[derive(Clone, Copy, Debug, PartialEq, rkyv::Archive, rkyv::Serialize, rkyv::Deserialize)]
pub struct Limits {
    /// Largest request head; beyond → 431. Default 16 KiB.
    pub max_header_bytes: usize,
    /// Most header fields per request; beyond → 431. Default 100.
    pub max_headers: usize,
    /// Largest request body; beyond → 413. Default 10 MB (10,485,760).
    pub max_body_bytes: u64,
    /// Time to receive a whole request head; beyond → 408 and close. Default 10 s.
    pub header_read_timeout: Duration,
    /// Idle time allowed between requests on a keep-alive connection. Default 60 s.
    pub keepalive_timeout: Duration,
    /// On SIGTERM/SIGINT, how long in-flight requests may take to finish. Default 30 s.
    pub drain_timeout: Duration,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, rkyv::Archive, rkyv::Serialize, rkyv::Deserialize)]
pub enum Balance {
    RoundRobin,
    /// Power of two random choices, least outstanding requests.
    LeastRequest,
}

#[derive(Clone, Debug, PartialEq, rkyv::Archive, rkyv::Serialize, rkyv::Deserialize)]
pub struct Upstream {
    pub name: String,
    pub targets: Vec<SocketAddr>,
    pub balance: Balance,
    /// Most idle keep-alive connections kept per target per worker. Default 64.
    pub pool_size: usize,
    /// Default 2 s.
    pub connect_timeout: Duration,
    /// Idle pooled connections older than this are closed. Default 60 s.
    pub idle_timeout: Duration,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, rkyv::Archive, rkyv::Serialize, rkyv::Deserialize)]
pub enum Protocol {
    /// HTTP API (API Gateway v2): 404 `{"message":"Not Found"}`, `apigw-requestid`.
    Http,
    /// REST API (API Gateway v1): 403 Missing Authentication Token, `x-amzn-RequestId`.
    Rest,
}

#[derive(Clone, Debug, PartialEq, rkyv::Archive, rkyv::Serialize, rkyv::Deserialize)]
pub struct Api {
    pub name: String,
    pub protocol: Protocol,
    /// Indexes into `Gateway::listeners` this API is served on (all when not configured).
    pub listeners: Vec<usize>,
    /// Stage names; `$default` has no path prefix.
    pub stages: Vec<String>,
    pub routes: Vec<Route>,
}

#[derive(Clone, Debug, PartialEq, rkyv::Archive, rkyv::Serialize, rkyv::Deserialize)]
pub struct Route {
    pub key: RouteKey,
    pub integration: Integration,
}

/// `GET /pets/{id}`, `ANY /files/{proxy+}` or `$default`.
#[derive(Clone, Debug, PartialEq, Eq, rkyv::Archive, rkyv::Serialize, rkyv::Deserialize)]
pub enum RouteKey {
    Default,
    Path {
        /// `None` for `ANY`.
        method: Option<Method>,
        /// Extension method name when `method == Some(Method::Other)`.
        method_name: String,
        /// The path as the user wrote it, e.g. `/pets/{id}` or `/files/{proxy+}`.
        path: String,
    },
}

impl std::fmt::Display for RouteKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            RouteKey::Default => f.write_str("$default"),
            RouteKey::Path {
                method: None, path, ..
            } => write!(f, "ANY {path}"),
            RouteKey::Path {
                method_name, path, ..
            } => write!(f, "{method_name} {path}"),
        }
    }
}

#[derive(Clone, Debug, PartialEq, rkyv::Archive, rkyv::Serialize, rkyv::Deserialize)]
pub enum Integration {
    Mock(Mock),
    HttpProxy(HttpProxy),
}

/// A static response, no backend.
#[derive(Clone, Debug, PartialEq, rkyv::Archive, rkyv::Serialize, rkyv::Deserialize)]
pub struct Mock {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

#[derive(Clone, Debug, PartialEq, rkyv::Archive, rkyv::Serialize, rkyv::Deserialize)]
pub struct HttpProxy {
    /// Index into `Gateway::upstreams`. A URI whose host names a configured
    /// upstream uses it; a literal `host:port` gets an implicit single-target
    /// upstream named after it.
    pub upstream: usize,
    /// The URI's path as a template; `None` when the URI has no path (or `/`)
    /// and the request's own path (stage prefix included) is forwarded.
    pub path: Option<Template>,
    /// The request's query string is always appended (after the URI's own query, if any).
    /// Default 29 s, at most 300 s.
    pub timeout: Duration,
    /// Forward the client's Host instead of the target's `host:port`.
    pub pass_host: bool,
    /// The `Host` value to send when `pass_host` is false (the URI's authority).
    pub host_header: String,
}

/// An integration URI path (and optional query) with `{param}` / `{proxy}` holes.
#[derive(Clone, Debug, PartialEq, Eq, rkyv::Archive, rkyv::Serialize, rkyv::Deserialize)]
pub struct Template {
    pub parts: Vec<TemplatePart>,
}

#[derive(Clone, Debug, PartialEq, Eq, rkyv::Archive, rkyv::Serialize, rkyv::Deserialize)]
pub enum TemplatePart {
    Literal(String),
    /// A path parameter of the route, by name (`proxy` for `{proxy+}`). Substituted
    /// percent-encoded as a path segment (greedy ones keep their `/`).
    Param(String),
}

/// Read, parse, validate and resolve a configuration file (`.yaml`, `.yml` or `.json`).
/// Every error found is returned, not only the first.
pub fn load(path: &Path) -> Result<Gateway, Vec<ConfigError>> {
    let file = path.display().to_string();
    match std::fs::read_to_string(path) {
        Ok(text) => load_str(&file, &text),
        Err(e) => Err(vec![ConfigError {
            file,
            line: 0,
            column: 0,
            message: format!("cannot read the configuration: {e}"),
        }]),
    }
}

/// The same from text already read (`file` names it in errors; the format is
/// chosen by its extension, YAML when unknown).
pub fn load_str(file: &str, text: &str) -> Result<Gateway, Vec<ConfigError>> {
    let mut errors = Errors::new(file);
    let json = Path::new(file)
        .extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("json"));
    if json && let Err(e) = serde_json::from_str::<serde::de::IgnoredAny>(text) {
        // serde_json's text ends in " at line L column C"; the location goes first instead.
        let text = e.to_string();
        let message = text
            .rsplit_once(" at line ")
            .map_or(text.as_str(), |(m, _)| m);
        errors.at_line(
            e.line() as u64,
            e.column() as u64,
            format!("invalid JSON: {message}"),
        );
        return Err(errors.list);
    }
    let raw: model::RawGateway = match serde_saphyr::from_str(text) {
        Ok(raw) => raw,
        Err(e) => {
            let (line, column) = e.location().map_or((0, 0), |l| (l.line(), l.column()));
            let message = serde_saphyr::UserMessageFormatter.format_message(&e);
            let message = match message.as_ref() {
                "invalid u64" => "expected a whole number, 0 or more".to_owned(),
                other => other.to_owned(),
            };
            errors.at_line(line, column, message);
            return Err(errors.list);
        }
    };
    let gateway = resolve::resolve(&raw, &mut errors);
    if errors.list.is_empty() {
        Ok(gateway)
    } else {
        errors.list.sort_by_key(|e| (e.line, e.column));
        Err(errors.list)
    }
}
