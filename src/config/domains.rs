//! Custom domain names and their base path mappings (`domains:`), checked
//! and resolved into [`Domain`]s.
//!
//! Guarantees: a domain name is lower-case, a DNS name of letters, digits and
//! `-` labels (at most 253 characters), or `*.` and such a name (a wildcard
//! for any one more label); names are distinct; a domain has at least one
//! mapping; a base path is empty or one path segment of `[A-Za-z0-9$-_.+!*'()]`;
//! every mapping names an existing API and stage. Does not: decide which
//! listeners serve a domain (see `route`: every listener that serves a
//! mapped API).

use super::model::RawDomain;
use super::resolve::{Errors, place};
use super::{Api, BasePathMapping, Domain};

pub(crate) fn resolve_domains(
    raws: &[RawDomain],
    apis: &[Api],
    errors: &mut Errors,
) -> Vec<Domain> {
    let mut out: Vec<Domain> = Vec::with_capacity(raws.len());
    for (i, raw) in raws.iter().enumerate() {
        let name = raw.name.value.to_ascii_lowercase();
        if let Err(e) = check_domain_name(&name) {
            errors.at(&raw.name.referenced, e);
        }
        if let Some(first) = raws[..i]
            .iter()
            .find(|o| o.name.value.eq_ignore_ascii_case(&name))
        {
            errors.at(
                &raw.name.referenced,
                format!(
                    "domain `{name}` is already listed at {}",
                    place(&first.name.referenced)
                ),
            );
        }
        let entries = &raw.mappings.value.0;
        if entries.is_empty() {
            errors.at(
                &raw.mappings.referenced,
                "a domain needs at least one mapping, like `\"\": shop/prod`",
            );
        }
        let mut mappings = Vec::with_capacity(entries.len());
        for (base, target) in entries {
            if let Err(e) = check_base_path(&base.value) {
                errors.at(&base.referenced, e);
            }
            let Some((api_name, stage_name)) = target.value.split_once('/') else {
                errors.at(
                    &target.referenced,
                    format!(
                        "mapping `{}` must be API/STAGE, like shop/prod",
                        target.value
                    ),
                );
                continue;
            };
            let Some(api) = apis.iter().position(|a| a.name == api_name) else {
                errors.at(&target.referenced, format!("unknown API `{api_name}`"));
                continue;
            };
            let Some(stage) = apis[api].stage(stage_name) else {
                errors.at(
                    &target.referenced,
                    format!("API `{api_name}` has no stage `{stage_name}`"),
                );
                continue;
            };
            mappings.push(BasePathMapping {
                base_path: base.value.clone(),
                api,
                stage,
            });
        }
        out.push(Domain { name, mappings });
    }
    out
}

/// `api.example.com` or `*.example.com` (already lower-case).
pub(crate) fn check_domain_name(name: &str) -> Result<(), String> {
    if name.contains(':') {
        return Err(format!(
            "domain `{name}` has a port; a domain is a name alone (it is served on its APIs' listeners)"
        ));
    }
    let host = name.strip_prefix("*.").unwrap_or(name);
    if host.len() > 253 {
        return Err(format!("domain `{name}` is longer than 253 characters"));
    }
    if host.contains('*') {
        return Err(format!(
            "domain `{name}`: a wildcard is only `*.` at the start, like *.example.com"
        ));
    }
    for label in host.split('.') {
        let ok = !label.is_empty()
            && label.len() <= 63
            && label
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
            && !label.starts_with('-')
            && !label.ends_with('-');
        if !ok {
            return Err(format!(
                "domain `{name}`: each label is 1 to 63 letters, digits and `-` (not first or last), separated by `.`"
            ));
        }
    }
    Ok(())
}

/// Empty, or one segment of `[A-Za-z0-9$-_.+!*'()]` (API Gateway's base path characters).
pub(crate) fn check_base_path(base: &str) -> Result<(), String> {
    if base.contains('/') {
        return Err(format!(
            "base path `{base}` is one path segment, without `/`"
        ));
    }
    if base == "." || base == ".." {
        return Err(format!("base path `{base}` is resolved away by clients"));
    }
    if let Some(c) = base
        .chars()
        .find(|&c| !(c.is_ascii_alphanumeric() || "$-_.+!*'()".contains(c)))
    {
        return Err(format!(
            "base path `{base}` contains `{}`; use letters, digits and $-_.+!*'()",
            c.escape_debug()
        ));
    }
    Ok(())
}
