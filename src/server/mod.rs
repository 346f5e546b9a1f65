//! The process: listeners bound once per worker with SO_REUSEPORT, one
//! pinned worker thread per CPU running its own monoio runtime, and the
//! control thread (the caller of [`run`]) waiting for signals.
//!
//! Shutdown (SIGTERM / SIGINT): workers stop accepting, idle keep-alive
//! connections close, requests in flight finish (their responses say
//! `Connection: close`) until the drain timeout, then the process exits 0.

pub mod body;
pub mod bufpool;
pub mod conn;
pub mod core;
pub mod io;
pub mod notify;
mod worker;

use std::io::Write as _;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use socket2::{Domain, Protocol as SockProtocol, Socket, Type};

use crate::config::Gateway;

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
}

/// A started gateway: its bound addresses and its worker threads.
#[derive(Debug)]
pub struct Running {
    /// Bound address per configured listener, in order.
    pub addrs: Vec<SocketAddr>,
    drain_timeout: Duration,
    shutdown: Arc<AtomicBool>,
    handles: Vec<std::thread::JoinHandle<Result<(), String>>>,
}

/// Bind the listeners and start the workers; returns once every listener is
/// bound (workers accept as soon as their runtime is up).
pub fn start(gw: Gateway, opts: &Options) -> std::io::Result<Running> {
    let cpus = allowed_cpus();
    let workers = opts.workers.unwrap_or(cpus.len()).max(1);
    let gw = Arc::new(gw);

    // Bind every listener once per worker; port 0 is resolved by the first bind.
    let mut per_worker: Vec<Vec<std::net::TcpListener>> =
        (0..workers).map(|_| Vec::new()).collect();
    let mut addrs = Vec::new();
    for l in &gw.listeners {
        let first = bind_reuseport(l.address)?;
        let addr = first.local_addr()?;
        per_worker[0].push(first);
        for w in per_worker.iter_mut().skip(1) {
            w.push(bind_reuseport(addr)?);
        }
        addrs.push(addr);
    }

    let shutdown = Arc::new(AtomicBool::new(false));
    let mut handles = Vec::new();
    for (i, listeners) in per_worker.into_iter().enumerate() {
        let ctx = worker::WorkerCtx {
            index: i,
            cpu: cpus.get(i % cpus.len().max(1)).copied(),
            gw: gw.clone(),
            listeners,
            addrs: addrs.clone(),
            shutdown: shutdown.clone(),
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
        drain_timeout: gw.limits.drain_timeout,
        shutdown,
        handles,
    })
}

impl Running {
    /// Block until SIGTERM or SIGINT (or a worker dies).
    pub fn wait_for_signal(&self) -> std::io::Result<()> {
        let mut signals = signal_hook::iterator::Signals::new([
            signal_hook::consts::SIGTERM,
            signal_hook::consts::SIGINT,
        ])?;
        loop {
            if signals.pending().next().is_some() {
                eprintln!(
                    "tollgate: shutting down, draining for up to {:?}",
                    self.drain_timeout
                );
                return Ok(());
            }
            if self.handles.iter().any(|h| h.is_finished()) {
                eprintln!("tollgate: a worker stopped unexpectedly; shutting down");
                return Ok(());
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Drain and stop every worker; returns when all have exited.
    pub fn stop(self) -> std::io::Result<()> {
        self.shutdown.store(true, Ordering::Release);
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

/// Run the gateway until SIGTERM or SIGINT, then drain and return. Prints
/// `tollgate: listening NAME http://ADDR` per listener on stdout.
pub fn run(gw: Gateway, opts: &Options) -> std::io::Result<()> {
    let names: Vec<String> = gw.listeners.iter().map(|l| l.name.clone()).collect();
    let running = start(gw, opts)?;
    let mut out = std::io::stdout().lock();
    for (name, addr) in names.iter().zip(&running.addrs) {
        writeln!(out, "tollgate: listening {name} http://{addr}")?;
    }
    out.flush()?;
    drop(out);
    running.wait_for_signal()?;
    let r = running.stop();
    eprintln!("tollgate: stopped");
    r
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
