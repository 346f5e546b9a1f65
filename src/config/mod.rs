//! The user's configuration: YAML or JSON in API Gateway's vocabulary, read
//! with line-precise errors, validated as a whole, and resolved into the
//! [`Gateway`] model the server runs.
//!
//! Guarantees: a [`Gateway`] returned by [`load`] is internally consistent
//! (every index points at an existing element, route keys are well formed and
//! do not conflict, templates reference only parameters their route has,
//! stage variables are substituted: each stage and canary points at a route
//! set resolved for its own variables).
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
//!     # optional: tls: {cert, key, certificates}, http2: {...}, redirect_https: PORT,
//!     # hsts_max_age: SECONDS — see the `tls` module and README "TLS and HTTP/2"
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
//!     stages:                   # at least one; names: letters, digits, _ - ; or $default
//!                               # (no path prefix). Two APIs sharing a listener may not
//!                               # share a stage name.
//!       - prod                  # short form: deployment `current`, no variables
//!       - name: beta
//!         deployment: v1        # default `current` (the `routes` below)
//!         variables:            # stage variables: names [A-Za-z0-9_]+, values strings
//!           backend: 127.0.0.1:9001
//!           version: v2
//!         deployment_header: false  # true: responses carry `x-tollgate-deployment: NAME`
//!         canary:               # optional
//!           percent: 10         # 0..=100 of the stage's requests, decimals allowed (0.5)
//!           deployment: v2      # default `current`
//!           stage_variables: {version: v3}  # override / extend the stage's variables
//!           sticky: {header: x-canary}      # or {cookie: NAME}; optional
//!         access_log:           # optional: one line per request of this stage
//!           destination: /var/log/tollgate/beta.log  # a file (appended to) or `stdout`
//!           format: json        # clf (default) | json | xml | csv | a template
//!         throttling: {rate: 100, burst: 200}  # optional: each route's default throttle
//!         route_settings:       # optional: route key → settings of that route here
//!           "GET /pets/{id}": {throttling: {rate: 10, burst: 20}}  # replaces the stage's
//!     deployments:              # optional: named, frozen route sets (not `current`);
//!       v1: {routes: [...]}     # names: letters, digits, . _ -
//!       v2: {routes: [...]}
//!     binary_media_types: [image/png, "image/*", application/octet-stream]  # optional:
//!                               # Lambda events carry these request bodies base64 ("*/*": all)
//!     gateway_responses:        # optional: override API Gateway's gateway responses
//!       RESOURCE_NOT_FOUND:     # a type name (see below), or DEFAULT_4XX / DEFAULT_5XX
//!         status: 410           # 200..=599; default: the type's
//!         headers: {access-control-allow-origin: "*"}
//!         template: '{"error":$context.error.messageString}'
//!     authorizers:              # optional: name -> authorizer (README: Authorizers and CORS)
//!       users: {type: jwt, issuer: https://issuer.example, audience: [my-api],
//!               jwks_uri: "http://127.0.0.1:9000/jwks.json"}   # or https:// (jwks_ca_file: PEM to trust), or jwks_file: PATH
//!       gate: {type: request, uri: "http://127.0.0.1:9002/auth", enable_simple_responses: true,
//!              identity_source: ["$request.header.X-Token"], result_ttl_seconds: 300}
//!     cors: {allow_origins: ["https://app.example"], allow_methods: [GET], max_age: 600}
//!     routes:
//!       - route: GET /pets/{id} # METHOD /path, or $default
//!         authorizer: users     # optional: one of the API's authorizers
//!         authorization_scopes: [pets:read]  # optional, JWT authorizers: one of these scopes
//!         authorization: aws_iam  # optional: none (default) | aws_iam: SigV4 by one of `iam`'s keys
//!         api_key_required: false   # true: a valid X-API-Key or 403; usage plans apply
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
//!       - route: POST /orders
//!         integration:
//!           type: lambda        # Lambda proxy integration over the Invoke API
//!           uri: http://127.0.0.1:9001   # the endpoint: an upstream name or host:port
//!           function: orders    # name, name:alias, or ARN
//!           payload_format_version: "2.0"  # HTTP APIs: "1.0" | "2.0" (default); REST: "1.0"
//!           timeout_ms: 29000   # 50..=300000, default 29000
//!           credentials: env    # optional: sign with SigV4 (service lambda); `env` or
//!                               # {access_key_id, secret_access_key, session_token}
//!           region: us-east-1   # for signing; default AWS_REGION, AWS_DEFAULT_REGION, us-east-1
//!
//! domains:                      # optional: custom domain names
//!   - name: api.example.com     # or *.example.com: any one more label; case-insensitive
//!     mappings:                 # base path -> API/STAGE; at least one
//!       "": shop/prod           # "": requests whose first segment is no other mapping's
//!       v2: shop/beta           # one segment of letters, digits and $-_.+!*'()
//!
//! throttling: {rate: 10000, burst: 5000}  # account-wide (this gateway), the default;
//!                               # `unlimited` turns it off. rate: requests per second
//!                               # (fractions allowed), burst: the bucket's size
//! api_keys:                     # optional
//!   - name: alice               # 1..=1024 characters
//!     value: 0123456789abcdefghij   # 20..=128 visible ASCII characters, or:
//!     # sha256: 64 hex digits   # the SHA-256 of the value (only hashes are kept)
//!     enabled: true             # default true
//!     description: ""
//!     usage_plans: [basic]      # names (or ids) of usage plans
//! api_keys_csv: keys.csv        # optional: API Gateway's key import file, relative to
//!                               # this file (Name,Key,Description,Enabled,UsagePlanIds)
//! usage_plans:                  # optional
//!   - name: basic               # letters, digits, . _ - ; unique
//!     id: c7y23b                # optional: another name (as CSV imports write it)
//!     throttle: {rate: 10, burst: 20}   # optional: per key
//!     quota: {limit: 5000, period: DAY, offset: 0}  # optional: per key; DAY | WEEK
//!                               # (offset: 0 = Sunday..6) | MONTH (offset: 0 = the 1st..27)
//!     api_stages:               # the API stages the plan covers
//!       - api: shop
//!         stage: prod
//!         throttle: {"GET /pets/{id}": {rate: 5, burst: 10}}  # optional, per key and route
//! state_dir: ./state            # quota counts and runtime API keys (created on first use)
//! quota_store: file             # file (in state_dir) | redis://host:port[/db]: shared by
//!                               # several gateway nodes
//! reconcile_ms: 10              # 1..=10000: how often leases and quotas are reconciled
//! iam:                          # optional: IAM (SigV4) authorization's access keys
//!   region: us-east-1           # the credential scope's region (default us-east-1)
//!   account_id: "123456789012"  # method ARNs' account (default 123456789012)
//!   access_keys:
//!     - id: AKIAALICE0EXAMPLE0  # 16..=128 letters and digits; unique
//!       secret_env: ALICE_SECRET   # or `secret: …` (kept in snapshots)
//!       principal: arn:aws:iam::123456789012:user/alice  # default …:user/{id}
//!       policy: {Statement: [{Effect: Allow, Action: execute-api:Invoke, Resource: "arn:aws:execute-api:*:*:shop/*"}]}
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
//! **Integration URIs** (`http_proxy`). `http://` or `https://`. The
//! authority is either the name of an upstream (`https://` exactly when the
//! upstream has a `tls:` block), or a literal `host:port`, which adds an
//! implicit single-target upstream named `host:port` (`https://host:port`
//! for TLS, verified against the bundled web roots for `host`) with default
//! settings (one per distinct spelling). TLS and HTTP/2 settings: see `tls`. The
//! authority as written is the `Host` header sent (unless `pass_host`). A URI
//! with no path, or path `/`, and no query forwards the request's whole path
//! as it came, stage prefix (or custom domain base path) included (as API
//! Gateway's HTTP APIs do); any other path and query (`http://b?x=1` counts
//! as `/?x=1`) is a template: `{name}` is replaced by the route's parameter
//! `name` (`{proxy}` for `{proxy+}`), which must exist — a `$default` route
//! has none. The request's query string is appended after the URI's own.
//!
//! **Deployments and stages.** An API's `routes` are its working deployment,
//! named `current`; `deployments` adds named route sets (same route syntax,
//! each checked on its own). Each stage runs one deployment (`current` unless
//! it names another) under its path prefix, `$default` without one. A
//! deployment's id is a hash of its routes as written, so equal routes have
//! equal ids.
//!
//! **Stage variables.** `${stageVariables.NAME}` is replaced by the stage's
//! value in an `http_proxy` `uri` (anywhere: the authority, so a variable can
//! name an upstream or a literal `host:port`, the path and the query) and in
//! mock `headers` values and `body`. Substitution happens once, when the
//! file loads, for each stage and canary that runs the deployment; the result
//! is then checked like any route (an upstream a value names must exist). A
//! name the stage does not define is an error at the uri, header or body that
//! uses it. Other `${...}` text is left alone. A deployment that no stage runs
//! is checked without variables.
//!
//! **Access logs.** `format` is one of API Gateway's console samples
//! (`clf`, `json`, `xml`, `csv`, in the REST or HTTP API variant after the
//! API's protocol) or a one-line template of `$context.*` variables, e.g.
//! `'{"requestId":"$context.requestId","status":$context.status}'`. It must
//! contain `$context.requestId` or `$context.extendedRequestId`, and every
//! variable must be one tollgate knows (`observe::access_log` lists them);
//! either mistake is an error at the format. Relative `destination` paths
//! are relative to the gateway's working directory; the file is opened (and
//! created) by its writer thread when the first line arrives, and reopened
//! on SIGUSR1. Several stages may share a destination.
//!
//! **Canary.** `percent` of a stage's requests run the canary's deployment
//! with the stage's variables overridden and extended by `stage_variables`.
//! Each request is decided by a hash of its request id, or, with `sticky`, of
//! the named header's (or cookie's) value when the request has one, so a
//! client that sends it stays on one side. `deployment_header: true` shows
//! which side served in `x-tollgate-deployment`.
//!
//! **Custom domains.** A request whose `Host` (port ignored) is a domain is
//! routed by the domain's mappings instead of stage prefixes: a first path
//! segment that is a mapped base path picks that API stage and is removed
//! before route matching; otherwise the `""` mapping takes the whole path;
//! otherwise the answer is `403 {"message":"Forbidden"}`. Exact names win over
//! wildcards; `*.example.com` matches `a.example.com`, not `example.com` or
//! `a.b.example.com`. Any other `Host` uses stage prefixes. A domain is served
//! on every listener that serves one of its mapped APIs. Domain names are
//! unique; mappings name an existing API and stage.
//!
//! **Lambda.** A `lambda` route sends API Gateway's proxy event (payload
//! format 1.0 or 2.0, see `integration::lambda::event`) as
//! `POST {uri}/2015-03-31/functions/{function}/invocations`, the API that
//! Lambda and the Lambda Runtime Interface Emulator serve, over the
//! upstream's pooled keep-alive connections, and answers with the
//! function's proxy response. The `uri` has no path. `${stageVariables.NAME}`
//! works in `uri` and `function`. Without `credentials` requests go unsigned;
//! `credentials: env` reads `AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY` and
//! `AWS_SESSION_TOKEN` when first needed (static credentials end up in
//! snapshots; prefer `env`). A function error (`X-Amz-Function-Error`) or a
//! malformed answer is the integration failure (REST 502
//! `{"message":"Internal server error"}`, HTTP API 500); an Invoke API
//! answer of 403 or 404 (no such function, no permission) is
//! `API_CONFIGURATION_ERROR` (500).
//!
//! **Gateway responses.** Every error the gateway answers has a type:
//! `ACCESS_DENIED`, `API_CONFIGURATION_ERROR`,
//! `AUTHORIZER_CONFIGURATION_ERROR`, `AUTHORIZER_FAILURE`,
//! `BAD_REQUEST_PARAMETERS`, `BAD_REQUEST_BODY`, `DEFAULT_4XX`,
//! `DEFAULT_5XX`, `EXPIRED_TOKEN`, `INTEGRATION_FAILURE`,
//! `INTEGRATION_TIMEOUT`, `INVALID_API_KEY`, `INVALID_SIGNATURE`,
//! `MISSING_AUTHENTICATION_TOKEN`, `QUOTA_EXCEEDED`, `REQUEST_TOO_LARGE`,
//! `RESOURCE_NOT_FOUND`, `THROTTLED`, `UNAUTHORIZED`,
//! `UNSUPPORTED_MEDIA_TYPE`, `WAF_FILTERED` (defaults in
//! `pipeline::gateway_response`). An override replaces the fields it sets;
//! a type without its own override takes the `DEFAULT_4XX` or `DEFAULT_5XX`
//! override of its status class. Templates are text with
//! `$context.error.messageString` (the message as a JSON string),
//! `$context.error.message`, `$context.error.responseType` and
//! `$context.requestId`; headers are literal values (not `Content-Length`,
//! `Date`, `Connection` or the request id headers). Errors before a request
//! reaches an API (malformed HTTP, unknown custom domain paths) use the
//! defaults. API Gateway offers overrides on REST APIs only; tollgate takes
//! them on HTTP APIs too.
//!
//! **Throttling, API keys, usage plans** (see `limit`). A request passes, in
//! order: its API key (routes with `api_key_required`: `X-API-Key` must be
//! an enabled key — else `403 {"message":"Forbidden"}` — in a usage plan
//! that covers the stage, when any plan does), the key's quota (`429
//! {"message":"Limit Exceeded"}`) and throttle (the plan's per-route
//! throttle, else the plan's), the stage's throttle (the route's
//! `route_settings`, else the stage's `throttling`), and the account's.
//! A throttle that refuses answers `429 {"message":"Too Many Requests"}` with
//! `Retry-After`. A key may be in at most one usage plan per API stage.
//! Quota periods are UTC. `state_dir`, `quota_store` and `reconcile_ms` are
//! read at start (a reload that changes them is refused).
//!
//! **YAML note.** Inside flow collections (`{...}`, `[...]`) the characters
//! `{ } [ ] ,` end an unquoted value, so quote route keys and URIs with
//! parameters there: `{route: "GET /pets/{id}", ...}`. Block style
//! (`route: GET /pets/{id}`) needs no quotes.

use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;

pub use crate::limit::period::Period;
pub use crate::proto::http1::Method;
pub use authorizers::{
    Authorizer, AuthorizerKind, CONTEXT_SOURCES, Cors, IdentitySource, JwksSource, JwtAuthorizer,
    LambdaAuthorizer, validation_regex,
};
pub use caching::{CacheKeyParameter, CacheSettings, RouteCache, UnauthorizedCacheControl};

mod authorizers;
pub(crate) mod caching;
mod domains;
mod gateway_responses;
pub(crate) mod iam;
mod lambda;
pub(crate) mod limits;
mod model;
mod resolve;
mod routes;
#[cfg(test)]
mod stage_tests;
mod stages;
#[cfg(test)]
mod tests;
mod tls;
mod vars;

#[cfg(test)]
pub(crate) use gateway_responses::parse_template as parse_response_template;
pub use gateway_responses::{GatewayResponseOverride, ResponseType, TemplatePiece};
pub use iam::{AccessKey, Authorization, Iam, IamSecret};
use resolve::Errors;
use serde_saphyr::MessageFormatter;
pub use tls::{Http2, ListenerTls, SniCert, UpstreamProtocol, UpstreamTls};

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
    /// Custom domains with their base path mappings.
    pub domains: Vec<Domain>,
    /// The account-wide throttle (API Gateway's default: 10,000 requests per
    /// second, burst 5,000); `None` when configured `unlimited`.
    pub throttling: Option<Throttle>,
    /// API keys, by the SHA-256 of their values (never the values).
    pub api_keys: Vec<ApiKey>,
    pub usage_plans: Vec<UsagePlan>,
    /// IAM authorization's access keys (`None`: no `iam` section).
    pub iam: Option<Iam>,
    /// Where quota counts and runtime API keys are kept.
    pub quota_state: QuotaState,
}

impl Gateway {
    /// Routes as written: each deployment of each API counted once, however
    /// many stages run it.
    pub fn route_count(&self) -> usize {
        self.apis
            .iter()
            .map(|a| {
                let mut names: Vec<&str> = Vec::new();
                a.deployments
                    .iter()
                    .filter(|d| {
                        let new = !names.contains(&d.name.as_str());
                        names.push(&d.name);
                        new
                    })
                    .map(|d| d.routes.len())
                    .sum::<usize>()
            })
            .sum()
    }
}

#[derive(Clone, Debug, PartialEq, rkyv::Archive, rkyv::Serialize, rkyv::Deserialize)]
pub struct Listener {
    pub name: String,
    /// Port 0 asks the OS for a free port; the server prints what it bound.
    pub address: SocketAddr,
    /// TLS termination: certificate files by path (`None`: plain TCP).
    pub tls: Option<ListenerTls>,
    pub http2: Http2,
    /// Redirect every request to `https://host:PORT` (308).
    pub redirect_https: Option<u16>,
    /// HSTS max-age (seconds) on a TLS listener's responses.
    pub hsts_max_age: Option<u64>,
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
    /// TLS to the targets (`None`: plain TCP).
    pub tls: Option<UpstreamTls>,
    pub protocol: UpstreamProtocol,
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
    /// In file order; `$default` has no path prefix.
    pub stages: Vec<Stage>,
    /// The route sets stages and canaries run: one per deployment and the
    /// values of the stage variables its routes use, substituted. Only
    /// deployments some stage or canary uses are here.
    pub deployments: Vec<Deployment>,
    /// Media types (lower-case `type/subtype`, `type/*`, `*/*`) whose request
    /// bodies Lambda events carry base64-encoded.
    pub binary_media_types: Vec<String>,
    /// Overrides of gateway responses, at most one per type, in file order.
    pub gateway_responses: Vec<GatewayResponseOverride>,
    /// The API's authorizers, in file order; routes name them by index.
    pub authorizers: Vec<Authorizer>,
    /// HTTP APIs' CORS settings: preflights answered by the gateway, and
    /// CORS headers added to responses.
    pub cors: Option<Cors>,
}

impl Api {
    /// The stage named `name`.
    pub fn stage(&self, name: &str) -> Option<usize> {
        self.stages.iter().position(|s| s.name == name)
    }
}

/// A deployment's routes with one stage's variables substituted.
#[derive(Clone, Debug, PartialEq, rkyv::Archive, rkyv::Serialize, rkyv::Deserialize)]
pub struct Deployment {
    /// `current` (the API's own `routes`) or a key of its `deployments`.
    pub name: String,
    /// 8 hex digits of a hash of the routes as written (before substitution):
    /// the same routes give the same id, run after run.
    pub id: String,
    pub routes: Vec<Route>,
}

/// A stage: a name (the path prefix, none for `$default`), the deployment it
/// runs and its variables, and optionally a canary.
#[derive(Clone, Debug, PartialEq, rkyv::Archive, rkyv::Serialize, rkyv::Deserialize)]
pub struct Stage {
    pub name: String,
    /// Stage variables, sorted by name. Already substituted into the routes
    /// of `deployment`; kept for integrations that pass them on.
    pub variables: Vec<(String, String)>,
    /// Index into `Api::deployments`.
    pub deployment: usize,
    pub canary: Option<Canary>,
    /// Responses carry `x-tollgate-deployment: <deployment name>`.
    pub deployment_header: bool,
    pub settings: StageSettings,
}

/// Per-stage settings: access logging here; throttling and the response
/// cache add their fields (their issues fill them in).
#[derive(
    Clone, Debug, Default, PartialEq, Eq, rkyv::Archive, rkyv::Serialize, rkyv::Deserialize,
)]
pub struct StageSettings {
    pub access_log: Option<AccessLog>,
    /// The stage's default throttle for each route.
    pub throttling: Option<Throttle>,
    /// Route key (as [`RouteKey`] displays it) → the throttle that replaces
    /// the stage's default on that route.
    pub route_throttling: Vec<(String, Throttle)>,
    /// The stage's response cache (`None`: no cache).
    pub cache: Option<CacheSettings>,
}

/// A stage's access log: one line per request, in API Gateway's
/// `$context` format language (see `observe::access_log`).
#[derive(Clone, Debug, PartialEq, Eq, rkyv::Archive, rkyv::Serialize, rkyv::Deserialize)]
pub struct AccessLog {
    /// `stdout`, or a file path (opened for appending, created if missing;
    /// relative paths are relative to the gateway's working directory).
    pub destination: String,
    /// A preset (`clf`, `json`, `xml`, `csv`) or a template; checked at load.
    pub format: String,
}

/// A share of a stage's requests that runs another deployment, with its own
/// variables.
#[derive(Clone, Debug, PartialEq, rkyv::Archive, rkyv::Serialize, rkyv::Deserialize)]
pub struct Canary {
    /// 0.0..=100.0: the share of requests, chosen per request (see
    /// `route::canary_pick`).
    pub percent: f64,
    /// Index into `Api::deployments`.
    pub deployment: usize,
    /// The stage's variables with the canary's overrides and additions, sorted by name.
    pub variables: Vec<(String, String)>,
    /// Choose by this header's or cookie's value instead of the request id,
    /// so one client keeps its side.
    pub sticky: Option<Sticky>,
}

#[derive(Clone, Debug, PartialEq, Eq, rkyv::Archive, rkyv::Serialize, rkyv::Deserialize)]
pub enum Sticky {
    /// A request header's value (name lower-case; matched case-insensitively).
    Header(String),
    /// The value of this cookie in the `Cookie` header (name as written; matched exactly).
    Cookie(String),
}

/// A custom domain: requests whose `Host` is this name go to the API stage
/// their first path segment (the base path) maps to.
#[derive(Clone, Debug, PartialEq, Eq, rkyv::Archive, rkyv::Serialize, rkyv::Deserialize)]
pub struct Domain {
    /// Lower-case; `*.example.com` for a wildcard (any one more label).
    pub name: String,
    /// In file order.
    pub mappings: Vec<BasePathMapping>,
}

#[derive(Clone, Debug, PartialEq, Eq, rkyv::Archive, rkyv::Serialize, rkyv::Deserialize)]
pub struct BasePathMapping {
    /// One path segment, or empty for requests whose first segment is no
    /// other mapping's (the base path is then not stripped).
    pub base_path: String,
    /// Index into `Gateway::apis`.
    pub api: usize,
    /// Index into that API's stages.
    pub stage: usize,
}

#[derive(Clone, Debug, PartialEq, rkyv::Archive, rkyv::Serialize, rkyv::Deserialize)]
pub struct Route {
    pub key: RouteKey,
    pub integration: Integration,
    /// Requests need a valid `X-API-Key` (else 403 Forbidden); usage plans
    /// apply only to such routes.
    pub api_key_required: bool,
    /// Response cache settings (they apply when the stage has a cache).
    pub cache: RouteCache,
    /// `aws_iam`: a SigV4 signature by one of `Gateway::iam`'s keys.
    pub authorization: Authorization,
    /// Index into the API's `authorizers`: requests are authorized first.
    pub authorizer: Option<usize>,
    /// With a JWT authorizer: the token must carry one of these scopes.
    pub authorization_scopes: Vec<String>,
}

/// A token bucket: refilled at `rate` requests per second up to `burst`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, rkyv::Archive, rkyv::Serialize, rkyv::Deserialize)]
pub struct Throttle {
    /// Requests per second × 1000 (API Gateway allows fractional rates).
    pub rate_milli: u64,
    pub burst: u64,
}

/// An API key: its name and the SHA-256 of its value.
#[derive(Clone, Debug, PartialEq, Eq, rkyv::Archive, rkyv::Serialize, rkyv::Deserialize)]
pub struct ApiKey {
    pub name: String,
    pub hash: [u8; 32],
    pub enabled: bool,
    pub description: String,
    /// Indexes into `Gateway::usage_plans`; no two cover the same API stage.
    pub usage_plans: Vec<usize>,
}

/// A usage plan: per-key throttling and quota on some API stages.
#[derive(Clone, Debug, PartialEq, Eq, rkyv::Archive, rkyv::Serialize, rkyv::Deserialize)]
pub struct UsagePlan {
    pub name: String,
    /// Another name a CSV import may use for the plan.
    pub id: Option<String>,
    /// Each key's throttle on the plan's stages.
    pub throttle: Option<Throttle>,
    pub quota: Option<Quota>,
    pub api_stages: Vec<PlanStage>,
}

/// An API stage a usage plan covers.
#[derive(Clone, Debug, PartialEq, Eq, rkyv::Archive, rkyv::Serialize, rkyv::Deserialize)]
pub struct PlanStage {
    /// Index into `Gateway::apis`.
    pub api: usize,
    /// Index into that API's stages.
    pub stage: usize,
    /// Route key → each key's throttle on that route (replaces the plan's).
    pub route_throttling: Vec<(String, Throttle)>,
}

/// Requests a key may make per period.
#[derive(Clone, Copy, Debug, PartialEq, Eq, rkyv::Archive, rkyv::Serialize, rkyv::Deserialize)]
pub struct Quota {
    pub limit: u64,
    pub period: Period,
    /// Weekday (0 = Sunday) a WEEK starts on, or day (0 = the 1st) a MONTH starts on.
    pub offset: u32,
}

/// Where quota counts and runtime API keys live.
#[derive(Clone, Debug, PartialEq, Eq, rkyv::Archive, rkyv::Serialize, rkyv::Deserialize)]
pub struct QuotaState {
    /// Directory for the embedded store and runtime API keys (created when missing).
    pub state_dir: String,
    pub store: QuotaStore,
    /// How often the reconciler runs (lease sizes, idle credit, quota sync).
    pub reconcile: Duration,
}

#[derive(Clone, Debug, PartialEq, Eq, rkyv::Archive, rkyv::Serialize, rkyv::Deserialize)]
pub enum QuotaStore {
    /// Counts in `state_dir`, on this node only.
    File,
    /// Counts shared by several gateway nodes in Redis (the URL).
    Redis(String),
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
    Lambda(Lambda),
}

/// A Lambda proxy integration: the request as an API Gateway event, sent
/// to the Lambda Invoke API of an endpoint.
#[derive(Clone, Debug, PartialEq, rkyv::Archive, rkyv::Serialize, rkyv::Deserialize)]
pub struct Lambda {
    /// Index into `Gateway::upstreams`: the Invoke API's endpoint.
    pub upstream: usize,
    /// The `Host` value to send (the uri's authority).
    pub host_header: String,
    /// The function's name, partial ARN or ARN, as configured.
    pub function: String,
    /// `/2015-03-31/functions/{function, percent-encoded}/invocations`.
    pub invoke_path: String,
    pub payload: PayloadFormat,
    /// Default 29 s, at most 300 s.
    pub timeout: Duration,
    /// Sign with SigV4 (service `lambda`); `None`: send unsigned (the Lambda
    /// Runtime Interface Emulator and local stand-ins need no signature).
    pub signing: Option<LambdaSigning>,
    /// The route's key (`GET /pets/{id}`, `$default`): `routeKey` in 2.0 events.
    pub route_key: String,
    /// The route's path (`/pets/{id}`, or `$default`): 1.0 `resource`.
    pub resource: String,
}

/// Payload format version of a Lambda proxy integration.
#[derive(Clone, Copy, Debug, PartialEq, Eq, rkyv::Archive, rkyv::Serialize, rkyv::Deserialize)]
pub enum PayloadFormat {
    V1,
    V2,
}

/// How Lambda Invoke requests are signed.
#[derive(Clone, Debug, PartialEq, Eq, rkyv::Archive, rkyv::Serialize, rkyv::Deserialize)]
pub struct LambdaSigning {
    pub region: String,
    pub credentials: LambdaCredentials,
}

/// Where signing credentials come from.
#[derive(Clone, Debug, PartialEq, Eq, rkyv::Archive, rkyv::Serialize, rkyv::Deserialize)]
pub enum LambdaCredentials {
    /// `AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`, `AWS_SESSION_TOKEN` of
    /// the gateway's environment, read once when first needed (never stored).
    Env,
    /// From the configuration file (and so in its snapshots).
    Static {
        access_key_id: String,
        secret_access_key: String,
        session_token: Option<String>,
    },
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
        // A deployment resolved for several stages may repeat an error.
        let mut seen = std::collections::HashSet::new();
        errors
            .list
            .retain(|e| seen.insert((e.line, e.column, e.message.clone())));
        errors.list.sort_by_key(|e| (e.line, e.column));
        Err(errors.list)
    }
}
