//! JWKS for JWT authorizers: fetched (or read from a file) by the control
//! thread, never on a request's way, and published to the workers
//! lock-free.
//!
//! * [`JwksStore`] maps each key source (`jwks_uri` or `jwks_file`) to its
//!   current [`KeySet`] in a papaya map: a worker reads it under an epoch
//!   guard (no lock, no `Arc` clone); the control thread replaces a set by
//!   inserting a new one.
//! * A worker that meets an unknown `kid` answers 401 and marks the source
//!   [`wanted`](JwksStore::want); the control thread refetches a wanted
//!   source at most once per [`MIN_REFETCH`]. Sources are also refreshed
//!   every [`REFRESH`], and a source that failed is retried every
//!   [`RETRY`].
//! * Fetching: `http://` only (GET, `Connection: close`), the whole exchange
//!   bounded by [`FETCH_TIMEOUT`] (API Gateway's 1.5 s). A failed fetch
//!   keeps the previous set.
//!
//! Does not: verify tokens (see `jwt`).

use std::collections::HashMap;
use std::io::{Read as _, Write as _};
use std::net::{TcpStream, ToSocketAddrs};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use super::jwt::KeySet;
use crate::config::{AuthorizerKind, Gateway, JwksSource};

/// API Gateway's JWKS fetch timeout.
pub const FETCH_TIMEOUT: Duration = Duration::from_millis(1500);
/// Least time between two fetches of one source asked for by unknown `kid`s.
pub const MIN_REFETCH: Duration = Duration::from_secs(2);
/// Periodic refresh of every source.
pub const REFRESH: Duration = Duration::from_secs(3600);
/// Retry interval of a source whose last fetch failed.
pub const RETRY: Duration = Duration::from_secs(5);
/// Largest JWKS document read.
const MAX_DOCUMENT: usize = 1 << 20;

/// The key sets of every JWT authorizer, shared by the control thread and
/// the workers.
#[derive(Debug, Default)]
pub struct JwksStore {
    sets: papaya::HashMap<String, Arc<KeySet>>,
    /// Sources a worker asked to refetch (an unknown `kid`).
    wanted: papaya::HashSet<String>,
    /// The control thread's bookkeeping (only it locks this).
    sources: Mutex<HashMap<String, SourceState>>,
}

#[derive(Debug)]
struct SourceState {
    source: JwksSource,
    last_attempt: Instant,
    ok: bool,
    /// Fetches so far (for logs and tests).
    fetches: u64,
}

impl JwksStore {
    /// Call `f` with the key set of `source` (`None` while none is loaded).
    pub fn with<R>(&self, source: &str, f: impl FnOnce(Option<&KeySet>) -> R) -> R {
        let guard = self.sets.guard();
        f(self.sets.get(source, &guard).map(|a| &**a))
    }

    /// A worker met an unknown `kid`: ask the control thread to refetch.
    pub fn want(&self, source: &str) {
        let guard = self.wanted.guard();
        if !self.wanted.contains(source, &guard) {
            self.wanted.insert(source.to_owned(), &guard);
        }
    }

    /// Control thread: fetch the sources `gw` uses that are new, forget
    /// those it no longer uses.
    pub fn sync(&self, gw: &Gateway) {
        let mut used: Vec<JwksSource> = Vec::new();
        for a in gw.apis.iter().flat_map(|a| &a.authorizers) {
            if let AuthorizerKind::Jwt(j) = &a.kind
                && !j.jwks.key().is_empty()
                && !used.contains(&j.jwks)
            {
                used.push(j.jwks.clone());
            }
        }
        let mut sources = self.sources.lock().unwrap_or_else(|e| e.into_inner());
        sources.retain(|k, _| used.iter().any(|u| u.key() == k));
        {
            let guard = self.sets.guard();
            let stale: Vec<String> = self
                .sets
                .keys(&guard)
                .filter(|k| !used.iter().any(|u| u.key() == k.as_str()))
                .cloned()
                .collect();
            for k in stale {
                self.sets.remove(&k, &guard);
            }
        }
        for s in used {
            if !sources.contains_key(s.key()) {
                let mut st = SourceState {
                    source: s.clone(),
                    last_attempt: Instant::now(),
                    ok: false,
                    fetches: 0,
                };
                self.load(&mut st);
                sources.insert(s.key().to_owned(), st);
            }
        }
    }

    /// Control thread, every turn of its loop: refetch wanted sources
    /// (rate-bounded), retry failed ones, refresh old ones.
    pub fn service(&self) {
        let mut sources = self.sources.lock().unwrap_or_else(|e| e.into_inner());
        if sources.is_empty() {
            return;
        }
        let wanted: Vec<String> = {
            let guard = self.wanted.guard();
            self.wanted.iter(&guard).cloned().collect()
        };
        for st in sources.values_mut() {
            let key = st.source.key().to_owned();
            let since = st.last_attempt.elapsed();
            let asked = wanted.contains(&key);
            let due =
                (asked && since >= MIN_REFETCH) || (!st.ok && since >= RETRY) || since >= REFRESH;
            if due {
                if asked {
                    self.wanted.pin().remove(&key);
                }
                self.load(st);
            }
        }
    }

    /// How many fetches of `source` were made (0 when unknown).
    pub fn fetches(&self, source: &str) -> u64 {
        let sources = self.sources.lock().unwrap_or_else(|e| e.into_inner());
        sources.get(source).map_or(0, |s| s.fetches)
    }

    fn load(&self, st: &mut SourceState) {
        st.last_attempt = Instant::now();
        st.fetches += 1;
        let key = st.source.key().to_owned();
        let result = fetch(&st.source).and_then(|body| KeySet::parse(&body));
        match result {
            Ok(set) => {
                let n = set.len();
                self.sets.pin().insert(key.clone(), Arc::new(set));
                if !st.ok {
                    eprintln!("tollgate: jwks {key}: {n} keys loaded");
                }
                st.ok = true;
            }
            Err(e) => {
                eprintln!("tollgate: jwks {key}: {e} (keeping the previous keys, if any)");
                st.ok = false;
            }
        }
    }
}

/// The document of `source`: a file's bytes, or an `http://` or `https://`
/// GET's body.
pub fn fetch(source: &JwksSource) -> Result<Vec<u8>, String> {
    match source {
        JwksSource::File(path) => std::fs::read(path).map_err(|e| format!("cannot read: {e}")),
        JwksSource::Uri(uri, ca) => http_get(uri, ca.as_deref(), FETCH_TIMEOUT),
    }
}

/// The connection of a JWKS fetch: TCP, or TLS over it.
enum Conn {
    Plain(TcpStream),
    Tls(Box<rustls::StreamOwned<rustls::ClientConnection, TcpStream>>),
}

impl Conn {
    fn tcp(&self) -> &TcpStream {
        match self {
            Conn::Plain(s) => s,
            Conn::Tls(s) => &s.sock,
        }
    }
}

impl std::io::Read for Conn {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        match self {
            Conn::Plain(s) => s.read(buf),
            Conn::Tls(s) => s.read(buf),
        }
    }
}

impl std::io::Write for Conn {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        match self {
            Conn::Plain(s) => s.write(buf),
            Conn::Tls(s) => s.write(buf),
        }
    }
    fn flush(&mut self) -> std::io::Result<()> {
        match self {
            Conn::Plain(s) => s.flush(),
            Conn::Tls(s) => s.flush(),
        }
    }
}

/// A minimal blocking HTTP/1.1 GET over `http://` or `https://` (verified
/// against `ca_file`, PEM, when given, else the bundled web roots; TLS 1.2
/// or 1.3), bounded by `timeout` as a whole.
pub fn http_get(uri: &str, ca_file: Option<&str>, timeout: Duration) -> Result<Vec<u8>, String> {
    let deadline = Instant::now() + timeout;
    let scheme = |p: &str| {
        uri.get(..p.len())
            .is_some_and(|s| s.eq_ignore_ascii_case(p))
    };
    let (https, rest) = if scheme("https://") {
        (true, &uri[8..])
    } else if scheme("http://") {
        (false, &uri[7..])
    } else {
        return Err("only http:// and https:// URIs are fetched".into());
    };
    let cut = rest.find('/').unwrap_or(rest.len());
    let (authority, path) = rest.split_at(cut);
    let path = if path.is_empty() { "/" } else { path };
    let host = match authority.rsplit_once(':') {
        Some((h, p)) if !h.is_empty() && p.bytes().all(|b| b.is_ascii_digit()) => h,
        _ => authority,
    };
    let target = if host.len() < authority.len() {
        authority.to_owned()
    } else {
        format!("{authority}:{}", if https { 443 } else { 80 })
    };
    let addr = target
        .to_socket_addrs()
        .map_err(|e| format!("cannot resolve {authority}: {e}"))?
        .next()
        .ok_or_else(|| format!("{authority} resolves to no address"))?;
    let left = || deadline.saturating_duration_since(Instant::now());
    let tcp = TcpStream::connect_timeout(&addr, left().max(Duration::from_millis(1)))
        .map_err(|e| format!("connect {addr}: {e}"))?;
    let _ = tcp.set_nodelay(true);
    tcp.set_write_timeout(Some(left().max(Duration::from_millis(1))))
        .map_err(|e| e.to_string())?;
    tcp.set_read_timeout(Some(left().max(Duration::from_millis(1))))
        .map_err(|e| e.to_string())?;
    let mut s = if https {
        let tls = crate::config::UpstreamTls {
            ca_file: ca_file.map(str::to_owned),
            server_name: None,
            skip_verify: false,
        };
        let cfg = crate::tls::client::client_config(&tls, b"http/1.1")?;
        let name =
            rustls::pki_types::ServerName::try_from(host.trim_matches(['[', ']']).to_owned())
                .map_err(|e| format!("`{host}` is not a server name: {e}"))?;
        let conn = rustls::ClientConnection::new(cfg, name).map_err(|e| format!("tls: {e}"))?;
        Conn::Tls(Box::new(rustls::StreamOwned::new(conn, tcp)))
    } else {
        Conn::Plain(tcp)
    };
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: {authority}\r\nAccept: application/json\r\nConnection: close\r\nUser-Agent: tollgate\r\n\r\n"
    )
    .map_err(|e| format!("send: {e}"))?;
    let mut buf = Vec::new();
    let mut chunk = [0u8; 8192];
    loop {
        let l = left();
        if l.is_zero() {
            return Err(format!("timed out after {timeout:?}"));
        }
        s.tcp()
            .set_read_timeout(Some(l))
            .map_err(|e| e.to_string())?;
        match s.read(&mut chunk) {
            Ok(0) => break,
            Ok(n) => {
                buf.extend_from_slice(&chunk[..n]);
                if buf.len() > MAX_DOCUMENT {
                    return Err("the document is too large".into());
                }
                if let Some(body) = complete_body(&buf)? {
                    return Ok(body);
                }
            }
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) =>
            {
                return Err(format!("timed out after {timeout:?}"));
            }
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(format!("read: {e}")),
        }
    }
    match complete_body(&buf)? {
        Some(b) => Ok(b),
        None => {
            // Closed: a response without framing ends here.
            let (head_len, status, _) = head(&buf)?.ok_or("the response ended early")?;
            if status != 200 {
                return Err(format!("status {status}"));
            }
            Ok(buf[head_len..].to_vec())
        }
    }
}

enum Framing {
    Length(usize),
    Chunked,
    Close,
}

/// (head length, status, framing) once the head is complete.
fn head(buf: &[u8]) -> Result<Option<(usize, u16, Framing)>, String> {
    let mut headers = [httparse::EMPTY_HEADER; 64];
    let mut r = httparse::Response::new(&mut headers);
    match r.parse(buf) {
        Ok(httparse::Status::Complete(n)) => {
            let status = r.code.unwrap_or(0);
            let mut framing = Framing::Close;
            for h in r.headers.iter() {
                if h.name.eq_ignore_ascii_case("transfer-encoding")
                    && h.value.eq_ignore_ascii_case(b"chunked")
                {
                    framing = Framing::Chunked;
                } else if h.name.eq_ignore_ascii_case("content-length")
                    && !matches!(framing, Framing::Chunked)
                {
                    let n = std::str::from_utf8(h.value)
                        .ok()
                        .and_then(|v| v.trim().parse().ok())
                        .ok_or("bad Content-Length")?;
                    framing = Framing::Length(n);
                }
            }
            Ok(Some((n, status, framing)))
        }
        Ok(httparse::Status::Partial) => Ok(None),
        Err(e) => Err(format!("malformed response: {e}")),
    }
}

/// The body once `buf` holds the whole response (`None`: read on).
fn complete_body(buf: &[u8]) -> Result<Option<Vec<u8>>, String> {
    let Some((n, status, framing)) = head(buf)? else {
        return Ok(None);
    };
    let body = &buf[n..];
    let done = match framing {
        Framing::Length(len) if body.len() >= len => Some(body[..len].to_vec()),
        Framing::Length(_) | Framing::Close => None,
        Framing::Chunked => dechunk(body)?,
    };
    match done {
        Some(_) if status != 200 => Err(format!("status {status}")),
        other => Ok(other),
    }
}

/// A whole chunked body decoded, or `None` when more is needed.
fn dechunk(mut b: &[u8]) -> Result<Option<Vec<u8>>, String> {
    let mut out = Vec::new();
    loop {
        let Some(eol) = b.windows(2).position(|w| w == b"\r\n") else {
            return Ok(None);
        };
        let line = std::str::from_utf8(&b[..eol]).map_err(|_| "bad chunk size")?;
        let size = usize::from_str_radix(line.split(';').next().unwrap_or("").trim(), 16)
            .map_err(|_| "bad chunk size")?;
        let data = &b[eol + 2..];
        if size == 0 {
            return Ok(Some(out));
        }
        if data.len() < size + 2 {
            return Ok(None);
        }
        out.extend_from_slice(&data[..size]);
        b = &data[size + 2..];
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bodies() {
        let r = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n{}";
        assert_eq!(complete_body(r).unwrap(), Some(b"{}".to_vec()));
        let r = b"HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\n{}";
        assert_eq!(complete_body(r).unwrap(), None);
        let r =
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n1\r\n{\r\n1\r\n}\r\n0\r\n\r\n";
        assert_eq!(complete_body(r).unwrap(), Some(b"{}".to_vec()));
        let r = b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n";
        assert!(complete_body(r).is_err());
    }
}
