//! What the admin API does with keys and quotas: API keys added or
//! disabled at runtime (kept in `state_dir/apikeys.json`, written aside and
//! renamed over, so a crash leaves the old or the new file, never half of
//! one; re-applied on every reload and restart, after the configuration's
//! keys), and usage reports in the shape of API Gateway's `get-usage`.
//!
//! Only hashes are kept: a key's value is hashed when it arrives and
//! returned once, in the answer that created it (when the gateway chose it).

use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering;

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use super::keys::{KeyEntry, KeyHash, KeyTable};
use super::limiter::{Limiter, unix_now};
use super::period::{bounds, date, day_of, parse_date};
use crate::config::Gateway;
use crate::config::limits::{parse_sha256, valid_key_value};

const FILE: &str = "apikeys.json";

/// A key added or changed through the admin API.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct RuntimeKey {
    pub name: String,
    /// Hex SHA-256 of the value.
    pub sha256: String,
    pub enabled: bool,
    #[serde(default)]
    pub description: String,
    /// Usage plan names; `None`: keep the configuration's (a change to a
    /// configured key).
    #[serde(default)]
    pub usage_plans: Option<Vec<String>>,
}

/// Runtime keys and where they are kept.
#[derive(Debug)]
pub struct RuntimeKeys {
    path: PathBuf,
    keys: Vec<RuntimeKey>,
}

impl RuntimeKeys {
    /// Read `dir/apikeys.json` (none yet: no keys).
    pub fn load(dir: &Path) -> std::io::Result<RuntimeKeys> {
        let path = dir.join(FILE);
        let keys = match std::fs::read(&path) {
            Ok(bytes) => serde_json::from_slice(&bytes)
                .map_err(|e| std::io::Error::other(format!("{}: {e}", path.display())))?,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Vec::new(),
            Err(e) => {
                return Err(std::io::Error::new(
                    e.kind(),
                    format!("{}: {e}", path.display()),
                ));
            }
        };
        Ok(RuntimeKeys { path, keys })
    }

    pub fn len(&self) -> usize {
        self.keys.len()
    }

    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }

    /// Put every runtime key into `table` (usage plans by name in `gw`).
    pub fn apply(&self, table: &KeyTable, gw: &Gateway) {
        for k in &self.keys {
            let Some(hash) = parse_sha256(&k.sha256).map(KeyHash) else {
                continue;
            };
            let configured = table.with(&hash, |e| e.cloned());
            let plans: Box<[u32]> = match &k.usage_plans {
                Some(names) => names
                    .iter()
                    .filter_map(|n| {
                        let i = crate::config::limits::plan_index(&gw.usage_plans, n);
                        if i.is_none() {
                            eprintln!(
                                "tollgate: API key `{}`: usage plan `{n}` is not configured any more",
                                k.name
                            );
                        }
                        i.map(|i| i as u32)
                    })
                    .collect(),
                None => configured.as_ref().map_or_else(Box::default, |c| c.plans.clone()),
            };
            table.insert(
                hash,
                KeyEntry {
                    name: k.name.as_str().into(),
                    enabled: k.enabled,
                    plans,
                    runtime: configured.is_none_or(|c| c.runtime),
                },
            );
        }
    }

    /// Add or replace (by hash) and write the file.
    fn upsert(&mut self, key: RuntimeKey) -> std::io::Result<()> {
        match self.keys.iter_mut().find(|k| k.sha256 == key.sha256) {
            Some(k) => *k = key,
            None => self.keys.push(key),
        }
        self.save()
    }

    fn save(&self) -> std::io::Result<()> {
        if let Some(dir) = self.path.parent() {
            std::fs::create_dir_all(dir)?;
        }
        let tmp = self.path.with_extension("json.tmp");
        let text = serde_json::to_vec_pretty(&self.keys).map_err(std::io::Error::other)?;
        {
            let mut f = std::fs::File::create(&tmp)?;
            std::io::Write::write_all(&mut f, &text)?;
            f.sync_all()?;
        }
        std::fs::rename(&tmp, &self.path)?;
        if let Some(dir) = self.path.parent() {
            let _ = std::fs::File::open(dir).and_then(|d| d.sync_all());
        }
        Ok(())
    }
}

fn message(status: u16, m: &str) -> (u16, String) {
    (status, json!({ "message": m }).to_string())
}

/// `POST /admin/apikeys` with a JSON body `{name, value?, sha256?,
/// enabled?, description?, usage_plans?}`. Without `value` or `sha256` the
/// gateway makes a value (40 characters) and returns it once.
pub fn add_key(limiter: &Limiter, gw: &Gateway, body: &[u8]) -> (u16, String) {
    #[derive(Deserialize)]
    #[serde(deny_unknown_fields)]
    struct Body {
        name: String,
        value: Option<String>,
        sha256: Option<String>,
        enabled: Option<bool>,
        description: Option<String>,
        usage_plans: Option<Vec<String>>,
    }
    let b: Body = match serde_json::from_slice(body) {
        Ok(b) => b,
        Err(e) => return message(400, &format!("body: {e}")),
    };
    if b.name.is_empty() || b.name.len() > 1024 || b.name.chars().any(char::is_control) {
        return message(
            400,
            "`name` is 1 to 1024 characters without control characters",
        );
    }
    let mut generated = None;
    let hash = match (&b.value, &b.sha256) {
        (Some(v), None) if valid_key_value(v) => KeyHash::of(v.as_bytes()),
        (Some(_), None) => return message(400, "`value` is 20 to 128 visible ASCII characters"),
        (None, Some(h)) => match parse_sha256(h) {
            Some(h) => KeyHash(h),
            None => return message(400, "`sha256` is 64 hex digits"),
        },
        (None, None) => {
            let v = random_key();
            let h = KeyHash::of(v.as_bytes());
            generated = Some(v);
            h
        }
        (Some(_), Some(_)) => return message(400, "give `value` or `sha256`, not both"),
    };
    let plans = b.usage_plans.clone().unwrap_or_default();
    if let Some(p) = plans
        .iter()
        .find(|p| crate::config::limits::plan_index(&gw.usage_plans, p).is_none())
    {
        return message(400, &format!("unknown usage plan `{p}`"));
    }
    let record = RuntimeKey {
        name: b.name.clone(),
        sha256: hex(&hash.0),
        enabled: b.enabled.unwrap_or(true),
        description: b.description.unwrap_or_default(),
        usage_plans: Some(plans.clone()),
    };
    if let Err(e) = store_and_apply(limiter, gw, record.clone()) {
        return message(500, &format!("cannot keep the key in state_dir: {e}"));
    }
    let mut out = json!({
        "id": hash.id(),
        "name": record.name,
        "enabled": record.enabled,
        "usage_plans": plans,
    });
    if let Some(v) = generated {
        out["value"] = Value::String(v);
    }
    (201, out.to_string())
}

/// `DELETE /admin/apikeys?key=NAME_OR_ID`: disable the key (configured or
/// added at runtime); the change is kept across reloads and restarts.
pub fn disable_key(limiter: &Limiter, gw: &Gateway, name_or_id: &str) -> (u16, String) {
    let Some(plan) = limiter.current() else {
        return message(503, "not serving yet");
    };
    let Some(hash) = plan.keys.find(name_or_id) else {
        return message(404, &format!("no API key named `{name_or_id}`"));
    };
    let entry = plan.keys.with(&hash, |e| e.cloned()).expect("found above");
    let record = RuntimeKey {
        name: entry.name.to_string(),
        sha256: hex(&hash.0),
        enabled: false,
        description: String::new(),
        usage_plans: entry.runtime.then(|| {
            entry
                .plans
                .iter()
                .filter_map(|&p| gw.usage_plans.get(p as usize).map(|p| p.name.clone()))
                .collect()
        }),
    };
    if let Err(e) = store_and_apply(limiter, gw, record) {
        return message(500, &format!("cannot keep the change in state_dir: {e}"));
    }
    (
        200,
        json!({ "id": hash.id(), "name": entry.name.as_ref(), "enabled": false }).to_string(),
    )
}

/// Keep `record` and put it into every kept plan's key table.
fn store_and_apply(limiter: &Limiter, gw: &Gateway, record: RuntimeKey) -> std::io::Result<()> {
    let mut runtime = limiter.runtime.lock().unwrap_or_else(|e| e.into_inner());
    runtime.upsert(record.clone())?;
    let one = RuntimeKeys {
        path: PathBuf::new(),
        keys: vec![record],
    };
    for plan in limiter.plans() {
        one.apply(&plan.keys, gw);
    }
    Ok(())
}

/// `GET /admin/keys`-style listing: every key's id, name, state and plans.
pub fn list_keys(limiter: &Limiter, gw: &Gateway) -> (u16, String) {
    let Some(plan) = limiter.current() else {
        return message(503, "not serving yet");
    };
    let mut items: Vec<Value> = plan
        .keys
        .entries()
        .into_iter()
        .map(|(h, e)| {
            json!({
                "id": h.id(),
                "name": e.name.as_ref(),
                "enabled": e.enabled,
                "runtime": e.runtime,
                "usage_plans": e.plans.iter().filter_map(|&p| gw.usage_plans.get(p as usize).map(|p| p.name.clone())).collect::<Vec<_>>(),
            })
        })
        .collect();
    items.sort_by(|a, b| a["name"].as_str().cmp(&b["name"].as_str()));
    (200, json!({ "items": items }).to_string())
}

/// `GET /admin/usage?plan=P&key=K[&start=YYYY-MM-DD][&end=YYYY-MM-DD]`:
/// per day `[used, remaining]` like API Gateway's get-usage (remaining: of
/// the quota period that day belongs to, after that day), and the quota's
/// state now. The range defaults to the current quota period up to today
/// (today alone for a plan without quota); at most 92 days.
pub fn usage(limiter: &Limiter, gw: &Gateway, query: &str) -> (u16, String) {
    let param = |name: &str| query_param(query, name);
    let Some(plan_name) = param("plan") else {
        return message(400, "`plan` is required");
    };
    let Some(pi) = crate::config::limits::plan_index(&gw.usage_plans, &plan_name) else {
        return message(404, &format!("no usage plan `{plan_name}`"));
    };
    let up = &gw.usage_plans[pi];
    let Some(current) = limiter.current() else {
        return message(503, "not serving yet");
    };
    let keys: Vec<(KeyHash, KeyEntry)> = match param("key") {
        Some(k) => match current.keys.find(&k) {
            Some(h) => vec![(h, current.keys.with(&h, |e| e.cloned()).expect("found"))],
            None => return message(404, &format!("no API key `{k}`")),
        },
        None => current
            .keys
            .entries()
            .into_iter()
            .filter(|(_, e)| e.plans.contains(&(pi as u32)))
            .collect(),
    };
    let today = day_of(unix_now());
    let (q_start, q_end) = up
        .quota
        .map_or((today, today + 1), |q| bounds(q.period, q.offset, today));
    let start = match param("start").map(|s| parse_date(&s)) {
        Some(Some(d)) => d,
        Some(None) => return message(400, "`start` is a date, YYYY-MM-DD"),
        None => q_start,
    };
    let end = match param("end").map(|s| parse_date(&s)) {
        Some(Some(d)) => d,
        Some(None) => return message(400, "`end` is a date, YYYY-MM-DD"),
        None => today,
    };
    if end < start || end - start >= 92 {
        return message(400, "the range is 1 to 92 days, `start` before `end`");
    }
    if up.quota.is_some()
        && let Err(e) = limiter.open_store()
    {
        return message(503, &format!("quota store: {e}"));
    }
    let mut items = serde_json::Map::new();
    let mut quotas = serde_json::Map::new();
    let mut guard = limiter.store.lock().unwrap_or_else(|e| e.into_inner());
    for (hash, entry) in &keys {
        let id = hash.id();
        let counts = match guard.as_mut() {
            Some(store) => {
                // From the first day of the period `start` is in, to sum "remaining".
                let from = up
                    .quota
                    .map_or(start, |q| bounds(q.period, q.offset, start).0);
                match store.usage(&up.name, &id, from, end) {
                    Ok(c) => c.into_iter().zip(from..).collect::<Vec<_>>(),
                    Err(e) => return message(503, &format!("quota store: {e}")),
                }
            }
            None => (start..=end).map(|d| (0, d)).collect(),
        };
        let mut days = Vec::new();
        let mut used_in_period = 0u64;
        let mut period = i64::MIN;
        for (used, day) in counts {
            if let Some(q) = up.quota {
                let p = bounds(q.period, q.offset, day).0;
                if p != period {
                    period = p;
                    used_in_period = 0;
                }
            }
            used_in_period += used;
            if day < start {
                continue;
            }
            let remaining = up.quota.map_or(Value::Null, |q| {
                json!(q.limit.saturating_sub(used_in_period))
            });
            days.push(json!([used, remaining]));
        }
        items.insert(id.clone(), Value::Array(days));
        if let Some(q) = up.quota {
            let counter = limiter.quota_counter(&up.name, hash);
            let remaining = counter.as_ref().map_or_else(
                || {
                    let used = guard
                        .as_mut()
                        .and_then(|s| s.usage(&up.name, &id, q_start, today).ok())
                        .map_or(0, |c| c.iter().sum::<u64>());
                    q.limit.saturating_sub(used) as i64
                },
                // Credit leased to cores counts as used until handed back.
                |c| c.bucket.available().max(0),
            );
            quotas.insert(
                id,
                json!({
                    "name": entry.name.as_ref(),
                    "limit": q.limit,
                    "period": q.period.as_str(),
                    "offset": q.offset,
                    "periodStart": date(q_start),
                    "periodEnd": date(q_end - 1),
                    "remaining": remaining,
                    "counting": counter.is_some_and(|c| c.period.load(Ordering::Relaxed) == q_start),
                }),
            );
        }
    }
    (
        200,
        json!({
            "usagePlanId": up.name,
            "startDate": date(start),
            "endDate": date(end),
            "items": items,
            "quotas": quotas,
        })
        .to_string(),
    )
}

/// The value of `name` in a query string, percent-decoded.
pub fn query_param(query: &str, name: &str) -> Option<String> {
    query
        .split('&')
        .filter_map(|p| p.split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| percent_decode(v))
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// `%XX` and `+` in a query value.
fn percent_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'%' if i + 2 < b.len() => {
                let h = std::str::from_utf8(&b[i + 1..i + 3]).ok();
                match h.and_then(|h| u8::from_str_radix(h, 16).ok()) {
                    Some(v) => {
                        out.push(v);
                        i += 3;
                        continue;
                    }
                    None => out.push(b'%'),
                }
            }
            b'+' => out.push(b' '),
            c => out.push(c),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// 40 characters of [A-Za-z0-9] from the kernel's random source.
fn random_key() -> String {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
    let mut bytes = [0u8; 40];
    let mut filled = 0;
    while filled < bytes.len() {
        // SAFETY: the pointer and length describe the unfilled part of `bytes`.
        let n = unsafe {
            libc::getrandom(bytes[filled..].as_mut_ptr().cast(), bytes.len() - filled, 0)
        };
        if n > 0 {
            filled += n as usize;
        }
    }
    // 62 does not divide 256: reject the top values to stay uniform.
    let mut out = String::with_capacity(40);
    let mut pool = bytes.to_vec();
    while out.len() < 40 {
        match pool.pop() {
            Some(b) if b < 248 => out.push(ALPHABET[usize::from(b % 62)] as char),
            Some(_) => {}
            None => {
                let mut more = [0u8; 16];
                // SAFETY: as above, for `more`.
                let n = unsafe { libc::getrandom(more.as_mut_ptr().cast(), more.len(), 0) };
                pool.extend_from_slice(&more[..n.max(0) as usize]);
            }
        }
    }
    out
}
