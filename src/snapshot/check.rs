//! The model's invariants, checked on a gateway read from a snapshot.
//!
//! A snapshot's hash proves its bytes are the ones written, and bytecheck
//! proves they form a valid archive; neither proves the model makes sense
//! (a snapshot written by a buggy or different build, or by hand). These
//! checks cover what the server relies on without checking again: every
//! index points at an existing element, every upstream has a target, every
//! route path is well formed. A configuration that [`crate::config::load`]
//! accepted always passes them.
//!
//! To add a check for a new part of the model: one line in [`check`] (or in
//! the function for the part that holds it) that calls [`index`] for an
//! index, or returns a sentence for anything else.

use crate::config::{Api, Gateway, Integration, RouteKey};
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
    for route in &api.routes {
        if let RouteKey::Path { path, .. } = &route.key {
            check_route_path(path).map_err(|e| at(&format!("route `{}`: {e}", route.key)))?;
        }
        match &route.integration {
            Integration::HttpProxy(p) => index(
                &at(&format!("route `{}`: upstream", route.key)),
                p.upstream,
                gw.upstreams.len(),
            )?,
            Integration::Mock(_) => {}
        }
    }
    Ok(())
}

/// `what` (e.g. "api `shop`: listener") index `i` into a list of `len`.
pub fn index(what: &str, i: usize, len: usize) -> Result<(), String> {
    if i < len {
        Ok(())
    } else {
        Err(format!("{what} index {i} is out of range (there are {len})"))
    }
}
