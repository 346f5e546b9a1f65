//! The user's configuration: YAML or JSON in API Gateway's vocabulary, read
//! with line-precise errors, validated as a whole, and resolved into the
//! [`Gateway`] model the server runs.
//!
//! Guarantees: a [`Gateway`] returned by [`load`] is internally consistent
//! (every index points at an existing element, route keys are well formed and
//! do not conflict, templates reference only parameters their route has).
//! [`load`] reports every error it finds, each as `file:line:column: what`.
//! Does not: open sockets or build routers (see `route`).

use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;

pub use crate::proto::http1::Method;

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
        write!(f, "{}:{}:{}: {}", self.file, self.line, self.column, self.message)
    }
}

/// The resolved, validated configuration.
#[derive(Clone, Debug)]
pub struct Gateway {
    pub listeners: Vec<Listener>,
    pub limits: Limits,
    pub upstreams: Vec<Upstream>,
    pub apis: Vec<Api>,
}

#[derive(Clone, Debug)]
pub struct Listener {
    pub name: String,
    /// Port 0 asks the OS for a free port; the server prints what it bound.
    pub address: SocketAddr,
}

/// Connection-level limits, server-wide.
#[derive(Clone, Copy, Debug)]
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

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Balance {
    RoundRobin,
    /// Power of two random choices, least outstanding requests.
    LeastRequest,
}

#[derive(Clone, Debug)]
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

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Protocol {
    /// HTTP API (API Gateway v2): 404 `{"message":"Not Found"}`, `apigw-requestid`.
    Http,
    /// REST API (API Gateway v1): 403 Missing Authentication Token, `x-amzn-RequestId`.
    Rest,
}

#[derive(Clone, Debug)]
pub struct Api {
    pub name: String,
    pub protocol: Protocol,
    /// Indexes into `Gateway::listeners` this API is served on (all when not configured).
    pub listeners: Vec<usize>,
    /// Stage names; `$default` has no path prefix.
    pub stages: Vec<String>,
    pub routes: Vec<Route>,
}

#[derive(Clone, Debug)]
pub struct Route {
    pub key: RouteKey,
    pub integration: Integration,
}

/// `GET /pets/{id}`, `ANY /files/{proxy+}` or `$default`.
#[derive(Clone, Debug, PartialEq, Eq)]
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

#[derive(Clone, Debug)]
pub enum Integration {
    Mock(Mock),
    HttpProxy(HttpProxy),
}

/// A static response, no backend.
#[derive(Clone, Debug)]
pub struct Mock {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

#[derive(Clone, Debug)]
pub struct HttpProxy {
    /// Index into `Gateway::upstreams`. A URI whose host names a configured
    /// upstream uses it; a literal `host:port` gets an implicit single-target
    /// upstream named after it.
    pub upstream: usize,
    /// The URI's path as a template; `None` when the URI has no path (or `/`)
    /// and the request's own path (stage prefix removed) is forwarded.
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
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Template {
    pub parts: Vec<TemplatePart>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TemplatePart {
    Literal(String),
    /// A path parameter of the route, by name (`proxy` for `{proxy+}`). Substituted
    /// percent-encoded as a path segment (greedy ones keep their `/`).
    Param(String),
}

/// Read, parse, validate and resolve a configuration file (`.yaml`, `.yml` or `.json`).
/// Every error found is returned, not only the first.
pub fn load(path: &Path) -> Result<Gateway, Vec<ConfigError>> {
    let _ = path;
    todo!()
}

/// The same from text already read (`file` names it in errors; the format is
/// chosen by its extension, YAML when unknown).
pub fn load_str(file: &str, text: &str) -> Result<Gateway, Vec<ConfigError>> {
    let _ = (file, text);
    todo!()
}
