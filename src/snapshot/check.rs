//! The model's invariants, checked on a gateway read from a snapshot.
//!
//! A snapshot's hash proves its bytes are the ones written, and bytecheck
//! proves they form a valid archive; neither proves the model makes sense
//! (a snapshot written by a buggy or different build, or by hand). These
//! checks cover what the server relies on without checking again: every
//! index points at an existing element, every upstream has a target, every
//! route path is well formed, and what goes into a message on the wire
//! (mock status and headers, the `Host` sent, uri path literals) cannot
//! break its framing. A configuration that [`crate::config::load`]
//! accepted always passes them.
//!
//! To add a check for a new part of the model: one line in [`check`] (or in
//! the function for the part that holds it) that calls [`index`] for an
//! index, or returns a sentence for anything else.

use crate::config::{Api, Domain, Gateway, Integration, RouteKey, TemplatePart};
use crate::route::check_route_path;

/// The first broken invariant of `gw`, as a sentence.
pub fn check(gw: &Gateway) -> Result<(), String> {
    if gw.listeners.is_empty() {
        return Err("the gateway has no listener".to_owned());
    }
    for u in &gw.upstreams {
        if u.targets.is_empty() {
            return Err(format!("upstream `{}` has no target", u.name));
        }
    }
    for api in &gw.apis {
        check_api(gw, api)?;
    }
    for d in &gw.domains {
        check_domain(gw, d)?;
    }
    check_keys_and_plans(gw)?;
    Ok(())
}

/// Usage plans name existing API stages, keys existing plans; quotas fit
/// their period; key names and route keys are printable text.
fn check_keys_and_plans(gw: &Gateway) -> Result<(), String> {
    for p in &gw.usage_plans {
        let at = |what: &str| format!("usage plan `{}`: {what}", p.name);
        for s in &p.api_stages {
            index(&at("api"), s.api, gw.apis.len())?;
            index(&at("stage"), s.stage, gw.apis[s.api].stages.len())?;
            for (route, _) in &s.route_throttling {
                field_text("route key", route).map_err(|e| at(&e))?;
            }
        }
        if let Some(q) = p.quota
            && (q.limit == 0 || q.offset > q.period.max_offset())
        {
            return Err(at("quota limit 0 or offset beyond its period"));
        }
    }
    for k in &gw.api_keys {
        field_text("API key name", &k.name)?;
        for &p in &k.usage_plans {
            index(
                &format!("API key `{}`: usage plan", k.name),
                p,
                gw.usage_plans.len(),
            )?;
        }
    }
    for api in &gw.apis {
        for s in &api.stages {
            for (route, _) in &s.settings.route_throttling {
                field_text("route key", route)?;
            }
        }
    }
    Ok(())
}

fn check_api(gw: &Gateway, api: &Api) -> Result<(), String> {
    let at = |what: &str| format!("api `{}`: {what}", api.name);
    for &l in &api.listeners {
        index(&at("listener"), l, gw.listeners.len())?;
    }
    if api.stages.is_empty() {
        return Err(at("no stage"));
    }
    for s in &api.stages {
        let stage = |what: &str| at(&format!("stage `{}`: {what}", s.name));
        index(&stage("deployment"), s.deployment, api.deployments.len())?;
        if let Some(c) = &s.canary {
            index(
                &stage("canary deployment"),
                c.deployment,
                api.deployments.len(),
            )?;
        }
        if let Some(c) = &s.settings.cache {
            crate::cache::check_settings(c).map_err(|e| stage(&e))?;
        }
    }
    for route in api.deployments.iter().flat_map(|d| &d.routes) {
        let at = |what: &str| at(&format!("route `{}`: {what}", route.key));
        if let RouteKey::Path { path, .. } = &route.key {
            check_route_path(path).map_err(|e| at(&e))?;
        }
        check_integration(gw, &route.integration).map_err(|e| at(&e))?;
        crate::cache::check_route(&route.cache).map_err(|e| at(&e))?;
    }
    Ok(())
}

fn check_integration(gw: &Gateway, integration: &Integration) -> Result<(), String> {
    match integration {
        Integration::Mock(m) => {
            if !(100..=599).contains(&m.status) {
                return Err(format!("mock status {} is not 100..=599", m.status));
            }
            for (name, value) in &m.headers {
                if name.is_empty() || !name.bytes().all(is_tchar) {
                    return Err(format!("header name {name:?} is not a token"));
                }
                field_text("header value", value)?;
            }
        }
        Integration::Lambda(l) => {
            index("upstream", l.upstream, gw.upstreams.len())?;
            field_text("host header", &l.host_header)?;
            if !l.invoke_path.starts_with('/')
                || !l.invoke_path.bytes().all(|b| b.is_ascii_graphic())
            {
                return Err(format!(
                    "invoke path {:?} is not a request path",
                    l.invoke_path
                ));
            }
            if let Some(s) = &l.signing {
                field_text("region", &s.region)?;
                if let crate::config::LambdaCredentials::Static {
                    access_key_id,
                    secret_access_key,
                    session_token,
                } = &s.credentials
                {
                    field_text("access key id", access_key_id)?;
                    field_text("secret access key", secret_access_key)?;
                    field_text("session token", session_token.as_deref().unwrap_or(""))?;
                }
            }
        }
        Integration::HttpProxy(p) => {
            index("upstream", p.upstream, gw.upstreams.len())?;
            field_text("host header", &p.host_header)?;
            for part in p.path.iter().flat_map(|t| &t.parts) {
                if let TemplatePart::Literal(l) = part
                    && l.bytes().any(|b| b <= b' ' || b == 0x7f)
                {
                    return Err(format!("uri path {l:?} has a space or control byte"));
                }
            }
        }
    }
    Ok(())
}

/// Text sent in a header field: no control bytes but tab (no line breaks).
fn field_text(what: &str, text: &str) -> Result<(), String> {
    if text.bytes().any(|b| (b < 0x20 && b != b'\t') || b == 0x7f) {
        return Err(format!("{what} {text:?} has a control byte"));
    }
    Ok(())
}

fn is_tchar(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)
}

fn check_domain(gw: &Gateway, d: &Domain) -> Result<(), String> {
    for m in &d.mappings {
        let at = format!("domain `{}`: mapping `{}`", d.name, m.base_path);
        index(&format!("{at}: api"), m.api, gw.apis.len())?;
        index(
            &format!("{at}: stage"),
            m.stage,
            gw.apis[m.api].stages.len(),
        )?;
    }
    Ok(())
}

/// `what` (e.g. "api `shop`: listener") index `i` into a list of `len`.
pub fn index(what: &str, i: usize, len: usize) -> Result<(), String> {
    if i < len {
        Ok(())
    } else {
        Err(format!(
            "{what} index {i} is out of range (there are {len})"
        ))
    }
}
