//! The admin listener: health, readiness, status and reload, for operators
//! and orchestrators. It runs on its own thread with blocking sockets, off
//! the workers, one request per connection (`Connection: close`); it is a
//! control plane, not a data path.
//!
//! * `GET /healthz` — 200 while the process runs.
//! * `GET /readyz` — 200 once every worker serves the published
//!   configuration, else 503.
//! * `GET /admin/status` — JSON: the deployment serving (id, origin, load
//!   time), the deployment per stage, the last reload's outcome, each
//!   worker's CPU, driver and generation.
//! * `GET /metrics` — Prometheus text format: API Gateway's metrics per API,
//!   stage and route, upstream reuse, workers, access log counters (see
//!   `observe::metrics`).
//! * `GET /admin/usage?plan=P[&key=K][&start=YYYY-MM-DD][&end=…]` — per
//!   day `[used, remaining]` of a usage plan's keys (API Gateway's
//!   get-usage), and each key's quota now.
//! * `GET /admin/apikeys` — every API key: id, name, enabled, usage plans.
//! * `POST /admin/apikeys` (JSON `{name, value?, sha256?, enabled?,
//!   description?, usage_plans?}`) and `DELETE /admin/apikeys?key=NAME|ID`
//!   — add or disable a key at runtime (kept in `state_dir`); need the token.
//! * `POST /admin/cache/flush?stage=S[&api=A]` (token) and `GET
//!   /admin/cache` — flush a stage's response cache on every worker; the
//!   caches' numbers per worker (see `cache`).
//! * `POST /admin/reload` — load and publish the configuration now; needs
//!   `Authorization: Bearer <token>`. Without a configured token every
//!   mutating endpoint answers 403, so an admin port is never open by
//!   accident.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::Arc;
use std::sync::mpsc::{self, Sender};
use std::time::{Duration, UNIX_EPOCH};

use crate::server::Shared;
use crate::server::control::Event;

mod cache;

/// Bind and serve in the background; returns the bound address.
pub fn start(
    addr: SocketAddr,
    token: Option<String>,
    shared: Arc<Shared>,
    events: Sender<Event>,
) -> std::io::Result<SocketAddr> {
    let listener = TcpListener::bind(addr)
        .map_err(|e| std::io::Error::new(e.kind(), format!("admin listener {addr}: {e}")))?;
    let bound = listener.local_addr()?;
    let token = Arc::new(token);
    std::thread::Builder::new()
        .name("tollgate-admin".into())
        .spawn(move || {
            for stream in listener.incoming() {
                let Ok(stream) = stream else { continue };
                let (shared, events, token) = (shared.clone(), events.clone(), token.clone());
                let _ = std::thread::Builder::new()
                    .name("tollgate-admin-conn".into())
                    .spawn(move || serve(stream, &shared, &events, token.as_deref()));
            }
        })?;
    Ok(bound)
}

struct Request {
    method: String,
    path: String,
    /// The query string (after `?`), empty when none.
    query: String,
    authorization: Option<String>,
    /// The body (Content-Length, at most 1 MiB).
    body: Vec<u8>,
}

fn read_request(stream: &mut TcpStream) -> Option<Request> {
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .ok()?;
    let mut buf = Vec::new();
    let mut tmp = [0u8; 4096];
    let end = loop {
        if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break i;
        }
        if buf.len() > 16 * 1024 {
            return None;
        }
        let n = stream.read(&mut tmp).ok()?;
        if n == 0 {
            return None;
        }
        buf.extend_from_slice(&tmp[..n]);
    };
    let head = std::str::from_utf8(&buf[..end]).ok()?;
    let mut lines = head.split("\r\n");
    let mut first = lines.next()?.split(' ');
    let method = first.next()?.to_string();
    let target = first.next()?;
    let path = target.split('?').next().unwrap_or(target).to_string();
    let query = target.split_once('?').map_or("", |q| q.1).to_string();
    let fields: Vec<(&str, &str)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(n, v)| (n.trim(), v.trim()))
        .collect();
    let field = |name: &str| {
        fields
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| *v)
    };
    let authorization = field("authorization").map(str::to_string);
    let length: usize = field("content-length").map_or(Some(0), |v| v.parse().ok())?;
    if length > 1 << 20 {
        return None;
    }
    let mut body = buf[end + 4..].to_vec();
    while body.len() < length {
        let n = stream.read(&mut tmp).ok()?;
        if n == 0 {
            return None;
        }
        body.extend_from_slice(&tmp[..n]);
    }
    body.truncate(length);
    Some(Request {
        method,
        path,
        query,
        authorization,
        body,
    })
}

fn serve(mut stream: TcpStream, shared: &Shared, events: &Sender<Event>, token: Option<&str>) {
    let Some(req) = read_request(&mut stream) else {
        return;
    };
    let (status, body) = match (req.method.as_str(), req.path.as_str()) {
        ("GET", "/healthz") => (200, "ok\n".to_string()),
        ("GET", "/readyz") => {
            if shared.ready() {
                (200, "ready\n".to_string())
            } else {
                (503, "not ready\n".to_string())
            }
        }
        ("GET", "/admin/status") => (200, status_json(shared)),
        ("GET", "/metrics") => (200, metrics_text(shared)),
        ("POST", "/admin/reload") => match authorize(token, req.authorization.as_deref()) {
            Err(e) => e,
            Ok(()) => reload(events),
        },
        ("POST", "/admin/cache/flush") => match authorize(token, req.authorization.as_deref()) {
            Err(e) => e,
            Ok(()) => cache::flush(shared, &req.query),
        },
        ("GET", "/admin/cache") => cache::stats(shared),
        ("GET" | "POST" | "DELETE", "/admin/usage" | "/admin/apikeys") => {
            keys_and_usage(shared, token, &req)
        }
        (
            _,
            "/healthz" | "/readyz" | "/admin/status" | "/admin/reload" | "/metrics"
            | "/admin/usage" | "/admin/apikeys" | "/admin/cache" | "/admin/cache/flush",
        ) => (405, json_message("Method Not Allowed")),
        _ => (404, json_message("Not Found")),
    };
    let reason = crate::pipeline::response::reason(status);
    let content_type = if body.starts_with('{') {
        "application/json"
    } else if req.path == "/metrics" && status == 200 {
        "text/plain; version=0.0.4; charset=utf-8"
    } else {
        "text/plain"
    };
    let _ = write!(
        stream,
        "HTTP/1.1 {status} {reason}\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
}

/// The Prometheus text format: every worker's metrics merged (workers
/// publish once a second), worker facts and access log counters.
fn metrics_text(shared: &Shared) -> String {
    let workers: Vec<_> = shared
        .workers
        .iter()
        .enumerate()
        .map(|(i, w)| crate::observe::metrics::WorkerFacts {
            index: i,
            cpu: w.cpu,
            driver: w.driver.get().copied(),
        })
        .collect();
    let logs = shared.logs.facts();
    shared.metrics.with_registry(|r| r.render(&workers, &logs))
}

/// API keys and usage plans (see `limit::manage`): usage and the key list
/// for anyone who reaches the admin listener, key changes with the token.
fn keys_and_usage(shared: &Shared, token: Option<&str>, req: &Request) -> (u16, String) {
    use crate::limit::manage;
    let (_, deployed) = shared.current();
    let gw = &deployed.gateway;
    let limiter = &shared.limiter;
    match (req.method.as_str(), req.path.as_str()) {
        ("GET", "/admin/usage") => manage::usage(limiter, gw, &req.query),
        ("GET", _) => manage::list_keys(limiter, gw),
        ("POST", "/admin/apikeys") => match authorize(token, req.authorization.as_deref()) {
            Err(e) => e,
            Ok(()) => manage::add_key(limiter, gw, &req.body),
        },
        ("DELETE", "/admin/apikeys") => match authorize(token, req.authorization.as_deref()) {
            Err(e) => e,
            Ok(()) => match manage::query_param(&req.query, "key") {
                Some(k) => manage::disable_key(limiter, gw, &k),
                None => (400, json_message("`key` (a name or id) is required")),
            },
        },
        _ => (405, json_message("Method Not Allowed")),
    }
}

fn json_message(m: &str) -> String {
    serde_json::json!({ "message": m }).to_string()
}

/// Constant-time comparison of the presented bearer token.
fn authorize(token: Option<&str>, header: Option<&str>) -> Result<(), (u16, String)> {
    let Some(token) = token else {
        return Err((
            403,
            json_message("admin token not configured; mutating endpoints are disabled"),
        ));
    };
    let presented = header.and_then(|h| h.strip_prefix("Bearer ")).unwrap_or("");
    let equal = presented.len() == token.len()
        && presented
            .bytes()
            .zip(token.bytes())
            .fold(0u8, |acc, (a, b)| acc | (a ^ b))
            == 0;
    if equal {
        Ok(())
    } else {
        Err((401, json_message("Unauthorized")))
    }
}

fn reload(events: &Sender<Event>) -> (u16, String) {
    let (tx, rx) = mpsc::channel();
    if events.send(Event::AdminReload(tx)).is_err() {
        return (503, json_message("shutting down"));
    }
    match rx.recv_timeout(Duration::from_secs(60)) {
        Ok(Ok(id)) => (
            200,
            serde_json::json!({ "reloaded": true, "deployment": id }).to_string(),
        ),
        Ok(Err(errors)) => (
            400,
            serde_json::json!({ "reloaded": false, "errors": errors }).to_string(),
        ),
        Err(_) => (503, json_message("reload did not finish in time")),
    }
}

fn epoch_ms(t: std::time::SystemTime) -> u64 {
    t.duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

fn status_json(shared: &Shared) -> String {
    let (generation, d) = shared.current();
    let stages: Vec<_> = d.gateway.apis.iter().flat_map(stage_rows).collect();
    let workers: Vec<_> = shared
        .workers
        .iter()
        .enumerate()
        .map(|(i, w)| {
            serde_json::json!({
                "index": i,
                "cpu": w.cpu,
                "driver": w.driver.get().copied(),
                "generation": w.generation.load(std::sync::atomic::Ordering::Acquire),
            })
        })
        .collect();
    let rec = shared
        .last_reload
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .clone();
    let last = rec.result.as_ref().map(|r| match r {
        Ok(id) => serde_json::json!({ "ok": true, "deployment": id, "trigger": rec.trigger, "at_ms": rec.at.map(epoch_ms) }),
        Err(errors) => serde_json::json!({ "ok": false, "errors": errors, "trigger": rec.trigger, "at_ms": rec.at.map(epoch_ms) }),
    });
    serde_json::json!({
        "deployment": { "id": d.id, "origin": d.origin, "loaded_at_ms": epoch_ms(d.loaded_at), "generation": generation },
        "ready": shared.ready(),
        "stages": stages,
        "last_reload": last,
        "reloads": rec.reloads,
        "refused_reloads": rec.refusals,
        "workers": workers,
    })
    .to_string()
}

/// Per stage of `api`: the deployment it serves (name and id) and its canary.
fn stage_rows(api: &crate::config::Api) -> Vec<serde_json::Value> {
    api.stages
        .iter()
        .map(|s| {
            let dep = &api.deployments[s.deployment];
            let canary = s.canary.as_ref().map(|c| {
                let cd = &api.deployments[c.deployment];
                serde_json::json!({ "percent": c.percent, "deployment": cd.name, "deployment_id": cd.id })
            });
            serde_json::json!({
                "api": api.name,
                "stage": s.name,
                "deployment": dep.name,
                "deployment_id": dep.id,
                "canary": canary,
            })
        })
        .collect()
}
