//! Throttling, API keys, usage plans and the quota state, as written and
//! resolved: the account-wide `throttling`, each stage's `throttling` and
//! `route_settings`, `api_keys` (inline, and imported from `api_keys_csv` in
//! API Gateway's import format), `usage_plans`, `state_dir`, `quota_store`
//! and `reconcile_ms`.
//!
//! Guarantees: an API key reaches the model only as the SHA-256 of its value
//! (a value written in the file or the CSV is hashed here and dropped); key
//! values are 20 to 128 visible ASCII characters (API Gateway's rule); every
//! usage plan's API stages, and every route a throttle names, exist; no key
//! is in two usage plans that cover the same API stage (API Gateway refuses
//! that too, so a request's key picks at most one plan). Does not: count or
//! throttle anything (see `limit`).

use std::path::Path;
use std::time::Duration;

use serde::Deserialize;
use serde::de::{Deserializer, MapAccess, Visitor};
use sha2::{Digest, Sha256};

use super::model::{OrderedMap, RawGateway, S};
use super::resolve::{Errors, is_simple_name, place};
use super::routes::parse_route_key;
use super::{
    Api, ApiKey, ConfigError, PlanStage, Quota, QuotaState, QuotaStore, Throttle, UsagePlan,
};
use crate::limit::period::Period;

/// `{rate: R, burst: B}`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawThrottle {
    pub rate: S<f64>,
    pub burst: S<u64>,
}

/// The account-wide default: `{rate, burst}`, or `unlimited`.
#[derive(Debug)]
pub(crate) enum RawAccountThrottle {
    Unlimited(String),
    Limit(RawThrottle),
}

impl<'de> Deserialize<'de> for RawAccountThrottle {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V_;
        impl<'de> Visitor<'de> for V_ {
            type Value = RawAccountThrottle;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("`{rate: R, burst: B}` or `unlimited`")
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<RawAccountThrottle, E> {
                Ok(RawAccountThrottle::Unlimited(v.to_owned()))
            }
            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<RawAccountThrottle, A::Error> {
                RawThrottle::deserialize(serde::de::value::MapAccessDeserializer::new(map))
                    .map(RawAccountThrottle::Limit)
            }
        }
        d.deserialize_any(V_)
    }
}

/// One route's settings in a stage's `route_settings`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawRouteSettings {
    pub throttling: Option<S<RawThrottle>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawApiKey {
    pub name: S<String>,
    /// The key itself (hashed at load), or…
    pub value: Option<S<String>>,
    /// …its SHA-256, 64 hex digits.
    pub sha256: Option<S<String>>,
    pub enabled: Option<S<bool>>,
    pub description: Option<S<String>>,
    #[serde(default)]
    pub usage_plans: Vec<S<String>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawUsagePlan {
    pub name: S<String>,
    /// What a CSV import's `UsagePlanIds` may call it (besides its name).
    pub id: Option<S<String>>,
    pub throttle: Option<S<RawThrottle>>,
    pub quota: Option<S<RawQuota>>,
    #[serde(default)]
    pub api_stages: Vec<S<RawPlanStage>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawQuota {
    pub limit: S<u64>,
    pub period: S<String>,
    pub offset: Option<S<u64>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawPlanStage {
    pub api: S<String>,
    pub stage: S<String>,
    /// Route key → throttle, for this key's requests on that route.
    pub throttle: Option<S<OrderedMap<S<RawThrottle>>>>,
}

/// What this module resolves.
#[derive(Debug)]
pub(crate) struct Resolved {
    pub throttling: Option<Throttle>,
    pub api_keys: Vec<ApiKey>,
    pub usage_plans: Vec<UsagePlan>,
    pub quota_state: QuotaState,
}

/// The account default (API Gateway's: 10,000 requests per second, burst 5,000).
pub const ACCOUNT_DEFAULT: Throttle = Throttle {
    rate_milli: 10_000_000,
    burst: 5_000,
};

/// Resolve everything limits-related in `raw`; stage throttling is written
/// into `apis` (resolved already). `file` is the configuration's path
/// (`api_keys_csv` is relative to its directory).
pub(crate) fn resolve(
    raw: &RawGateway,
    apis: &mut [Api],
    file: &str,
    errors: &mut Errors,
) -> Resolved {
    let throttling = match raw.throttling.as_ref().map(|t| (&t.value, &t.referenced)) {
        None => Some(ACCOUNT_DEFAULT),
        Some((RawAccountThrottle::Limit(t), _)) => Some(throttle(t, errors)),
        Some((RawAccountThrottle::Unlimited(s), at)) => {
            if s != "unlimited" {
                errors.at(
                    at,
                    format!("`throttling` is `{{rate: R, burst: B}}` or `unlimited`, not `{s}`"),
                );
            }
            None
        }
    };
    stage_throttling(raw, apis, errors);
    let usage_plans = usage_plans(raw, apis, errors);
    let mut api_keys = Vec::new();
    for k in &raw.api_keys {
        if let Some(key) = inline_key(k, &usage_plans, errors) {
            api_keys.push((key, Origin::Inline(k.name.referenced)));
        }
    }
    if let Some(csv) = &raw.api_keys_csv {
        let path = Path::new(file)
            .parent()
            .unwrap_or(Path::new(""))
            .join(&csv.value);
        match std::fs::read_to_string(&path) {
            Err(e) => errors.at(
                &csv.referenced,
                format!("cannot read `{}`: {e}", path.display()),
            ),
            Ok(text) => {
                let file = path.display().to_string();
                for (line, key) in import_csv(&text, &file, &usage_plans, errors) {
                    api_keys.push((key, Origin::Csv(file.clone(), line)));
                }
            }
        }
    }
    let api_keys = dedupe_keys(api_keys, &usage_plans, apis, errors);
    Resolved {
        throttling,
        api_keys,
        usage_plans,
        quota_state: quota_state(raw, errors),
    }
}

/// A checked throttle: a rate ≥ 0 (fractions allowed, to the thousandth)
/// and a burst.
pub(crate) fn throttle(t: &RawThrottle, errors: &mut Errors) -> Throttle {
    let rate = t.rate.value;
    if !(0.0..=1e12).contains(&rate) {
        errors.at(
            &t.rate.referenced,
            format!("`rate` is requests per second, 0 or more, not {rate}"),
        );
    }
    Throttle {
        rate_milli: (rate.clamp(0.0, 1e12) * 1000.0).round() as u64,
        burst: t.burst.value,
    }
}

/// Each stage's `throttling` and `route_settings`, into the resolved stages.
fn stage_throttling(raw: &RawGateway, apis: &mut [Api], errors: &mut Errors) {
    for (raw_api, api) in raw.apis.iter().zip(apis.iter_mut()) {
        for (i, raw_stage) in raw_api.stages.value.iter().enumerate() {
            let Some(full) = raw_stage.value.full() else {
                continue;
            };
            let Some(stage) = api.stages.get(i) else {
                continue;
            };
            let mut deployments = vec![stage.deployment];
            deployments.extend(stage.canary.as_ref().map(|c| c.deployment));
            let default = full.throttling.as_ref().map(|t| throttle(&t.value, errors));
            let mut by_route = Vec::new();
            for (key, s) in full.route_settings.iter().flat_map(|r| &r.value.0) {
                let Some(name) = route_name(key, &deployments, api, errors) else {
                    continue;
                };
                if let Some(t) = &s.value.throttling {
                    by_route.push((name, throttle(&t.value, errors)));
                }
            }
            let settings = &mut api.stages[i].settings;
            settings.throttling = default;
            settings.route_throttling = by_route;
        }
    }
}

/// The route key `key` written in settings for deployments `deployments` of
/// `api`, normalized as the model writes route keys; an error when no such
/// route exists there.
fn route_name(
    key: &S<String>,
    deployments: &[usize],
    api: &Api,
    errors: &mut Errors,
) -> Option<String> {
    let parsed = match parse_route_key(&key.value) {
        Ok(k) => k,
        Err(e) => {
            errors.at(&key.referenced, e);
            return None;
        }
    };
    let exists = deployments.iter().any(|&d| {
        api.deployments
            .get(d)
            .is_some_and(|d| d.routes.iter().any(|r| r.key == parsed))
    });
    if !exists && !api.deployments.is_empty() {
        errors.at(
            &key.referenced,
            format!(
                "API `{}` has no route `{parsed}` in the deployment this stage runs",
                api.name
            ),
        );
        return None;
    }
    Some(parsed.to_string())
}

fn usage_plans(raw: &RawGateway, apis: &[Api], errors: &mut Errors) -> Vec<UsagePlan> {
    let mut out: Vec<UsagePlan> = Vec::new();
    for (i, p) in raw.usage_plans.iter().enumerate() {
        if !is_simple_name(&p.name.value) {
            errors.at(
                &p.name.referenced,
                format!(
                    "usage plan name `{}` may use only letters, digits, `.`, `_` and `-`",
                    p.name.value
                ),
            );
        }
        let names = |q: &RawUsagePlan| {
            [Some(&q.name), q.id.as_ref()]
                .into_iter()
                .flatten()
                .map(|s| s.value.clone())
                .collect::<Vec<_>>()
        };
        for n in [Some(&p.name), p.id.as_ref()].into_iter().flatten() {
            if let Some(first) = raw.usage_plans[..i]
                .iter()
                .find(|q| names(q).contains(&n.value))
            {
                errors.at(
                    &n.referenced,
                    format!(
                        "usage plan name or id `{}` is already used at {}",
                        n.value,
                        place(&first.name.referenced)
                    ),
                );
            }
        }
        let quota = p.quota.as_ref().map(|q| quota(&q.value, errors));
        let mut api_stages: Vec<PlanStage> = Vec::new();
        for s in &p.api_stages {
            let s = &s.value;
            let Some(api) = apis.iter().position(|a| a.name == s.api.value) else {
                errors.at(&s.api.referenced, format!("unknown API `{}`", s.api.value));
                continue;
            };
            let Some(stage) = apis[api].stage(&s.stage.value) else {
                errors.at(
                    &s.stage.referenced,
                    format!("API `{}` has no stage `{}`", s.api.value, s.stage.value),
                );
                continue;
            };
            if api_stages.iter().any(|o| o.api == api && o.stage == stage) {
                errors.at(
                    &s.stage.referenced,
                    format!("{}/{} is listed twice", s.api.value, s.stage.value),
                );
            }
            let st = &apis[api].stages[stage];
            let mut deployments = vec![st.deployment];
            deployments.extend(st.canary.as_ref().map(|c| c.deployment));
            let mut route_throttling = Vec::new();
            for (key, t) in s.throttle.iter().flat_map(|t| &t.value.0) {
                if let Some(name) = route_name(key, &deployments, &apis[api], errors) {
                    route_throttling.push((name, throttle(&t.value, errors)));
                }
            }
            api_stages.push(PlanStage {
                api,
                stage,
                route_throttling,
            });
        }
        out.push(UsagePlan {
            name: p.name.value.clone(),
            id: p.id.as_ref().map(|s| s.value.clone()),
            throttle: p.throttle.as_ref().map(|t| throttle(&t.value, errors)),
            quota,
            api_stages,
        });
    }
    out
}

fn quota(q: &RawQuota, errors: &mut Errors) -> Quota {
    if q.limit.value == 0 {
        errors.at(
            &q.limit.referenced,
            "a quota's `limit` must be greater than 0",
        );
    }
    let period = match q.period.value.to_ascii_uppercase().as_str() {
        "DAY" => Period::Day,
        "WEEK" => Period::Week,
        "MONTH" => Period::Month,
        _ => {
            errors.at(
                &q.period.referenced,
                format!("`period` is DAY, WEEK or MONTH, not `{}`", q.period.value),
            );
            Period::Day
        }
    };
    let offset = q.offset.as_ref().map_or(0, |o| o.value);
    if offset > u64::from(period.max_offset()) {
        let at = &q.offset.as_ref().expect("offset > 0 is written").referenced;
        let what = match period {
            Period::Day => "a DAY quota takes no offset (0)".to_owned(),
            Period::Week => {
                "a WEEK quota's offset is the weekday it starts on, 0 (Sunday) to 6".to_owned()
            }
            Period::Month => {
                "a MONTH quota's offset is the day it starts on, 0 (the 1st) to 27".to_owned()
            }
        };
        errors.at(at, what);
    }
    Quota {
        limit: q.limit.value,
        period,
        offset: offset.min(27) as u32,
    }
}

/// Where a key was written.
enum Origin {
    Inline(serde_saphyr::Location),
    Csv(String, u64),
}

/// Whether `value` is a valid API key: 20 to 128 visible ASCII characters.
pub fn valid_key_value(value: &str) -> bool {
    (20..=128).contains(&value.len()) && value.bytes().all(|b| b.is_ascii_graphic())
}

/// SHA-256 of an API key's value.
pub fn hash_key(value: &str) -> [u8; 32] {
    Sha256::digest(value.as_bytes()).into()
}

/// 64 hex digits into 32 bytes.
pub fn parse_sha256(hex: &str) -> Option<[u8; 32]> {
    if hex.len() != 64 {
        return None;
    }
    let mut out = [0u8; 32];
    for (i, pair) in hex.as_bytes().chunks(2).enumerate() {
        let digit = |b: u8| (b as char).to_digit(16);
        out[i] = (digit(pair[0])? * 16 + digit(pair[1])?) as u8;
    }
    Some(out)
}

fn inline_key(k: &RawApiKey, plans: &[UsagePlan], errors: &mut Errors) -> Option<ApiKey> {
    let hash = match (&k.value, &k.sha256) {
        (Some(v), None) => {
            if !valid_key_value(&v.value) {
                errors.at(
                    &v.referenced,
                    "an API key's `value` is 20 to 128 visible ASCII characters",
                );
            }
            hash_key(&v.value)
        }
        (None, Some(h)) => match parse_sha256(&h.value) {
            Some(hash) => hash,
            None => {
                errors.at(&h.referenced, "`sha256` is 64 hex digits");
                return None;
            }
        },
        _ => {
            errors.at(
                &k.name.referenced,
                format!(
                    "API key `{}` needs exactly one of `value` or `sha256`",
                    k.name.value
                ),
            );
            return None;
        }
    };
    let mut usage_plans = Vec::new();
    for p in &k.usage_plans {
        match plan_index(plans, &p.value) {
            Some(i) => usage_plans.push(i),
            None => errors.at(&p.referenced, format!("unknown usage plan `{}`", p.value)),
        }
    }
    check_key_name(&k.name.value, |m| errors.at(&k.name.referenced, m));
    Some(ApiKey {
        name: k.name.value.clone(),
        hash,
        enabled: k.enabled.as_ref().is_none_or(|e| e.value),
        description: k
            .description
            .as_ref()
            .map(|d| d.value.clone())
            .unwrap_or_default(),
        usage_plans,
    })
}

fn check_key_name(name: &str, mut error: impl FnMut(String)) {
    if name.is_empty() || name.len() > 1024 || name.chars().any(char::is_control) {
        error(format!(
            "API key name `{name}` must be 1 to 1024 characters without control characters"
        ));
    }
}

/// A usage plan by name or id.
pub(crate) fn plan_index(plans: &[UsagePlan], name: &str) -> Option<usize> {
    plans
        .iter()
        .position(|p| p.name == name || p.id.as_deref() == Some(name))
}

/// Keys from an API Gateway key import file: a header row naming the
/// columns (any order, any case; `Name` and `Key` required; `Description`,
/// `Enabled`, `UsagePlanIds` optional; others ignored), then one key per
/// row. Fields may be quoted with `"` or `'`; a quoted `UsagePlanIds` holds
/// several ids separated by commas. Returns each key with its line number.
fn import_csv(
    text: &str,
    file: &str,
    plans: &[UsagePlan],
    errors: &mut Errors,
) -> Vec<(u64, ApiKey)> {
    let mut err = |line: u64, message: String| {
        errors.list.push(ConfigError {
            file: file.to_owned(),
            line,
            column: 1,
            message,
        });
    };
    let mut lines = text
        .lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty());
    let Some((_, header)) = lines.next() else {
        err(
            1,
            "the API key file is empty; it needs a header row with Name and Key".into(),
        );
        return Vec::new();
    };
    let columns: Vec<String> = split_csv(header)
        .unwrap_or_default()
        .iter()
        .map(|c| c.trim().to_ascii_lowercase())
        .collect();
    let col = |name: &str| columns.iter().position(|c| c == name);
    let (Some(name_col), Some(key_col)) = (col("name"), col("key")) else {
        err(
            1,
            "the header row must name the columns Name and Key".into(),
        );
        return Vec::new();
    };
    let (desc_col, enabled_col, plans_col) =
        (col("description"), col("enabled"), col("usageplanids"));
    let mut out = Vec::new();
    for (i, line) in lines {
        let n = i as u64 + 1;
        let Some(fields) = split_csv(line) else {
            err(n, "unbalanced quotes".into());
            continue;
        };
        let get = |c: Option<usize>| {
            c.and_then(|c| fields.get(c))
                .map(|s| s.trim())
                .unwrap_or("")
        };
        let (name, key) = (get(Some(name_col)), get(Some(key_col)));
        if !valid_key_value(key) {
            err(n, "a Key is 20 to 128 visible ASCII characters".into());
            continue;
        }
        check_key_name(name, |m| err(n, m));
        let enabled = match get(enabled_col).to_ascii_lowercase().as_str() {
            "" | "true" => true,
            "false" => false,
            other => {
                err(n, format!("Enabled is true or false, not `{other}`"));
                true
            }
        };
        let mut usage_plans = Vec::new();
        for id in get(plans_col)
            .split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
        {
            match plan_index(plans, id) {
                Some(p) => usage_plans.push(p),
                None => err(n, format!("unknown usage plan `{id}`")),
            }
        }
        out.push((
            n,
            ApiKey {
                name: name.to_owned(),
                hash: hash_key(key),
                enabled,
                description: get(desc_col).to_owned(),
                usage_plans,
            },
        ));
    }
    out
}

/// One CSV row's fields; `None` when a quote is not closed.
fn split_csv(line: &str) -> Option<Vec<String>> {
    let mut out = Vec::new();
    let mut field = String::new();
    let mut chars = line.chars().peekable();
    let mut quote: Option<char> = None;
    let mut at_start = true;
    while let Some(c) = chars.next() {
        match quote {
            Some(q) if c == q => {
                if chars.peek() == Some(&q) {
                    field.push(q);
                    chars.next();
                } else {
                    quote = None;
                }
            }
            Some(_) => field.push(c),
            None if at_start && (c == '"' || c == '\'') => {
                quote = Some(c);
                at_start = false;
            }
            None if c == ',' => {
                out.push(std::mem::take(&mut field));
                at_start = true;
            }
            None => {
                if !c.is_whitespace() {
                    at_start = false;
                }
                field.push(c);
            }
        }
    }
    if quote.is_some() {
        return None;
    }
    out.push(field);
    Some(out)
}

/// The same key imported twice: the later one wins (API Gateway's rule).
/// Two plans of one key covering the same API stage: an error.
fn dedupe_keys(
    keys: Vec<(ApiKey, Origin)>,
    plans: &[UsagePlan],
    apis: &[Api],
    errors: &mut Errors,
) -> Vec<ApiKey> {
    let mut out: Vec<(ApiKey, Origin)> = Vec::with_capacity(keys.len());
    let mut by_hash = std::collections::HashMap::with_capacity(keys.len());
    for (k, origin) in keys {
        match by_hash.get(&k.hash) {
            Some(&i) => out[i] = (k, origin),
            None => {
                by_hash.insert(k.hash, out.len());
                out.push((k, origin));
            }
        }
    }
    for (k, origin) in &out {
        if let Some((a, b, api, stage)) = plan_clash(&k.usage_plans, plans) {
            let message = format!(
                "API key `{}` is in usage plans `{a}` and `{b}`, which both cover API `{}` stage `{}`; a key may be in one plan per API stage",
                k.name, apis[api].name, apis[api].stages[stage].name
            );
            match origin {
                Origin::Inline(loc) => errors.at(loc, message),
                Origin::Csv(file, line) => errors.list.push(ConfigError {
                    file: file.clone(),
                    line: *line,
                    column: 1,
                    message,
                }),
            }
        }
    }
    out.into_iter().map(|(k, _)| k).collect()
}

/// Two of `keys_plans` that share an API stage: their names, the API and
/// the stage (indexes).
fn plan_clash(keys_plans: &[usize], plans: &[UsagePlan]) -> Option<(String, String, usize, usize)> {
    for (i, &a) in keys_plans.iter().enumerate() {
        for &b in &keys_plans[i + 1..] {
            if a == b {
                continue;
            }
            for s in &plans[a].api_stages {
                if plans[b]
                    .api_stages
                    .iter()
                    .any(|o| o.api == s.api && o.stage == s.stage)
                {
                    return Some((plans[a].name.clone(), plans[b].name.clone(), s.api, s.stage));
                }
            }
        }
    }
    None
}

fn quota_state(raw: &RawGateway, errors: &mut Errors) -> QuotaState {
    let state_dir = raw
        .state_dir
        .as_ref()
        .map_or_else(|| "./state".to_owned(), |s| s.value.clone());
    if let Some(s) = &raw.state_dir
        && (s.value.is_empty() || s.value.chars().any(char::is_control))
    {
        errors.at(&s.referenced, "`state_dir` is a directory path");
    }
    let store = match &raw.quota_store {
        None => QuotaStore::File,
        Some(s) if s.value == "file" => QuotaStore::File,
        Some(s) if s.value.starts_with("redis://") => {
            if !crate::limit::store::redis_url_ok(&s.value) {
                errors.at(
                    &s.referenced,
                    format!(
                        "`{}` is not a Redis URL like redis://127.0.0.1:6379/0",
                        s.value
                    ),
                );
            }
            QuotaStore::Redis(s.value.clone())
        }
        Some(s) => {
            errors.at(
                &s.referenced,
                format!(
                    "`quota_store` is `file` or a redis:// URL, not `{}`",
                    s.value
                ),
            );
            QuotaStore::File
        }
    };
    let reconcile = match &raw.reconcile_ms {
        None => Duration::from_millis(10),
        Some(s) if (1..=10_000).contains(&s.value) => Duration::from_millis(s.value),
        Some(s) => {
            errors.at(&s.referenced, "`reconcile_ms` is 1 to 10000");
            Duration::from_millis(10)
        }
    };
    QuotaState {
        state_dir,
        store,
        reconcile,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csv_fields_and_quotes() {
        assert_eq!(split_csv("a,b,c").unwrap(), ["a", "b", "c"]);
        assert_eq!(split_csv("a,\"x,y\",'p,q'").unwrap(), ["a", "x,y", "p,q"]);
        assert_eq!(
            split_csv("a,\"say \"\"hi\"\"\"").unwrap(),
            ["a", "say \"hi\""]
        );
        assert!(split_csv("a,\"open").is_none());
        assert_eq!(split_csv("it's,fine").unwrap(), ["it's", "fine"]);
    }

    const BASE: &str = "listeners: [{name: m, address: 127.0.0.1:0}]\napis:\n  - name: shop\n    stages:\n      - name: prod\n        throttling: {rate: 2.5, burst: 4}\n        route_settings:\n          'GET /a': {throttling: {rate: 1, burst: 1}}\n    routes:\n      - {route: GET /a, integration: {type: mock}, api_key_required: true}\n      - {route: GET /b, integration: {type: mock}}\n";

    fn errors(extra: &str) -> Vec<String> {
        match crate::config::load_str("t.yaml", &format!("{BASE}{extra}")) {
            Ok(_) => Vec::new(),
            Err(e) => e.iter().map(ToString::to_string).collect(),
        }
    }

    #[test]
    fn defaults_and_stage_throttling() {
        let gw = crate::config::load_str("t.yaml", BASE).unwrap();
        assert_eq!(gw.throttling, Some(ACCOUNT_DEFAULT));
        let s = &gw.apis[0].stages[0].settings;
        assert_eq!(
            s.throttling,
            Some(Throttle {
                rate_milli: 2500,
                burst: 4
            })
        );
        assert_eq!(
            s.route_throttling,
            [(
                "GET /a".to_owned(),
                Throttle {
                    rate_milli: 1000,
                    burst: 1
                }
            )]
        );
        assert!(gw.apis[0].deployments[0].routes[0].api_key_required);
        assert!(!gw.apis[0].deployments[0].routes[1].api_key_required);
        assert_eq!(gw.quota_state.state_dir, "./state");
        assert_eq!(gw.quota_state.store, QuotaStore::File);
        assert_eq!(gw.quota_state.reconcile, Duration::from_millis(10));
        let gw =
            crate::config::load_str("t.yaml", &format!("{BASE}throttling: unlimited\n")).unwrap();
        assert_eq!(gw.throttling, None);
    }

    #[test]
    fn errors_point_at_what_is_wrong() {
        assert_eq!(
            errors("throttling: unlimted\n"),
            ["t.yaml:12:13: `throttling` is `{rate: R, burst: B}` or `unlimited`, not `unlimted`"]
        );
        assert_eq!(
            errors("throttling: {rate: -1, burst: 1}\n"),
            ["t.yaml:12:20: `rate` is requests per second, 0 or more, not -1"]
        );
        assert_eq!(
            errors(
                "usage_plans:\n  - name: p\n    quota: {limit: 0, period: YEAR, offset: 3}\n    api_stages: [{api: shop, stage: dev}]\n"
            ),
            [
                "t.yaml:14:20: a quota's `limit` must be greater than 0",
                "t.yaml:14:31: `period` is DAY, WEEK or MONTH, not `YEAR`",
                "t.yaml:14:45: a DAY quota takes no offset (0)",
                "t.yaml:15:37: API `shop` has no stage `dev`",
            ]
        );
        assert_eq!(
            errors("api_keys:\n  - {name: k, value: short, usage_plans: [nope]}\n  - {name: j}\n"),
            [
                "t.yaml:13:22: an API key's `value` is 20 to 128 visible ASCII characters",
                "t.yaml:13:43: unknown usage plan `nope`",
                "t.yaml:14:12: API key `j` needs exactly one of `value` or `sha256`",
            ]
        );
        assert_eq!(
            errors(
                "usage_plans:\n  - name: p\n    api_stages: [{api: shop, stage: prod, throttle: {'GET /c': {rate: 1, burst: 1}}}]\n"
            ),
            ["t.yaml:14:54: API `shop` has no route `GET /c` in the deployment this stage runs"]
        );
        assert_eq!(
            errors("quota_store: memcached://x\nreconcile_ms: 0\n"),
            [
                "t.yaml:12:14: `quota_store` is `file` or a redis:// URL, not `memcached://x`",
                "t.yaml:13:15: `reconcile_ms` is 1 to 10000",
            ]
        );
    }

    #[test]
    fn csv_import_with_errors_on_their_lines() {
        let dir = std::env::temp_dir().join(format!("tollgate-csv-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(
            dir.join("keys.csv"),
            "key,NAME,ignored,enabled,UsagePlanIds\nabcdefghij0123456789,a,x,TRUE,p\nshort,b,x,true,\nabcdefghij0123456789zz,c,x,maybe,'p,q'\n",
        )
        .unwrap();
        let yaml = format!(
            "{BASE}api_keys_csv: keys.csv\nusage_plans: [{{name: p, api_stages: [{{api: shop, stage: prod}}]}}]\n"
        );
        let file = dir.join("gw.yaml").display().to_string();
        let csv = dir.join("keys.csv").display().to_string();
        let errs: Vec<String> = crate::config::load_str(&file, &yaml)
            .unwrap_err()
            .iter()
            .map(ToString::to_string)
            .collect();
        assert_eq!(
            errs,
            [
                format!("{csv}:3:1: a Key is 20 to 128 visible ASCII characters"),
                format!("{csv}:4:1: Enabled is true or false, not `maybe`"),
                format!("{csv}:4:1: unknown usage plan `q`"),
            ]
        );
        std::fs::write(dir.join("keys.csv"), "Name,Key\na,abcdefghij0123456789\n").unwrap();
        let gw = crate::config::load_str(&file, &yaml).unwrap();
        assert_eq!(gw.api_keys.len(), 1);
        assert_eq!(gw.api_keys[0].hash, hash_key("abcdefghij0123456789"));
        assert!(gw.api_keys[0].enabled);
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn sha256_hex() {
        let h = hash_key("abcdefghij0123456789");
        let hex: String = h.iter().map(|b| format!("{b:02x}")).collect();
        assert_eq!(parse_sha256(&hex), Some(h));
        assert_eq!(parse_sha256(&hex[1..]), None);
        assert_eq!(parse_sha256(&"g".repeat(64)), None);
    }
}
