//! From the file as written ([`RawGateway`]) to the [`Gateway`] the server
//! runs: defaults filled in, names turned into indexes, and every rule of the
//! schema checked, each broken rule recorded with its location.
//!
//! Guarantees: checking goes on after an error, so one run reports them all;
//! the returned `Gateway` is only used when no error was recorded. Does not:
//! parse text (see `load_str`), look inside stages and routes (see `stages`
//! and `routes`) or custom domains (see `domains`).

use std::net::{SocketAddr, ToSocketAddrs};
use std::time::Duration;

use serde_saphyr::Location;

use super::domains::resolve_domains;
use super::gateway_responses::{resolve_binary_media_types, resolve_gateway_responses};
use super::model::{RawApi, RawBalance, RawGateway, RawLimits, RawProtocol, RawUpstream, S};
use super::stages::resolve_stages;
use super::{
    Api, Balance, ConfigError, Deployment, Gateway, Integration, Limits, Listener, PayloadFormat,
    Protocol, Upstream,
};

/// Errors found so far, each with its place in the file.
#[derive(Debug)]
pub(crate) struct Errors {
    file: String,
    pub(crate) list: Vec<ConfigError>,
}

impl Errors {
    pub(crate) fn new(file: &str) -> Errors {
        Errors {
            file: file.to_owned(),
            list: Vec::new(),
        }
    }

    /// The configuration file's name as errors show it.
    pub(crate) fn file(&self) -> &str {
        &self.file
    }

    pub(crate) fn at(&mut self, loc: &Location, message: impl Into<String>) {
        self.at_line(loc.line(), loc.column(), message);
    }

    pub(crate) fn at_line(&mut self, line: u64, column: u64, message: impl Into<String>) {
        self.list.push(ConfigError {
            file: self.file.clone(),
            line,
            column,
            message: message.into(),
        });
    }
}

/// `line:column`, to mention a second place in a message.
pub(crate) fn place(loc: &Location) -> String {
    format!("{}:{}", loc.line(), loc.column())
}

/// A name for things other names refer to: `[A-Za-z0-9._-]+`.
pub(crate) fn is_simple_name(name: &str) -> bool {
    crate::route::is_param_name(name)
}

/// The upstreams known so far: the configured ones first, in file order, then
/// the implicit ones that integration URIs add.
#[derive(Debug, Default)]
pub(crate) struct UpstreamSet {
    pub(crate) list: Vec<Upstream>,
}

impl UpstreamSet {
    pub(crate) fn find(&self, name: &str) -> Option<usize> {
        self.list.iter().position(|u| u.name == name)
    }

    /// The implicit single-target upstream named `authority`, added on first use.
    pub(crate) fn literal(&mut self, authority: &str) -> Result<usize, String> {
        if let Some(i) = self.find(authority) {
            return Ok(i);
        }
        let target = resolve_target(authority)?;
        self.list
            .push(upstream_with_defaults(authority, vec![target]));
        Ok(self.list.len() - 1)
    }

    /// The implicit single-target TLS upstream for `https://authority`
    /// (named so, apart from a plain one to the same address).
    pub(crate) fn literal_tls(&mut self, authority: &str) -> Result<usize, String> {
        let name = format!("https://{authority}");
        if let Some(i) = self.find(&name) {
            return Ok(i);
        }
        let target = resolve_target(authority)?;
        let mut up = upstream_with_defaults(&name, vec![target]);
        up.tls = Some(super::UpstreamTls {
            ca_file: None,
            server_name: authority
                .rsplit_once(':')
                .map(|(h, _)| h.trim_matches(['[', ']']).to_owned()),
            skip_verify: false,
        });
        self.list.push(up);
        Ok(self.list.len() - 1)
    }
}

fn upstream_with_defaults(name: &str, targets: Vec<SocketAddr>) -> Upstream {
    Upstream {
        name: name.to_owned(),
        targets,
        balance: Balance::RoundRobin,
        pool_size: 64,
        connect_timeout: Duration::from_millis(2000),
        idle_timeout: Duration::from_millis(60_000),
        tls: None,
        protocol: super::UpstreamProtocol::Http1,
    }
}

/// Resolve `host:port` once, now; the first IPv4 address wins, else the first.
pub(crate) fn resolve_target(target: &str) -> Result<SocketAddr, String> {
    let Some((host, port)) = target.rsplit_once(':') else {
        return Err(format!("`{target}` needs a port: host:port"));
    };
    if host.is_empty() || port.parse::<u16>().is_err() {
        return Err(format!("`{target}` is not host:port with a port 0..65535"));
    }
    if let Ok(addr) = target.parse::<SocketAddr>() {
        return Ok(addr);
    }
    let addrs: Vec<SocketAddr> = target
        .to_socket_addrs()
        .map_err(|e| format!("cannot resolve `{target}`: {e}"))?
        .collect();
    addrs
        .iter()
        .find(|a| a.is_ipv4())
        .or(addrs.first())
        .copied()
        .ok_or_else(|| format!("`{target}` resolves to no address"))
}

/// A positive number of milliseconds, or `default`.
fn millis(v: &Option<S<u64>>, field: &str, default: u64, errors: &mut Errors) -> Duration {
    match v {
        Some(s) if s.value == 0 => {
            errors.at(&s.referenced, format!("`{field}` must be greater than 0"));
            Duration::from_millis(default)
        }
        Some(s) => Duration::from_millis(s.value),
        None => Duration::from_millis(default),
    }
}

fn count(
    v: &Option<S<u64>>,
    field: &str,
    default: u64,
    positive: bool,
    errors: &mut Errors,
) -> u64 {
    match v {
        Some(s) if positive && s.value == 0 => {
            errors.at(&s.referenced, format!("`{field}` must be greater than 0"));
            default
        }
        Some(s) => s.value,
        None => default,
    }
}

fn to_usize(n: u64) -> usize {
    usize::try_from(n).unwrap_or(usize::MAX)
}

pub(crate) fn resolve(raw: &RawGateway, errors: &mut Errors) -> Gateway {
    let listeners = resolve_listeners(raw, errors);
    let limits = resolve_limits(raw.limits.as_ref().unwrap_or(&RawLimits::default()), errors);
    let mut upstreams = UpstreamSet::default();
    for (name, up) in &raw.upstreams.0 {
        resolve_upstream(name, up, &mut upstreams, errors);
    }
    let mut apis: Vec<Api> = Vec::new();
    for (i, api) in raw.apis.iter().enumerate() {
        if let Some(first) = raw.apis[..i]
            .iter()
            .find(|a| a.name.value == api.name.value)
        {
            errors.at(
                &api.name.referenced,
                format!(
                    "API name `{}` is already used at {}",
                    api.name.value,
                    place(&first.name.referenced)
                ),
            );
        }
        apis.push(resolve_api(
            api,
            &raw.listeners.value,
            &mut upstreams,
            errors,
        ));
    }
    check_stage_clashes(raw, &apis, &listeners, errors);
    let domains = resolve_domains(&raw.domains, &apis, errors);
    let file = errors.file().to_owned();
    let keys_plans = super::limits::resolve(raw, &mut apis, &file, errors);
    let iam = super::iam::resolve(raw, errors);
    Gateway {
        iam,
        throttling: keys_plans.throttling,
        api_keys: keys_plans.api_keys,
        usage_plans: keys_plans.usage_plans,
        quota_state: keys_plans.quota_state,
        listeners,
        limits,
        upstreams: upstreams.list,
        apis,
        domains,
    }
}

fn resolve_listeners(raw: &RawGateway, errors: &mut Errors) -> Vec<Listener> {
    let raws = &raw.listeners.value;
    if raws.is_empty() {
        errors.at(
            &raw.listeners.referenced,
            "`listeners` needs at least one listener",
        );
    }
    let mut out: Vec<Listener> = Vec::new();
    for (i, l) in raws.iter().enumerate() {
        if !is_simple_name(&l.name.value) {
            errors.at(
                &l.name.referenced,
                format!(
                    "listener name `{}` may use only letters, digits, `.`, `_` and `-`",
                    l.name.value
                ),
            );
        }
        if let Some(first) = raws[..i].iter().find(|o| o.name.value == l.name.value) {
            errors.at(
                &l.name.referenced,
                format!(
                    "listener name `{}` is already used at {}",
                    l.name.value,
                    place(&first.name.referenced)
                ),
            );
        }
        let address = match l.address.value.parse::<SocketAddr>() {
            Ok(a) => a,
            Err(_) => {
                errors.at(
                    &l.address.referenced,
                    format!(
                        "listener address `{}` must be an IP address and port, like 127.0.0.1:8080 or \"[::1]:8080\"",
                        l.address.value
                    ),
                );
                SocketAddr::from(([127, 0, 0, 1], 0))
            }
        };
        if address.port() != 0
            && let Some(j) = out.iter().position(|o| o.address == address)
        {
            errors.at(
                &l.address.referenced,
                format!(
                    "address {address} is already used by listener `{}` at {}",
                    out[j].name,
                    place(&raws[j].address.referenced)
                ),
            );
        }
        let tls = l
            .tls
            .as_ref()
            .and_then(|t| super::tls::resolve_listener_tls(&t.value, errors));
        let http2 = super::tls::resolve_http2(l.http2.as_ref().map(|h| &h.value), errors);
        super::tls::check_listener(l, errors);
        out.push(Listener {
            name: l.name.value.clone(),
            address,
            tls,
            http2,
            redirect_https: l.redirect_https.as_ref().map(|p| p.value),
            hsts_max_age: l.hsts_max_age.as_ref().map(|h| h.value),
        });
    }
    out
}

fn resolve_limits(raw: &RawLimits, errors: &mut Errors) -> Limits {
    Limits {
        max_header_bytes: to_usize(count(
            &raw.max_header_bytes,
            "max_header_bytes",
            16384,
            true,
            errors,
        )),
        max_headers: to_usize(count(&raw.max_headers, "max_headers", 100, true, errors)),
        max_body_bytes: count(
            &raw.max_body_bytes,
            "max_body_bytes",
            10_485_760,
            false,
            errors,
        ),
        header_read_timeout: millis(
            &raw.header_read_timeout_ms,
            "header_read_timeout_ms",
            10_000,
            errors,
        ),
        keepalive_timeout: millis(
            &raw.keepalive_timeout_ms,
            "keepalive_timeout_ms",
            60_000,
            errors,
        ),
        drain_timeout: millis(&raw.drain_timeout_ms, "drain_timeout_ms", 30_000, errors),
    }
}

fn resolve_upstream(
    name: &S<String>,
    raw: &RawUpstream,
    set: &mut UpstreamSet,
    errors: &mut Errors,
) {
    if !is_simple_name(&name.value) {
        errors.at(
            &name.referenced,
            format!(
                "upstream name `{}` may use only letters, digits, `.`, `_` and `-` (no port: it stands for its targets)",
                name.value
            ),
        );
    }
    if raw.targets.value.is_empty() {
        errors.at(
            &raw.targets.referenced,
            "an upstream needs at least one target",
        );
    }
    let mut targets = Vec::new();
    for t in &raw.targets.value {
        match resolve_target(&t.value) {
            Ok(addr) => targets.push(addr),
            Err(e) => errors.at(&t.referenced, format!("target {e}")),
        }
    }
    let mut up = upstream_with_defaults(&name.value, targets);
    up.balance = match raw.balance.as_ref().map(|b| b.value) {
        Some(RawBalance::LeastRequest) => Balance::LeastRequest,
        Some(RawBalance::RoundRobin) | None => Balance::RoundRobin,
    };
    up.pool_size = to_usize(count(&raw.pool_size, "pool_size", 64, false, errors));
    up.connect_timeout = millis(&raw.connect_timeout_ms, "connect_timeout_ms", 2000, errors);
    up.idle_timeout = millis(&raw.idle_timeout_ms, "idle_timeout_ms", 60_000, errors);
    up.protocol = raw
        .protocol
        .as_ref()
        .map_or(super::UpstreamProtocol::Http1, |p| p.value.into());
    up.tls = raw
        .tls
        .as_ref()
        .map(|t| super::tls::resolve_upstream_tls(&t.value, errors))
        .map(|mut t| {
            // SNI and verification default to the first target's host as written.
            if t.server_name.is_none() {
                t.server_name = raw
                    .targets
                    .value
                    .first()
                    .and_then(|t| t.value.rsplit_once(':'))
                    .map(|(h, _)| h.trim_matches(['[', ']']).to_owned());
            }
            t
        });
    // Keep it even when broken, so routes naming it get no second error.
    set.list.push(up);
}

fn resolve_api(
    raw: &RawApi,
    listeners: &[super::model::RawListener],
    upstreams: &mut UpstreamSet,
    errors: &mut Errors,
) -> Api {
    if raw.name.value.is_empty() {
        errors.at(&raw.name.referenced, "an API needs a name");
    }
    let protocol = match raw.protocol.as_ref().map(|p| p.value) {
        Some(RawProtocol::Rest) => Protocol::Rest,
        Some(RawProtocol::Http) | None => Protocol::Http,
    };
    let mut served = Vec::new();
    match &raw.listeners {
        None => served.extend(0..listeners.len()),
        Some(list) => {
            if list.value.is_empty() {
                errors.at(
                    &list.referenced,
                    "`listeners` is empty; name at least one listener, or leave the field out to serve on all",
                );
            }
            for l in &list.value {
                match listeners.iter().position(|o| o.name.value == l.value) {
                    Some(i) if !served.contains(&i) => served.push(i),
                    Some(_) => {}
                    None => errors.at(&l.referenced, format!("unknown listener `{}`", l.value)),
                }
            }
        }
    }
    let (stages, mut deployments) = resolve_stages(raw, upstreams, errors);
    if protocol == Protocol::Rest {
        rest_lambda_payloads(raw, &mut deployments, errors);
    }
    let (authorizers, cors) =
        super::authorizers::resolve_api_auth(raw, protocol, upstreams, errors);
    super::authorizers::resolve_route_auth(raw, &authorizers, &mut deployments, errors);
    Api {
        name: raw.name.value.clone(),
        protocol,
        listeners: served,
        stages,
        deployments,
        binary_media_types: resolve_binary_media_types(raw.binary_media_types.as_ref(), errors),
        gateway_responses: resolve_gateway_responses(raw.gateway_responses.as_ref(), errors),
        authorizers,
        cors,
    }
}

/// REST APIs send Lambda payload format 1.0 only: refuse `"2.0"`, and make
/// the default (`V2` as routes resolve it) `V1`.
fn rest_lambda_payloads(raw: &RawApi, deployments: &mut [Deployment], errors: &mut Errors) {
    let routes = raw
        .routes
        .iter()
        .chain(raw.deployments.0.iter().flat_map(|(_, d)| &d.routes));
    for r in routes {
        if let Some(v) = &r.integration.value.payload_format_version
            && v.value.0 == "2.0"
        {
            errors.at(
                &v.referenced,
                "REST APIs send Lambda payload format 1.0 only; use \"1.0\" or leave it out",
            );
        }
    }
    for route in deployments.iter_mut().flat_map(|d| &mut d.routes) {
        if let Integration::Lambda(l) = &mut route.integration {
            l.payload = PayloadFormat::V1;
        }
    }
}

/// A stage name served by two APIs on one listener: the listener could not
/// tell which API a request is for.
fn check_stage_clashes(
    raw: &RawGateway,
    apis: &[Api],
    listeners: &[Listener],
    errors: &mut Errors,
) {
    for (i, api) in apis.iter().enumerate() {
        for stage in &raw.apis[i].stages.value {
            let (name, at) = stage.value.name(&stage.referenced);
            let clash = apis[..i].iter().enumerate().find_map(|(j, other)| {
                let shared = api.listeners.iter().find(|l| other.listeners.contains(l))?;
                let theirs = raw.apis[j]
                    .stages
                    .value
                    .iter()
                    .map(|s| s.value.name(&s.referenced))
                    .find(|(n, _)| *n == name)?;
                Some((other, theirs.1, *shared))
            });
            if let Some((other, theirs, listener)) = clash {
                errors.at(
                    at,
                    format!(
                        "stage `{name}` is also served by API `{}` at {} on listener `{}`; the listener could not tell them apart",
                        other.name,
                        place(theirs),
                        listeners.get(listener).map_or("?", |l| l.name.as_str()),
                    ),
                );
            }
        }
    }
}
