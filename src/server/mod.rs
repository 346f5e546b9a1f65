//! The process: listeners bound once per worker with SO_REUSEPORT, one
//! pinned worker thread per CPU running its own monoio runtime, and the
//! control thread (the caller of [`run`]) waiting for signals.
//!
//! Shutdown (SIGTERM / SIGINT): workers stop accepting, idle keep-alive
//! connections close, requests in flight finish (their responses say
//! `Connection: close`) until the drain timeout, then the process exits 0.
//!
//! Reload (SIGHUP, a change of the watched file, `POST /admin/reload`): the
//! control thread loads and validates the new configuration and publishes
//! it in [`Shared`]; each worker notices at its next housekeeping tick,
//! builds its derived state, and switches between requests (see `core`).

pub mod body;
pub mod bufpool;
pub mod conn;
pub mod control;
pub mod core;
pub mod h2;
pub mod h2_watch;
pub mod idle;
pub mod io;
pub mod notify;
pub mod redirect;
pub mod slab;
mod worker;

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use socket2::{Domain, Protocol as SockProtocol, Socket, Type};

use crate::config::Gateway;

pub use control::run;

/// Which I/O driver the workers use.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Driver {
    /// io_uring when the kernel allows it, else epoll.
    Auto,
    IoUring,
    Epoll,
}

#[derive(Clone, Debug)]
pub struct Options {
    /// Worker threads; default: the CPUs this process may run on.
    pub workers: Option<usize>,
    pub driver: Driver,
    /// Admin listener address (None: no admin listener).
    pub admin: Option<SocketAddr>,
    /// Bearer token for the admin API's mutating endpoints.
    pub admin_token: Option<String>,
    /// Reload when the configuration file changes.
    pub watch: bool,
}

/// A configuration as the control thread published it.
#[derive(Debug)]
pub struct Deployed {
    pub gateway: Gateway,
    /// Content id of its snapshot.
    pub id: String,
    /// Where it came from (file or snapshot), for logs and status.
    pub origin: String,
    pub loaded_at: std::time::SystemTime,
}

/// Per-worker facts the control thread reports.
#[derive(Debug, Default)]
pub struct WorkerInfo {
    pub cpu: Option<usize>,
    /// "io_uring" or "epoll", once the runtime is up.
    pub driver: std::sync::OnceLock<&'static str>,
    /// The generation this worker serves new requests on (0: not yet serving).
    pub generation: std::sync::atomic::AtomicU64,
}

/// State shared between the control thread and the workers. Workers read
/// `generation` once per housekeeping tick and take the lock only when it
/// changed, so the request path never touches it.
#[derive(Debug)]
pub struct Shared {
    current: std::sync::Mutex<Arc<Deployed>>,
    generation: std::sync::atomic::AtomicU64,
    shutdown: AtomicBool,
    pub workers: Vec<WorkerInfo>,
    pub last_reload: std::sync::Mutex<control::ReloadRecord>,
    /// Workers publish metric deltas here once a second; `/metrics` reads it.
    pub metrics: crate::observe::metrics::Hub,
    /// Access log destinations and their writer threads.
    pub logs: crate::observe::log_writer::Sinks,
    /// Throttles, API keys, usage plans and quotas: what outlives a reload.
    pub limiter: Arc<crate::limit::Limiter>,
    /// Response cache flushes for the workers, and their caches' numbers.
    pub cache: crate::cache::flush::Board,
    /// JWT authorizers' key sets: fetched by the control thread, read by
    /// the workers (see `auth::jwks`).
    pub jwks: Arc<crate::auth::jwks::JwksStore>,
}

impl Shared {
    fn new(
        first: Deployed,
        workers: Vec<WorkerInfo>,
        limiter: Arc<crate::limit::Limiter>,
    ) -> Shared {
        limiter.prepare(&first.gateway, 1);
        Shared {
            limiter,
            current: std::sync::Mutex::new(Arc::new(first)),
            generation: std::sync::atomic::AtomicU64::new(1),
            shutdown: AtomicBool::new(false),
            workers,
            last_reload: std::sync::Mutex::new(control::ReloadRecord::default()),
            metrics: crate::observe::metrics::Hub::default(),
            logs: crate::observe::log_writer::Sinks::default(),
            cache: crate::cache::flush::Board::default(),
            jwks: Arc::default(),
        }
    }

    /// The published generation number (cheap: one atomic load).
    pub fn generation(&self) -> u64 {
        self.generation.load(Ordering::Acquire)
    }

    /// The published configuration and its generation.
    pub fn current(&self) -> (u64, Arc<Deployed>) {
        let guard = self.current.lock().unwrap_or_else(|e| e.into_inner());
        (self.generation.load(Ordering::Acquire), guard.clone())
    }

    /// Publish a new configuration; workers switch to it within a tick.
    pub fn publish(&self, d: Deployed) -> u64 {
        let mut guard = self.current.lock().unwrap_or_else(|e| e.into_inner());
        // The limits' plan is ready before any worker sees the generation.
        let next = self.generation.load(Ordering::Acquire) + 1;
        self.limiter.prepare(&d.gateway, next);
        *guard = Arc::new(d);
        self.generation.fetch_add(1, Ordering::AcqRel) + 1
    }

    pub fn is_shutting_down(&self) -> bool {
        self.shutdown.load(Ordering::Acquire)
    }

    /// Every worker serves the published generation.
    pub fn ready(&self) -> bool {
        let g = self.generation();
        self.workers
            .iter()
            .all(|w| w.generation.load(Ordering::Acquire) >= g)
    }
}

/// A started gateway: its bound addresses and its worker threads.
#[derive(Debug)]
pub struct Running {
    /// Bound address per configured listener, in order.
    pub addrs: Vec<SocketAddr>,
    pub shared: Arc<Shared>,
    handles: Vec<std::thread::JoinHandle<Result<(), String>>>,
}

/// Bind the listeners and start the workers on `first`; returns once every
/// listener is bound (workers accept as soon as their runtime is up).
pub fn start(first: Deployed, opts: &Options) -> std::io::Result<Running> {
    let cpus = allowed_cpus();
    let workers = opts.workers.unwrap_or(cpus.len()).max(1);

    // Bind every listener once per worker; port 0 is resolved by the first bind.
    let mut per_worker: Vec<Vec<std::net::TcpListener>> =
        (0..workers).map(|_| Vec::new()).collect();
    let mut addrs = Vec::new();
    for l in &first.gateway.listeners {
        let sock = bind_reuseport(l.address)?;
        let addr = sock.local_addr()?;
        per_worker[0].push(sock);
        for w in per_worker.iter_mut().skip(1) {
            w.push(bind_reuseport(addr)?);
        }
        addrs.push(addr);
    }

    let infos = (0..workers)
        .map(|i| WorkerInfo {
            cpu: cpus.get(i % cpus.len().max(1)).copied(),
            ..WorkerInfo::default()
        })
        .collect();
    let limiter = Arc::new(crate::limit::Limiter::new(&first.gateway, workers)?);
    let shared = Arc::new(Shared::new(first, infos, limiter));
    // Log writers start here, on an unpinned thread, so they do not inherit
    // a worker's CPU.
    crate::observe::exchange::start_log_writers(&shared.current().1.gateway, &shared.logs);
    let mut handles = Vec::new();
    for (i, listeners) in per_worker.into_iter().enumerate() {
        let ctx = worker::WorkerCtx {
            index: i,
            listeners,
            addrs: addrs.clone(),
            shared: shared.clone(),
            driver: opts.driver,
        };
        handles.push(
            std::thread::Builder::new()
                .name(format!("tollgate-w{i}"))
                .spawn(move || worker::run(ctx))?,
        );
    }
    Ok(Running {
        addrs,
        shared,
        handles,
    })
}

impl Running {
    /// Whether a worker thread has ended (they only end on shutdown or failure).
    pub fn worker_ended(&self) -> bool {
        self.handles.iter().any(|h| h.is_finished())
    }

    /// Drain and stop every worker; returns when all have exited.
    pub fn stop(self) -> std::io::Result<()> {
        self.shared.shutdown.store(true, Ordering::Release);
        let mut failed = Vec::new();
        for h in self.handles {
            match h.join() {
                Ok(Ok(())) => {}
                Ok(Err(e)) => failed.push(e),
                Err(_) => failed.push("a worker panicked".to_string()),
            }
        }
        if failed.is_empty() {
            Ok(())
        } else {
            Err(std::io::Error::other(failed.join("; ")))
        }
    }
}

fn bind_reuseport(addr: SocketAddr) -> std::io::Result<std::net::TcpListener> {
    let s = Socket::new(
        Domain::for_address(addr),
        Type::STREAM,
        Some(SockProtocol::TCP),
    )?;
    s.set_reuse_address(true)?;
    s.set_reuse_port(true)?;
    s.set_nonblocking(true)?;
    s.bind(&addr.into())
        .map_err(|e| std::io::Error::new(e.kind(), format!("bind {addr}: {e}")))?;
    s.listen(4096)?;
    Ok(s.into())
}

/// The CPUs this process may run on (sched_getaffinity), in order.
pub fn allowed_cpus() -> Vec<usize> {
    // SAFETY: cpu_set_t is plain data; zeroed is a valid empty set, and the
    // kernel writes at most size_of::<cpu_set_t>() bytes into it.
    unsafe {
        let mut set: libc::cpu_set_t = std::mem::zeroed();
        if libc::sched_getaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &mut set) != 0 {
            return (0..std::thread::available_parallelism()
                .map(|n| n.get())
                .unwrap_or(1))
                .collect();
        }
        (0..libc::CPU_SETSIZE as usize)
            .filter(|&c| libc::CPU_ISSET(c, &set))
            .collect()
    }
}

/// Pin the calling thread to one CPU.
pub fn pin_to(cpu: usize) -> bool {
    // SAFETY: as in `allowed_cpus`; the set holds one valid CPU index.
    unsafe {
        let mut set: libc::cpu_set_t = std::mem::zeroed();
        libc::CPU_SET(cpu, &mut set);
        libc::sched_setaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &set) == 0
    }
}
