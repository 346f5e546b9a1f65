//! One API's deployments and stages: which route set each stage (and its
//! canary) runs, with which stage variables, resolved at load time into the
//! substituted route sets of [`Api::deployments`](super::Api).
//!
//! Guarantees: every stage and canary points at a [`Deployment`] whose
//! routes have its variables substituted; a deployment and the values of
//! the variables its routes use are resolved once, however many stages share
//! them; route keys are checked once per deployment; a deployment that no
//! stage runs is still checked (except what depends on variables). Stage
//! variables are sorted by name. Does not: check stage names across APIs
//! (see `resolve`) or match requests.

use serde_saphyr::Location;

use super::model::{
    OrderedMap, RawAccessLog, RawApi, RawCanary, RawProtocol, RawRoute, RawSticky, S,
};
use super::resolve::{Errors, UpstreamSet, is_simple_name, place};
use super::routes::{is_tchar, resolve_routes, route_keys};
use super::vars::{Vars, collect_names, is_var_name};
use super::{AccessLog, Canary, Deployment, Protocol, RouteKey, Stage, StageSettings, Sticky};

/// The deployment an API's own `routes` form.
pub(crate) const CURRENT: &str = "current";

/// A deployment as written, checked once.
struct Source<'a> {
    name: &'a str,
    routes: &'a [RawRoute],
    keys: Vec<Option<RouteKey>>,
    id: String,
    /// The stage variables its routes reference, in first-use order.
    names: Vec<String>,
}

/// A resolved route set: a source and the values of the variables it uses.
struct Combo {
    source: usize,
    values: Vec<Option<String>>,
}

/// The route sets resolved so far, and what they were resolved from.
struct Sets<'a> {
    sources: Vec<Source<'a>>,
    combos: Vec<Combo>,
    deployments: Vec<Deployment>,
}

/// The stages and deployments of `raw`.
pub(crate) fn resolve_stages(
    raw: &RawApi,
    upstreams: &mut UpstreamSet,
    errors: &mut Errors,
) -> (Vec<Stage>, Vec<Deployment>) {
    let mut sources = vec![source(CURRENT, &raw.routes, errors)];
    for (name, dep) in &raw.deployments.0 {
        if name.value == CURRENT {
            errors.at(
                &name.referenced,
                "`current` names the API's own `routes`; choose another deployment name",
            );
            continue;
        }
        if !is_simple_name(&name.value) {
            errors.at(
                &name.referenced,
                format!(
                    "deployment name `{}` may use only letters, digits, `.`, `_` and `-`",
                    name.value
                ),
            );
        }
        sources.push(source(&name.value, &dep.routes, errors));
    }
    let mut sets = Sets {
        sources,
        combos: Vec::new(),
        deployments: Vec::new(),
    };

    let protocol = match raw.protocol.as_ref().map(|p| p.value) {
        Some(RawProtocol::Rest) => Protocol::Rest,
        Some(RawProtocol::Http) | None => Protocol::Http,
    };
    let raws = &raw.stages.value;
    if raws.is_empty() {
        errors.at(&raw.stages.referenced, "`stages` needs at least one stage");
    }
    let mut stages = Vec::with_capacity(raws.len());
    for (i, s) in raws.iter().enumerate() {
        let (name, at) = s.value.name(&s.referenced);
        check_stage_name(name, at, errors);
        if let Some(first) = raws[..i]
            .iter()
            .find(|o| o.value.name(&o.referenced).0 == name)
        {
            errors.at(
                at,
                format!(
                    "stage `{name}` is already listed at {}",
                    place(first.value.name(&first.referenced).1)
                ),
            );
        }
        let full = s.value.full();
        let source = sets.find(full.and_then(|f| f.deployment.as_ref()), errors);
        let variables = variables(full.and_then(|f| f.variables.as_ref()), &[], errors);
        let owner = format!("stage `{name}`");
        let deployment = sets.resolve(source, &variables, &owner, upstreams, errors);
        let canary = full
            .and_then(|f| f.canary.as_ref())
            .map(|c| canary(&c.value, name, &variables, &mut sets, upstreams, errors));
        stages.push(Stage {
            name: name.to_owned(),
            variables,
            deployment,
            canary,
            deployment_header: full
                .and_then(|f| f.deployment_header.as_ref())
                .is_some_and(|h| h.value),
            settings: StageSettings {
                access_log: full
                    .and_then(|f| f.access_log.as_ref())
                    .map(|a| access_log(&a.value, protocol, errors)),
                cache: full
                    .and_then(|f| f.cache.as_ref())
                    .and_then(|c| super::caching::stage_cache(&c.value, errors)),
                // Throttling is filled in by `limits`.
                ..StageSettings::default()
            },
        });
    }
    // Deployments no stage runs are checked too (without variables).
    for (i, s) in sets.sources.iter().enumerate() {
        if !sets.combos.iter().any(|c| c.source == i) {
            let vars = Vars {
                values: None,
                owner: "",
            };
            resolve_routes(s.routes, &s.keys, &vars, upstreams, errors);
        }
    }
    (stages, sets.deployments)
}

fn canary(
    c: &RawCanary,
    stage: &str,
    stage_vars: &[(String, String)],
    sets: &mut Sets<'_>,
    upstreams: &mut UpstreamSet,
    errors: &mut Errors,
) -> Canary {
    let percent = c.percent.value;
    if !(0.0..=100.0).contains(&percent) {
        errors.at(
            &c.percent.referenced,
            format!("canary `percent` must be between 0 and 100, not {percent}"),
        );
    }
    let source = sets.find(c.deployment.as_ref(), errors);
    let variables = variables(c.stage_variables.as_ref(), stage_vars, errors);
    let sticky = c
        .sticky
        .as_ref()
        .and_then(|s| sticky(&s.value, &s.referenced, errors));
    let owner = format!("the canary of stage `{stage}`");
    Canary {
        percent: percent.clamp(0.0, 100.0),
        deployment: sets.resolve(source, &variables, &owner, upstreams, errors),
        variables,
        sticky,
    }
}

impl Sets<'_> {
    /// The source a `deployment:` field names (`current` when absent).
    fn find(&self, name: Option<&S<String>>, errors: &mut Errors) -> usize {
        let Some(name) = name else {
            return 0;
        };
        match self.sources.iter().position(|s| s.name == name.value) {
            Some(i) => i,
            None => {
                let known: Vec<&str> = self.sources.iter().map(|s| s.name).collect();
                errors.at(
                    &name.referenced,
                    format!(
                        "unknown deployment `{}`; this API has {}",
                        name.value,
                        known.join(", ")
                    ),
                );
                0
            }
        }
    }

    /// The index of the route set of `source` with `variables` (sorted),
    /// resolving it on first use; `owner` names whose variables they are.
    fn resolve(
        &mut self,
        source: usize,
        variables: &[(String, String)],
        owner: &str,
        upstreams: &mut UpstreamSet,
        errors: &mut Errors,
    ) -> usize {
        let s = &self.sources[source];
        let values: Vec<Option<String>> = s
            .names
            .iter()
            .map(|n| {
                variables
                    .iter()
                    .find(|(k, _)| k == n)
                    .map(|(_, v)| v.clone())
            })
            .collect();
        if let Some(i) = self
            .combos
            .iter()
            .position(|c| c.source == source && c.values == values)
        {
            return i;
        }
        let vars = Vars {
            values: Some(variables),
            owner,
        };
        self.combos.push(Combo { source, values });
        self.deployments.push(Deployment {
            name: s.name.to_owned(),
            id: s.id.clone(),
            routes: resolve_routes(s.routes, &s.keys, &vars, upstreams, errors),
        });
        self.deployments.len() - 1
    }
}

fn source<'a>(name: &'a str, routes: &'a [RawRoute], errors: &mut Errors) -> Source<'a> {
    let mut names = Vec::new();
    for r in routes {
        let i = &r.integration.value;
        for text in [i.uri.as_ref(), i.body.as_ref(), i.function.as_ref()]
            .into_iter()
            .flatten()
        {
            collect_names(&text.value, &mut names);
        }
        for (_, v) in i.headers.iter().flat_map(|h| &h.value.0) {
            collect_names(&v.value, &mut names);
        }
    }
    Source {
        name,
        routes,
        keys: route_keys(routes, errors),
        id: deployment_id(routes),
        names,
    }
}

/// Checked variables, `base` overridden and extended by `raw`, sorted by name.
fn variables(
    raw: Option<&S<OrderedMap<S<String>>>>,
    base: &[(String, String)],
    errors: &mut Errors,
) -> Vec<(String, String)> {
    let mut out = base.to_vec();
    for (name, value) in raw.iter().flat_map(|r| &r.value.0) {
        if !is_var_name(&name.value) {
            errors.at(
                &name.referenced,
                format!(
                    "stage variable name `{}` may use only letters, digits and `_`",
                    name.value
                ),
            );
        }
        if value.value.chars().any(char::is_control) {
            errors.at(
                &value.referenced,
                "a stage variable's value may not contain control characters",
            );
        }
        match out.iter_mut().find(|(n, _)| *n == name.value) {
            Some(slot) => slot.1.clone_from(&value.value),
            None => out.push((name.value.clone(), value.value.clone())),
        }
    }
    out.sort();
    out
}

/// A stage's `access_log`: the format compiles (for the API's protocol:
/// presets differ between REST and HTTP APIs), the destination is a path or
/// `stdout`.
fn access_log(raw: &RawAccessLog, protocol: Protocol, errors: &mut Errors) -> AccessLog {
    let dest = &raw.destination;
    if dest.value.is_empty() || dest.value.chars().any(char::is_control) {
        errors.at(&dest.referenced, "`destination` is a file path or `stdout`");
    }
    let format = raw
        .format
        .as_ref()
        .map_or_else(|| "clf".to_owned(), |f| f.value.clone());
    if let Err(e) = crate::observe::access_log::Format::compile(&format, protocol) {
        match &raw.format {
            Some(f) => errors.at(&f.referenced, e),
            None => errors.at(&dest.referenced, e),
        }
    }
    AccessLog {
        destination: dest.value.clone(),
        format,
    }
}

fn sticky(raw: &RawSticky, at: &Location, errors: &mut Errors) -> Option<Sticky> {
    let (name, sticky) = match (&raw.header, &raw.cookie) {
        (Some(h), None) => (h, Sticky::Header(h.value.to_ascii_lowercase())),
        (None, Some(c)) => (c, Sticky::Cookie(c.value.clone())),
        _ => {
            errors.at(
                at,
                "`sticky` takes exactly one of `header: NAME` or `cookie: NAME`",
            );
            return None;
        }
    };
    if name.value.is_empty() || !name.value.bytes().all(is_tchar) {
        errors.at(
            &name.referenced,
            format!("`{}` is not a valid header or cookie name", name.value),
        );
    }
    Some(sticky)
}

fn check_stage_name(name: &str, at: &Location, errors: &mut Errors) {
    let ok = name == "$default"
        || (!name.is_empty()
            && name
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-'));
    if !ok {
        errors.at(
            at,
            format!(
                "stage name `{name}` may use only letters, digits, `_` and `-` (or be `$default`)"
            ),
        );
    }
}

/// 8 hex digits of a 64-bit FNV-1a hash of the routes as written, each field
/// length-prefixed so that no two route lists write the same bytes.
fn deployment_id(routes: &[RawRoute]) -> String {
    let mut h = Fnv(0xcbf2_9ce4_8422_2325);
    h.field(b"routes");
    for r in routes {
        let i = &r.integration.value;
        h.field(r.route.value.as_bytes());
        h.field(format!("{:?}", i.kind.value).as_bytes());
        let num = |v: &Option<S<u64>>| v.as_ref().map_or(String::new(), |s| s.value.to_string());
        h.field(num(&i.status).as_bytes());
        h.field(num(&i.timeout_ms).as_bytes());
        for text in [&i.uri, &i.body] {
            h.field(text.as_ref().map_or(&b""[..], |s| s.value.as_bytes()));
        }
        if i.kind.value == super::model::IntegrationType::Lambda {
            for text in [&i.function, &i.region] {
                h.field(text.as_ref().map_or(&b""[..], |s| s.value.as_bytes()));
            }
            h.field(
                i.payload_format_version
                    .as_ref()
                    .map_or(&b""[..], |v| v.value.0.as_bytes()),
            );
            h.field(match i.credentials.as_ref().map(|c| &c.value) {
                None => b"".as_slice(),
                Some(super::model::RawCredentials::Named(n)) => n.as_bytes(),
                Some(super::model::RawCredentials::Static(s)) => s.access_key_id.value.as_bytes(),
            });
        }
        if r.api_key_required.as_ref().is_some_and(|k| k.value) {
            // Only when set, so ids of deployments without it stay the same.
            h.field(b"api_key_required");
        }
        if r.authorization.as_ref().map(|a| a.value) == Some(super::iam::RawAuthorization::AwsIam) {
            // Only when set, so ids of deployments without it stay the same.
            h.field(b"aws_iam");
        }
        h.field(match i.pass_host.as_ref().map(|p| p.value) {
            None => b"",
            Some(false) => b"false",
            Some(true) => b"true",
        });
        let headers: Vec<_> = i.headers.iter().flat_map(|h| &h.value.0).collect();
        h.field(headers.len().to_string().as_bytes());
        for (n, v) in headers {
            h.field(n.value.as_bytes());
            h.field(v.value.as_bytes());
        }
    }
    format!("{:016x}", h.0)[..8].to_owned()
}

struct Fnv(u64);

impl Fnv {
    fn field(&mut self, bytes: &[u8]) {
        for &b in (bytes.len() as u64).to_le_bytes().iter().chain(bytes) {
            self.0 = (self.0 ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3);
        }
    }
}
