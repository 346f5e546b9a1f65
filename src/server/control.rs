//! The control thread: after starting the workers it waits for events —
//! signals, a change of the watched file, admin requests — and turns them
//! into reloads or a shutdown. Loading and validating happen here, off the
//! workers; a configuration that fails is refused with its reasons and the
//! running one keeps serving.

use std::io::Write as _;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, Sender};
use std::time::{Duration, Instant, SystemTime};

use crate::server::{Deployed, Options, Running, Shared, start};
use crate::snapshot::{Loaded, Source};

/// What the control thread reacts to.
#[derive(Debug)]
pub enum Event {
    /// SIGTERM or SIGINT.
    Stop,
    /// SIGHUP.
    Hangup,
    /// SIGUSR1: reopen access log files (after logrotate renamed them).
    ReopenLogs,
    /// The watched file (or its directory entry) changed.
    FileChanged,
    /// `POST /admin/reload`; the outcome goes back on the sender.
    AdminReload(Sender<Result<String, Vec<String>>>),
}

/// The outcome of the last reload attempt, for `/admin/status`.
#[derive(Clone, Debug, Default)]
pub struct ReloadRecord {
    pub at: Option<SystemTime>,
    pub trigger: String,
    /// The id now serving, or the reasons it was refused.
    pub result: Option<Result<String, Vec<String>>>,
    pub reloads: u64,
    pub refusals: u64,
}

/// How long the file must be quiet before a change reloads (editors write
/// in several steps).
const DEBOUNCE: Duration = Duration::from_millis(150);

/// Run the gateway on `loaded` (the first load of `source`) until SIGTERM or
/// SIGINT, reloading from `source` on request, then drain and return. Prints `tollgate: listening NAME http://ADDR` per listener and
/// `tollgate: admin http://ADDR` on stdout.
pub fn run(source: Source, loaded: Loaded, opts: &Options) -> std::io::Result<()> {
    let listeners = loaded.gateway.listeners.clone();
    eprintln!("tollgate: serving {} from {}", loaded.id, loaded.origin);
    let running = start(deployed(loaded), opts)?;
    // JWKS before the listeners are announced: tokens verify from the first request.
    running
        .shared
        .jwks
        .sync(&running.shared.current().1.gateway);
    let (tx, rx) = mpsc::channel();
    let admin = match opts.admin {
        Some(addr) => Some(crate::admin::start(
            addr,
            opts.admin_token.clone(),
            running.shared.clone(),
            tx.clone(),
        )?),
        None => None,
    };
    let mut out = std::io::stdout().lock();
    for (l, addr) in listeners.iter().zip(&running.addrs) {
        let scheme = if l.tls.is_some() { "https" } else { "http" };
        writeln!(out, "tollgate: listening {} {scheme}://{addr}", l.name)?;
    }
    if let Some(a) = admin {
        writeln!(out, "tollgate: admin http://{a}")?;
    }
    out.flush()?;
    drop(out);

    forward_signals(tx.clone())?;
    let _watcher = if opts.watch {
        watch(&source.watched_file(), tx.clone())
    } else {
        None
    };
    let reconciler = crate::limit::reconciler::spawn(running.shared.limiter.clone())?;
    control_loop(&source, &running, &listeners, rx);
    let shared = running.shared.clone();
    let r = running.stop();
    // After the workers handed back their leases: the last quota counts.
    reconciler.stop();
    // Workers handed their last lines on when they stopped; let the writers finish.
    shared.logs.shutdown(Duration::from_secs(2));
    eprintln!("tollgate: stopped");
    r
}

fn deployed(l: Loaded) -> Deployed {
    Deployed {
        gateway: l.gateway,
        id: l.id,
        origin: l.origin,
        loaded_at: SystemTime::now(),
    }
}

fn control_loop(
    source: &Source,
    running: &Running,
    listeners: &[crate::config::Listener],
    rx: Receiver<Event>,
) {
    let mut file_changed_at: Option<Instant> = None;
    let mut collected = Instant::now();
    loop {
        // JWKS refetches workers asked for (unknown `kid`), retries, refreshes.
        running.shared.jwks.service();
        if collected.elapsed() >= Duration::from_secs(1) {
            // Keep the metric deltas' channel short when nobody scrapes.
            running.shared.metrics.collect();
            collected = Instant::now();
        }
        let wait = match file_changed_at {
            Some(t) => DEBOUNCE.saturating_sub(t.elapsed()),
            None => Duration::from_millis(100),
        };
        match rx.recv_timeout(wait) {
            Ok(Event::Stop) => {
                let (_, d) = running.shared.current();
                eprintln!(
                    "tollgate: shutting down, draining for up to {:?}",
                    d.gateway.limits.drain_timeout
                );
                return;
            }
            Ok(Event::Hangup) => {
                let _ = reload(source, &running.shared, listeners, "SIGHUP");
            }
            Ok(Event::ReopenLogs) => {
                running.shared.logs.reopen_all();
                eprintln!("tollgate: SIGUSR1: reopening access log files");
            }
            Ok(Event::FileChanged) => file_changed_at = Some(Instant::now()),
            Ok(Event::AdminReload(reply)) => {
                let _ = reply.send(reload(source, &running.shared, listeners, "admin"));
            }
            Err(RecvTimeoutError::Timeout) => {
                if file_changed_at.is_some_and(|t| t.elapsed() >= DEBOUNCE) {
                    file_changed_at = None;
                    let _ = reload(source, &running.shared, listeners, "file change");
                }
                if running.worker_ended() {
                    eprintln!("tollgate: a worker stopped unexpectedly; shutting down");
                    return;
                }
            }
            Err(RecvTimeoutError::Disconnected) => return,
        }
    }
}

/// Load, validate and publish. The listeners are bound once per process:
/// a configuration that changes them is refused (restart to change them).
pub fn reload(
    source: &Source,
    shared: &Arc<Shared>,
    listeners: &[crate::config::Listener],
    trigger: &str,
) -> Result<String, Vec<String>> {
    let t = Instant::now();
    let result = source.load().and_then(|loaded| {
        let same = loaded.gateway.listeners.len() == listeners.len()
            && loaded
                .gateway
                .listeners
                .iter()
                .zip(listeners)
                .all(|(a, b)| a.name == b.name && a.address == b.address);
        if !same {
            return Err(vec![format!(
                "{}: listeners differ from the running ones; they are bound once per process, restart to change them",
                loaded.origin
            )]);
        }
        if loaded.gateway.quota_state != shared.limiter.state {
            return Err(vec![format!(
                "{}: state_dir, quota_store or reconcile_ms differ from the running ones; restart to change them",
                loaded.origin
            )]);
        }
        Ok(loaded)
    });
    let outcome = match result {
        Ok(loaded) => {
            let (_, current) = shared.current();
            let id = loaded.id.clone();
            if current.id == id {
                eprintln!("tollgate: reload ({trigger}): {id} unchanged");
            } else {
                let origin = loaded.origin.clone();
                crate::observe::exchange::start_log_writers(&loaded.gateway, &shared.logs);
                let generation = shared.publish(deployed(loaded));
                shared.jwks.sync(&shared.current().1.gateway);
                eprintln!(
                    "tollgate: reload ({trigger}): serving {id} from {origin} (generation {generation}, loaded in {} ms)",
                    t.elapsed().as_millis()
                );
            }
            Ok(id)
        }
        Err(errors) => {
            eprintln!(
                "tollgate: reload ({trigger}) refused; still serving the running configuration:"
            );
            for e in &errors {
                eprintln!("  {e}");
            }
            Err(errors)
        }
    };
    let mut rec = shared.last_reload.lock().unwrap_or_else(|e| e.into_inner());
    rec.at = Some(SystemTime::now());
    rec.trigger = trigger.to_string();
    match &outcome {
        Ok(_) => rec.reloads += 1,
        Err(_) => rec.refusals += 1,
    }
    rec.result = Some(outcome.clone());
    outcome
}

fn forward_signals(tx: Sender<Event>) -> std::io::Result<()> {
    use signal_hook::consts::{SIGHUP, SIGINT, SIGTERM, SIGUSR1};
    let mut signals = signal_hook::iterator::Signals::new([SIGTERM, SIGINT, SIGHUP, SIGUSR1])?;
    std::thread::Builder::new()
        .name("tollgate-signals".into())
        .spawn(move || {
            for sig in signals.forever() {
                let ev = match sig {
                    SIGHUP => Event::Hangup,
                    SIGUSR1 => Event::ReopenLogs,
                    _ => Event::Stop,
                };
                if tx.send(ev).is_err() {
                    return;
                }
            }
        })?;
    Ok(())
}

/// Watch `file` through its directory, so editors and tools that replace
/// the file by rename are seen too.
fn watch(file: &std::path::Path, tx: Sender<Event>) -> Option<notify::RecommendedWatcher> {
    use notify::{EventKind, RecursiveMode, Watcher};
    let file: PathBuf = std::fs::canonicalize(file).unwrap_or_else(|_| file.to_path_buf());
    let dir = file.parent()?.to_path_buf();
    let name = file.file_name()?.to_os_string();
    let mut watcher = notify::recommended_watcher(move |res: notify::Result<notify::Event>| {
        if let Ok(ev) = res
            && !matches!(ev.kind, EventKind::Access(_))
            && ev.paths.iter().any(|p| p.file_name() == Some(&name))
        {
            let _ = tx.send(Event::FileChanged);
        }
    })
    .map_err(|e| eprintln!("tollgate: cannot watch {}: {e}", file.display()))
    .ok()?;
    if let Err(e) = watcher.watch(&dir, RecursiveMode::NonRecursive) {
        eprintln!("tollgate: cannot watch {}: {e}", dir.display());
        return None;
    }
    Some(watcher)
}
