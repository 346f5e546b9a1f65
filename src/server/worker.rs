//! One worker thread: pinned to its CPU, its own monoio runtime (io_uring
//! with cooperative task running, or epoll), its own listeners, its own
//! [`Core`]. A housekeeping task refreshes the coarse clock and the Date
//! text, evicts idle upstream connections, switches to a newly published
//! configuration, and watches for shutdown.

use std::net::SocketAddr;
use std::rc::Rc;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use crate::server::conn;
use crate::server::core::{Active, Core};
use crate::server::{Driver, Shared};

pub struct WorkerCtx {
    pub index: usize,
    pub listeners: Vec<std::net::TcpListener>,
    pub addrs: Vec<SocketAddr>,
    pub shared: Arc<Shared>,
    pub driver: Driver,
}

impl WorkerCtx {
    fn cpu(&self) -> Option<usize> {
        self.shared.workers[self.index].cpu
    }
}

const TICK: Duration = Duration::from_millis(100);
/// How often metric deltas go to the control side.
const PUBLISH: Duration = Duration::from_secs(1);
const RING_ENTRIES: u32 = 4096;

pub fn run(ctx: WorkerCtx) -> Result<(), String> {
    if let Some(cpu) = ctx.cpu()
        && !crate::server::pin_to(cpu)
    {
        eprintln!(
            "tollgate: worker {} could not be pinned to cpu {cpu}",
            ctx.index
        );
    }
    if ctx.driver != Driver::Epoll {
        let mut urb = io_uring::IoUring::builder();
        // Ring setup flags; TOLLGATE_URING_SETUP=plain|coop|defer for experiments
        // (perf/README.md records what each measured).
        match std::env::var("TOLLGATE_URING_SETUP").as_deref() {
            Ok("plain") => {}
            Ok("defer") => {
                urb.setup_single_issuer().setup_defer_taskrun();
            }
            _ => {
                urb.setup_coop_taskrun().setup_taskrun_flag();
            }
        }
        match monoio::RuntimeBuilder::<monoio::IoUringDriver>::new()
            .with_entries(RING_ENTRIES)
            .uring_builder(urb)
            .enable_timer()
            .build()
        {
            Ok(mut rt) => {
                log_driver(&ctx, "io_uring");
                return rt.block_on(serve(ctx));
            }
            Err(e) if ctx.driver == Driver::IoUring => {
                return Err(format!("worker {}: io_uring refused: {e}", ctx.index));
            }
            Err(e) => eprintln!(
                "tollgate: worker {}: io_uring refused ({e}); using epoll",
                ctx.index
            ),
        }
    }
    let mut rt = monoio::RuntimeBuilder::<monoio::LegacyDriver>::new()
        .enable_timer()
        .build()
        .map_err(|e| format!("worker {}: runtime: {e}", ctx.index))?;
    log_driver(&ctx, "epoll");
    rt.block_on(serve(ctx))
}

fn log_driver(ctx: &WorkerCtx, driver: &'static str) {
    let _ = ctx.shared.workers[ctx.index].driver.set(driver);
    match ctx.cpu() {
        Some(cpu) => eprintln!(
            "tollgate: worker {} on cpu {cpu} driver {driver}",
            ctx.index
        ),
        None => eprintln!("tollgate: worker {} driver {driver}", ctx.index),
    }
}

async fn serve(ctx: WorkerCtx) -> Result<(), String> {
    let shared = ctx.shared.clone();
    let (generation, deployed) = shared.current();
    let mut active = Active::build(generation, deployed, &ctx.addrs, None, &shared.logs);
    active.limiting = shared.limiter.core_limits(generation, ctx.index, None);
    active.auth.jwks = shared.jwks.clone();
    // Each worker's caches hold their share; reloads carry the count over.
    active.caches.set_workers(shared.workers.len());
    let core = Rc::new(Core::new(ctx.index, active, ctx.addrs.clone()));
    let info = &shared.workers[ctx.index];
    info.generation.store(generation, Ordering::Release);
    let mut accepts = Vec::new();
    for (i, l) in ctx.listeners.into_iter().enumerate() {
        let l = monoio::net::TcpListener::from_std(l).map_err(|e| format!("listener: {e}"))?;
        accepts.push(monoio::spawn(accept_loop(core.clone(), i, l)));
    }
    let mut last_evict = Instant::now();
    let metrics = shared.metrics.sender();
    let mut last_publish = Instant::now();
    // The last cache flush (admin) this worker applied.
    let mut cache_flushed = 0;
    while !shared.is_shutting_down() {
        monoio::time::sleep(TICK).await;
        let now = Instant::now();
        core.now.set(now);
        core.date.refresh();
        core.wall.refresh();
        core.active().observer.flush_logs();
        if now.duration_since(last_publish) >= PUBLISH {
            publish(&core, &metrics);
            last_publish = now;
        }
        core.idle.expire(now);
        // Hand back lease credit the limits' reconciler recalled.
        core.active().limiting.service();
        cache_flushed = crate::pipeline::cache::housekeeping(&core, &shared.cache, cache_flushed);
        if shared.generation() != core.active().generation {
            // Build the new derived state, then switch between requests.
            let (generation, deployed) = shared.current();
            let mut next = Active::build(
                generation,
                deployed,
                &core.addrs,
                Some(&core.active()),
                &shared.logs,
            );
            next.limiting =
                shared
                    .limiter
                    .core_limits(generation, core.worker, Some(&core.active().limiting));
            core.switch(next);
            info.generation.store(generation, Ordering::Release);
        }
        if now.duration_since(last_evict) >= Duration::from_secs(1) {
            core.active().pools.evict_idle(now);
            last_evict = now;
        }
    }
    core.draining.fire();
    for a in accepts {
        a.await;
    }
    let deadline = Instant::now() + core.active().limits.drain_timeout;
    while core.connections.get() > 0 && Instant::now() < deadline {
        monoio::time::sleep(Duration::from_millis(10)).await;
        core.date.refresh();
    }
    if core.connections.get() > 0 {
        eprintln!(
            "tollgate: worker {}: drain timeout, closing {} connections",
            core.worker,
            core.connections.get()
        );
    }
    core.active().pools.clear();
    core.active().observer.flush_logs();
    // Unspent leases go back before the reconciler's last round counts quotas.
    core.active().limiting.release();
    for a in core.retired.borrow().iter() {
        a.limiting.release();
    }
    publish(&core, &metrics);
    Ok(())
}

/// Hand this worker's metric deltas to the control side and buffered log
/// lines to their writers, for the current configuration and the retired
/// ones; a retired one no request holds any more is then dropped.
fn publish(core: &Core, metrics: &std::sync::mpsc::Sender<crate::observe::metrics::Delta>) {
    let send = |a: &Active| {
        if let Some(d) = a.observer.metrics.take_delta(core.worker) {
            let _ = metrics.send(d);
        }
    };
    send(&core.active());
    let mut retired = core.retired.borrow_mut();
    for a in retired.iter() {
        a.observer.flush_logs();
        send(a);
    }
    retired.retain(|a| Rc::strong_count(a) > 1);
}

async fn accept_loop(core: Rc<Core>, listener: usize, l: monoio::net::TcpListener) {
    loop {
        let accepted = monoio::select! {
            biased;
            _ = core.draining.wait() => None,
            r = l.accept() => Some(r),
        };
        match accepted {
            None => return,
            Some(Ok((stream, peer))) => {
                monoio::spawn(conn::accept(core.clone(), listener, stream, peer));
            }
            Some(Err(e)) => {
                // EMFILE and friends: back off instead of spinning.
                eprintln!("tollgate: accept: {e}");
                monoio::time::sleep(Duration::from_millis(20)).await;
            }
        }
    }
}
