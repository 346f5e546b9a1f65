//! Black-box test support: start the built `tollgate` binary on a config
//! with free ports, a real HTTP backend on 127.0.0.1, and raw or curl
//! clients. Every process and thread started here is stopped by a guard's
//! `Drop`, also when the test fails.
#![allow(dead_code)]

pub mod tls;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

static COUNTER: AtomicUsize = AtomicUsize::new(0);

/// A path in the temp dir unique to this test process and call.
pub fn temp_path(ext: &str) -> PathBuf {
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    std::env::temp_dir().join(format!("tollgate-test-{}-{n}.{ext}", std::process::id()))
}

/// A running gateway; killed on drop.
pub struct Gateway {
    pub child: Option<Child>,
    /// Listener name → bound address, as the gateway printed them.
    pub listeners: Vec<(String, SocketAddr)>,
    pub config: PathBuf,
    pub stderr: Arc<Mutex<String>>,
    /// The admin listener's address (the harness asks for a free port).
    pub admin: Option<SocketAddr>,
}

impl Gateway {
    /// Start with `yaml` (listeners should use port 0) and 2 workers.
    pub fn start(yaml: &str) -> Gateway {
        Self::start_with(yaml, &["--workers", "2"])
    }

    pub fn start_with(yaml: &str, args: &[&str]) -> Gateway {
        let config = temp_path("yaml");
        std::fs::write(&config, yaml).unwrap();
        Self::start_path(config, yaml.matches("address:").count().max(1), args)
    }

    /// Start on an existing config file or snapshot directory that has
    /// `listeners` listeners. An admin listener on a free port is added
    /// unless `args` choose one.
    pub fn start_path(config: PathBuf, listeners_expected: usize, args: &[&str]) -> Gateway {
        let mut args: Vec<&str> = args.to_vec();
        if !args
            .iter()
            .any(|a| a.starts_with("--admin") || *a == "--no-admin")
        {
            args.extend(["--admin", "127.0.0.1:0"]);
        }
        let want_admin = !args.contains(&"--no-admin");
        let mut child = Command::new(env!("CARGO_BIN_EXE_tollgate"))
            .arg("run")
            .arg(&config)
            .args(&args)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start tollgate");
        let stderr = Arc::new(Mutex::new(String::new()));
        {
            let err = child.stderr.take().unwrap();
            let sink = stderr.clone();
            std::thread::spawn(move || {
                for line in BufReader::new(err).lines().map_while(Result::ok) {
                    let mut s = sink.lock().unwrap();
                    s.push_str(&line);
                    s.push('\n');
                }
            });
        }
        let out = child.stdout.take().unwrap();
        let expected = listeners_expected;
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(out).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        let mut listeners = Vec::new();
        let deadline = Instant::now() + Duration::from_secs(20);
        let mut gw = Gateway {
            child: Some(child),
            listeners: Vec::new(),
            config,
            stderr,
            admin: None,
        };
        while listeners.len() < expected || (want_admin && gw.admin.is_none()) {
            let left = deadline.saturating_duration_since(Instant::now());
            match rx.recv_timeout(left) {
                Ok(line) => {
                    // "tollgate: listening NAME http://ADDR" (https:// on TLS listeners)
                    let mut parts = line.split_whitespace();
                    if parts.next() == Some("tollgate:") && parts.next() == Some("listening") {
                        let name = parts.next().unwrap().to_string();
                        let addr = parts
                            .next()
                            .unwrap()
                            .trim_start_matches("http://")
                            .trim_start_matches("https://")
                            .parse()
                            .unwrap();
                        listeners.push((name, addr));
                    }
                    if let Some(a) = line.strip_prefix("tollgate: admin http://") {
                        gw.admin = Some(a.trim().parse().unwrap());
                    }
                }
                Err(_) => panic!(
                    "gateway did not report its listeners; stderr:\n{}",
                    gw.stderr.lock().unwrap()
                ),
            }
        }
        gw.listeners = listeners;
        // Workers bind before the line is printed; give them a moment to run.
        std::thread::sleep(Duration::from_millis(100));
        gw
    }

    pub fn addr(&self) -> SocketAddr {
        self.listeners[0].1
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{}", self.addr(), path)
    }

    pub fn pid(&self) -> i32 {
        self.child.as_ref().unwrap().id() as i32
    }

    /// Send a signal (e.g. libc::SIGTERM).
    pub fn signal(&self, sig: i32) {
        // SAFETY: kill(2) on the pid of a child this guard owns.
        unsafe {
            libc::kill(self.pid(), sig);
        }
    }

    /// Wait for the process to exit; its status code.
    pub fn wait_exit(&mut self, timeout: Duration) -> Option<i32> {
        let deadline = Instant::now() + timeout;
        let child = self.child.as_mut()?;
        loop {
            if let Ok(Some(st)) = child.try_wait() {
                self.child = None;
                return st.code();
            }
            if Instant::now() > deadline {
                return None;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// GET on the admin listener.
    pub fn admin_get(&self, path: &str) -> Response {
        send_raw(
            self.admin.expect("admin listener"),
            format!("GET {path} HTTP/1.1\r\nHost: admin\r\n\r\n").as_bytes(),
        )
    }

    /// POST on the admin listener, with a bearer token when given.
    pub fn admin_post(&self, path: &str, token: Option<&str>) -> Response {
        let auth = token
            .map(|t| format!("Authorization: Bearer {t}\r\n"))
            .unwrap_or_default();
        send_raw(
            self.admin.expect("admin listener"),
            format!("POST {path} HTTP/1.1\r\nHost: admin\r\n{auth}Content-Length: 0\r\n\r\n")
                .as_bytes(),
        )
    }

    pub fn stderr(&self) -> String {
        self.stderr.lock().unwrap().clone()
    }
}

impl Drop for Gateway {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
        let _ = std::fs::remove_file(&self.config);
    }
}

/// What the backend received.
#[derive(Clone, Debug, Default)]
pub struct Received {
    pub method: String,
    pub target: String,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Received {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
    pub fn header_count(&self, name: &str) -> usize {
        self.headers
            .iter()
            .filter(|(n, _)| n.eq_ignore_ascii_case(name))
            .count()
    }
}

/// How the backend answers.
#[derive(Clone, Debug)]
pub enum Reply {
    /// A response with Content-Length.
    Full {
        status: u16,
        headers: Vec<(String, String)>,
        body: Vec<u8>,
    },
    /// A chunked response in these pieces.
    Chunked { status: u16, pieces: Vec<Vec<u8>> },
    /// No framing: the body ends when the backend closes.
    CloseDelimited { body: Vec<u8> },
    /// Read the request, then say nothing for this long, then close.
    Stall(Duration),
    /// Close the connection right after reading the request.
    Hangup,
    /// Wait, then answer 200 with this body.
    Slow { delay: Duration, body: Vec<u8> },
}

impl Reply {
    pub fn ok(body: &str) -> Reply {
        Reply::Full {
            status: 200,
            headers: vec![("Content-Type".into(), "text/plain".into())],
            body: body.as_bytes().to_vec(),
        }
    }
}

type Handler = dyn Fn(&Received) -> Reply + Send + Sync;

/// A small threaded HTTP/1.1 server with keep-alive, written independently
/// of the gateway's codec. Stops on drop.
pub struct Backend {
    pub addr: SocketAddr,
    pub accepts: Arc<AtomicUsize>,
    pub requests: Arc<AtomicUsize>,
    pub last: Arc<Mutex<Option<Received>>>,
    stop: Arc<AtomicBool>,
}

impl Backend {
    pub fn start(handler: impl Fn(&Received) -> Reply + Send + Sync + 'static) -> Backend {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let accepts = Arc::new(AtomicUsize::new(0));
        let requests = Arc::new(AtomicUsize::new(0));
        let last = Arc::new(Mutex::new(None));
        let stop = Arc::new(AtomicBool::new(false));
        let handler: Arc<Handler> = Arc::new(handler);
        {
            let (accepts, requests, last, stop) = (
                accepts.clone(),
                requests.clone(),
                last.clone(),
                stop.clone(),
            );
            std::thread::spawn(move || {
                for s in listener.incoming() {
                    if stop.load(Ordering::Acquire) {
                        break;
                    }
                    let Ok(s) = s else { continue };
                    accepts.fetch_add(1, Ordering::Relaxed);
                    let (handler, requests, last, stop) = (
                        handler.clone(),
                        requests.clone(),
                        last.clone(),
                        stop.clone(),
                    );
                    std::thread::spawn(move || {
                        serve_backend(s, &*handler, &requests, &last, &stop)
                    });
                }
            });
        }
        Backend {
            addr,
            accepts,
            requests,
            last,
            stop,
        }
    }

    /// Echo: 200 with a body describing what arrived.
    pub fn echo() -> Backend {
        Backend::start(|r| {
            let mut body = format!("{} {}\n", r.method, r.target);
            for (n, v) in &r.headers {
                body.push_str(&format!("{n}: {v}\n"));
            }
            body.push_str(&format!("body-len: {}\n", r.body.len()));
            Reply::Full {
                status: 200,
                headers: vec![("Content-Type".into(), "text/plain".into())],
                body: body.into_bytes(),
            }
        })
    }

    pub fn last(&self) -> Received {
        self.last
            .lock()
            .unwrap()
            .clone()
            .expect("backend received a request")
    }
}

impl Drop for Backend {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Release);
        let _ = TcpStream::connect(self.addr);
    }
}

fn serve_backend(
    mut s: TcpStream,
    handler: &Handler,
    requests: &AtomicUsize,
    last: &Mutex<Option<Received>>,
    stop: &AtomicBool,
) {
    let _ = s.set_read_timeout(Some(Duration::from_secs(30)));
    let mut buf = Vec::new();
    loop {
        if stop.load(Ordering::Acquire) {
            return;
        }
        let Some(req) = read_request(&mut s, &mut buf) else {
            return;
        };
        requests.fetch_add(1, Ordering::Relaxed);
        *last.lock().unwrap() = Some(req.clone());
        let head_only = req.method == "HEAD";
        let out = match handler(&req) {
            Reply::Full {
                status,
                headers,
                body,
            } => {
                let mut o = format!("HTTP/1.1 {status} X\r\n");
                for (n, v) in headers {
                    o.push_str(&format!("{n}: {v}\r\n"));
                }
                o.push_str(&format!("Content-Length: {}\r\n\r\n", body.len()));
                let mut o = o.into_bytes();
                if !head_only {
                    o.extend_from_slice(&body);
                }
                o
            }
            Reply::Chunked { status, pieces } => {
                let mut o = format!("HTTP/1.1 {status} X\r\nTransfer-Encoding: chunked\r\n\r\n")
                    .into_bytes();
                for p in pieces {
                    o.extend_from_slice(format!("{:x}\r\n", p.len()).as_bytes());
                    o.extend_from_slice(&p);
                    o.extend_from_slice(b"\r\n");
                }
                o.extend_from_slice(b"0\r\n\r\n");
                o
            }
            Reply::CloseDelimited { body } => {
                let mut o = b"HTTP/1.1 200 OK\r\nConnection: close\r\n\r\n".to_vec();
                o.extend_from_slice(&body);
                let _ = s.write_all(&o);
                return;
            }
            Reply::Stall(d) => {
                std::thread::sleep(d);
                return;
            }
            Reply::Hangup => return,
            Reply::Slow { delay, body } => {
                std::thread::sleep(delay);
                let mut o = format!("HTTP/1.1 200 OK\r\nContent-Length: {}\r\n\r\n", body.len())
                    .into_bytes();
                o.extend_from_slice(&body);
                o
            }
        };
        if s.write_all(&out).is_err() {
            return;
        }
    }
}

/// Read one request (Content-Length or chunked body) from `s`.
fn read_request(s: &mut TcpStream, buf: &mut Vec<u8>) -> Option<Received> {
    let head_end = loop {
        if let Some(i) = find(buf, b"\r\n\r\n") {
            break i + 4;
        }
        let mut tmp = [0u8; 65536];
        let n = s.read(&mut tmp).ok()?;
        if n == 0 {
            return None;
        }
        buf.extend_from_slice(&tmp[..n]);
    };
    let head = String::from_utf8_lossy(&buf[..head_end]).to_string();
    let mut lines = head.split("\r\n");
    let mut rl = lines.next()?.split(' ');
    let method = rl.next()?.to_string();
    let target = rl.next()?.to_string();
    let headers: Vec<(String, String)> = lines
        .filter(|l| !l.is_empty())
        .filter_map(|l| l.split_once(':'))
        .map(|(n, v)| (n.to_string(), v.trim().to_string()))
        .collect();
    buf.drain(..head_end);
    let get = |name: &str| {
        headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.clone())
    };
    let mut body = Vec::new();
    if let Some(cl) = get("content-length") {
        let n: usize = cl.parse().ok()?;
        while buf.len() < n {
            let mut tmp = [0u8; 65536];
            let k = s.read(&mut tmp).ok()?;
            if k == 0 {
                return None;
            }
            buf.extend_from_slice(&tmp[..k]);
        }
        body = buf.drain(..n).collect();
    } else if get("transfer-encoding").is_some() {
        loop {
            let line_end = loop {
                if let Some(i) = find(buf, b"\r\n") {
                    break i;
                }
                let mut tmp = [0u8; 65536];
                let k = s.read(&mut tmp).ok()?;
                if k == 0 {
                    return None;
                }
                buf.extend_from_slice(&tmp[..k]);
            };
            let size = usize::from_str_radix(
                std::str::from_utf8(&buf[..line_end])
                    .ok()?
                    .split(';')
                    .next()?
                    .trim(),
                16,
            )
            .ok()?;
            buf.drain(..line_end + 2);
            while buf.len() < size + 2 {
                let mut tmp = [0u8; 65536];
                let k = s.read(&mut tmp).ok()?;
                if k == 0 {
                    return None;
                }
                buf.extend_from_slice(&tmp[..k]);
            }
            if size == 0 {
                buf.drain(..2);
                break;
            }
            body.extend(buf.drain(..size));
            buf.drain(..2);
        }
    }
    Some(Received {
        method,
        target,
        headers,
        body,
    })
}

pub fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

/// A parsed response read by [`send_raw`] / [`read_response`].
#[derive(Debug, Default)]
pub struct Response {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Response {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).to_string()
    }
}

/// Connect a raw client with a read timeout.
pub fn connect(addr: SocketAddr) -> TcpStream {
    let s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(40))).unwrap();
    s
}

/// Read one response from a raw client connection, carrying leftover bytes
/// in `buf`. `head_request`: the request was HEAD (no body follows).
pub fn read_response(s: &mut TcpStream, buf: &mut Vec<u8>, head_request: bool) -> Option<Response> {
    let head_end = loop {
        if let Some(i) = find(buf, b"\r\n\r\n") {
            break i + 4;
        }
        let mut tmp = [0u8; 65536];
        let n = s.read(&mut tmp).ok()?;
        if n == 0 {
            return None;
        }
        buf.extend_from_slice(&tmp[..n]);
    };
    let head = String::from_utf8_lossy(&buf[..head_end]).to_string();
    buf.drain(..head_end);
    let mut lines = head.split("\r\n");
    let status: u16 = lines.next()?.split(' ').nth(1)?.parse().ok()?;
    let headers: Vec<(String, String)> = lines
        .filter(|l| !l.is_empty())
        .filter_map(|l| l.split_once(':'))
        .map(|(n, v)| (n.to_string(), v.trim().to_string()))
        .collect();
    let mut resp = Response {
        status,
        headers,
        body: Vec::new(),
    };
    if head_request || status == 204 || status == 304 || (100..200).contains(&status) {
        return Some(resp);
    }
    let fill = |s: &mut TcpStream, buf: &mut Vec<u8>| -> Option<usize> {
        let mut tmp = [0u8; 65536];
        let n = s.read(&mut tmp).ok()?;
        buf.extend_from_slice(&tmp[..n]);
        Some(n)
    };
    if let Some(cl) = resp.header("content-length") {
        let n: usize = cl.parse().ok()?;
        while buf.len() < n {
            if fill(s, buf)? == 0 {
                return None;
            }
        }
        resp.body = buf.drain(..n).collect();
    } else if resp.header("transfer-encoding").is_some() {
        loop {
            let line_end = loop {
                if let Some(i) = find(buf, b"\r\n") {
                    break i;
                }
                if fill(s, buf)? == 0 {
                    return None;
                }
            };
            let size =
                usize::from_str_radix(std::str::from_utf8(&buf[..line_end]).ok()?.trim(), 16)
                    .ok()?;
            buf.drain(..line_end + 2);
            while buf.len() < size + 2 {
                if fill(s, buf)? == 0 {
                    return None;
                }
            }
            if size == 0 {
                buf.drain(..2);
                break;
            }
            resp.body.extend(buf.drain(..size));
            buf.drain(..2);
        }
    } else {
        // Close-delimited.
        while fill(s, buf)? > 0 {}
        resp.body = std::mem::take(buf);
    }
    Some(resp)
}

/// Send raw bytes on a new connection and read one response.
pub fn send_raw(addr: SocketAddr, bytes: &[u8]) -> Response {
    let mut s = connect(addr);
    s.write_all(bytes).unwrap();
    let mut buf = Vec::new();
    read_response(&mut s, &mut buf, bytes.starts_with(b"HEAD ")).expect("a response")
}

/// A simple GET on a new connection.
pub fn get(addr: SocketAddr, path: &str) -> Response {
    send_raw(
        addr,
        format!("GET {path} HTTP/1.1\r\nHost: test\r\nConnection: close\r\n\r\n").as_bytes(),
    )
}

/// Whether the server closed the connection (reads EOF or reset within the timeout).
pub fn is_closed(s: &mut TcpStream) -> bool {
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let mut tmp = [0u8; 1024];
    loop {
        match s.read(&mut tmp) {
            Ok(0) => return true,
            Ok(_) => continue,
            Err(e)
                if e.kind() == std::io::ErrorKind::WouldBlock
                    || e.kind() == std::io::ErrorKind::TimedOut =>
            {
                return false;
            }
            Err(_) => return true,
        }
    }
}
