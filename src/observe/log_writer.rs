//! Access log output off the request path. Each destination (a file, or
//! stdout) has one writer thread — its [`Sink`]. Each worker renders lines
//! into a [`LocalLog`]: a buffer of its own, handed to the writer when it
//! fills (or at the housekeeping tick) through a bounded channel, and
//! returned empty for reuse.
//!
//! Guarantees:
//! * A worker never waits and never allocates for logging: it only
//!   `try_send`s full buffers and `try_recv`s empty ones. Each worker holds
//!   a fixed set of [`POOL`] buffers per destination; when the writer has
//!   not returned any (the disk or pipe cannot keep up, or blocks for ever),
//!   the lines of the buffer at hand are dropped and counted — memory stays
//!   bounded and requests never slow down.
//! * Lines are whole: a buffer holds complete lines only, and one buffer is
//!   one `write` on a file opened `O_APPEND`.
//! * [`Sinks::reopen_all`] (SIGUSR1) makes every writer close and reopen its
//!   file before its next write, so logrotate's rename-then-signal works.
//! * Write or open failures count the lines as dropped and are retried at
//!   most once a second; they never reach the request path.
//!
//! Does not: format lines (see `access_log`), rotate files itself, or fsync.

use std::cell::{Cell, RefCell};
use std::fs::File;
use std::io::Write as _;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc::{Receiver, RecvTimeoutError, SyncSender, TryRecvError, sync_channel};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crate::observe::metrics::LogFacts;

/// Buffers per worker per destination (one being filled, the rest in flight or free).
pub const POOL: usize = 4;
/// Capacity of each buffer. Larger buffers wake the writer less often (a
/// wake-up is two context switches); 4 × 128 KiB per worker per destination
/// hold about 2,500 lines each.
pub const BUF_CAP: usize = 128 * 1024;
/// A buffer is handed to the writer once it holds this much.
pub const FLUSH_AT: usize = 96 * 1024;
/// Batches queued per destination across all workers.
const QUEUE: usize = 1024;
/// How often an idle writer looks at its reopen and stop flags.
const POLL: Duration = Duration::from_millis(50);
/// After a failed open or write, wait this long before opening again.
const RETRY: Duration = Duration::from_secs(1);

/// Where lines go.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Destination {
    Stdout,
    File(PathBuf),
}

impl Destination {
    /// `stdout`, or a file path.
    pub fn parse(s: &str) -> Destination {
        if s == "stdout" {
            Destination::Stdout
        } else {
            Destination::File(PathBuf::from(s))
        }
    }

    pub fn name(&self) -> String {
        match self {
            Destination::Stdout => "stdout".into(),
            Destination::File(p) => p.display().to_string(),
        }
    }
}

/// A filled buffer on its way to the writer, and where to return it.
struct Batch {
    buf: Vec<u8>,
    lines: u64,
    back: SyncSender<Vec<u8>>,
}

#[derive(Debug, Default)]
struct Stats {
    lines: AtomicU64,
    dropped: AtomicU64,
    write_errors: AtomicU64,
    reopens: AtomicU64,
}

/// One destination and its writer thread.
pub struct Sink {
    dest: Destination,
    tx: SyncSender<Batch>,
    stats: Arc<Stats>,
    reopen: Arc<AtomicBool>,
    stop: Arc<AtomicBool>,
    thread: Mutex<Option<JoinHandle<()>>>,
}

impl std::fmt::Debug for Sink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Sink").field("dest", &self.dest).finish()
    }
}

impl Sink {
    fn start(dest: Destination) -> std::io::Result<Sink> {
        let (tx, rx) = sync_channel(QUEUE);
        let stats = Arc::new(Stats::default());
        let reopen = Arc::new(AtomicBool::new(false));
        let stop = Arc::new(AtomicBool::new(false));
        let thread = {
            let (dest, stats, reopen, stop) =
                (dest.clone(), stats.clone(), reopen.clone(), stop.clone());
            std::thread::Builder::new()
                .name("tollgate-log".into())
                .spawn(move || Writer::new(dest, stats).run(rx, &reopen, &stop))?
        };
        Ok(Sink {
            dest,
            tx,
            stats,
            reopen,
            stop,
            thread: Mutex::new(Some(thread)),
        })
    }

    pub fn destination(&self) -> &Destination {
        &self.dest
    }

    /// Lines written, dropped, failed writes and reopens so far.
    pub fn facts(&self) -> LogFacts {
        LogFacts {
            destination: self.dest.name(),
            lines: self.stats.lines.load(Ordering::Relaxed),
            dropped: self.stats.dropped.load(Ordering::Relaxed),
            write_errors: self.stats.write_errors.load(Ordering::Relaxed),
            reopens: self.stats.reopens.load(Ordering::Relaxed),
        }
    }

    fn count_dropped(&self, lines: u64) {
        self.stats.dropped.fetch_add(lines, Ordering::Relaxed);
    }
}

/// The writer thread's state.
struct Writer {
    dest: Destination,
    stats: Arc<Stats>,
    file: Option<File>,
    /// No open before this instant (after a failure).
    retry_at: Option<Instant>,
}

impl Writer {
    fn new(dest: Destination, stats: Arc<Stats>) -> Writer {
        Writer {
            dest,
            stats,
            file: None,
            retry_at: None,
        }
    }

    fn run(mut self, rx: Receiver<Batch>, reopen: &AtomicBool, stop: &AtomicBool) {
        loop {
            if reopen.swap(false, Ordering::AcqRel) {
                self.file = None;
                self.retry_at = None;
                self.stats.reopens.fetch_add(1, Ordering::Relaxed);
            }
            match rx.recv_timeout(POLL) {
                Ok(batch) => {
                    if reopen.swap(false, Ordering::AcqRel) {
                        self.file = None;
                        self.retry_at = None;
                        self.stats.reopens.fetch_add(1, Ordering::Relaxed);
                    }
                    self.write(batch);
                }
                Err(RecvTimeoutError::Timeout) => {
                    if stop.load(Ordering::Acquire) {
                        return;
                    }
                }
                Err(RecvTimeoutError::Disconnected) => return,
            }
        }
    }

    fn write(&mut self, mut batch: Batch) {
        let ok = match &self.dest {
            Destination::Stdout => {
                let mut out = std::io::stdout().lock();
                out.write_all(&batch.buf).and_then(|_| out.flush()).is_ok()
            }
            Destination::File(path) => {
                if self.file.is_none() && self.retry_at.is_none_or(|t| Instant::now() >= t) {
                    match std::fs::OpenOptions::new()
                        .create(true)
                        .append(true)
                        .open(path)
                    {
                        Ok(f) => {
                            self.file = Some(f);
                            self.retry_at = None;
                        }
                        Err(e) => {
                            eprintln!("tollgate: access log {}: {e}", path.display());
                            self.stats.write_errors.fetch_add(1, Ordering::Relaxed);
                            self.retry_at = Some(Instant::now() + RETRY);
                        }
                    }
                }
                match &mut self.file {
                    Some(f) => match f.write_all(&batch.buf) {
                        Ok(()) => true,
                        Err(e) => {
                            eprintln!("tollgate: access log {}: {e}", path.display());
                            self.stats.write_errors.fetch_add(1, Ordering::Relaxed);
                            self.file = None;
                            self.retry_at = Some(Instant::now() + RETRY);
                            false
                        }
                    },
                    None => false,
                }
            }
        };
        let counter = if ok {
            &self.stats.lines
        } else {
            &self.stats.dropped
        };
        counter.fetch_add(batch.lines, Ordering::Relaxed);
        batch.buf.clear();
        let _ = batch.back.try_send(batch.buf);
    }
}

/// Every destination of the process, shared by workers and the control
/// thread. Destinations live as long as the process (their counters too);
/// one no longer configured only keeps an idle thread.
#[derive(Debug, Default)]
pub struct Sinks {
    list: Mutex<Vec<Arc<Sink>>>,
}

impl Sinks {
    /// The sink for `dest`, started on first use.
    pub fn get(&self, dest: &Destination) -> std::io::Result<Arc<Sink>> {
        let mut list = self.list.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(s) = list.iter().find(|s| s.dest == *dest) {
            return Ok(s.clone());
        }
        let s = Arc::new(Sink::start(dest.clone())?);
        list.push(s.clone());
        Ok(s)
    }

    /// Close and reopen every file before its next write (SIGUSR1).
    pub fn reopen_all(&self) {
        for s in self.list.lock().unwrap_or_else(|e| e.into_inner()).iter() {
            s.reopen.store(true, Ordering::Release);
        }
    }

    pub fn facts(&self) -> Vec<LogFacts> {
        self.list
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .iter()
            .map(|s| s.facts())
            .collect()
    }

    /// Let every writer write what is queued, then stop it; waits at most
    /// `grace` in all (a writer blocked on a destination that never drains
    /// is left behind and ends with the process).
    pub fn shutdown(&self, grace: Duration) {
        let list: Vec<Arc<Sink>> = self.list.lock().unwrap_or_else(|e| e.into_inner()).clone();
        let deadline = Instant::now() + grace;
        for s in &list {
            s.stop.store(true, Ordering::Release);
        }
        for s in &list {
            let handle = s.thread.lock().unwrap_or_else(|e| e.into_inner()).take();
            if let Some(h) = handle {
                while !h.is_finished() && Instant::now() < deadline {
                    std::thread::sleep(Duration::from_millis(5));
                }
                if h.is_finished() {
                    let _ = h.join();
                }
            }
        }
    }
}

/// One worker's side of one destination. `!Sync`: only its worker uses it.
pub struct LocalLog {
    sink: Arc<Sink>,
    cur: RefCell<Vec<u8>>,
    lines: Cell<u64>,
    free: Receiver<Vec<u8>>,
    back: SyncSender<Vec<u8>>,
}

impl std::fmt::Debug for LocalLog {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LocalLog")
            .field("sink", &self.sink)
            .field("pending", &self.cur.borrow().len())
            .finish()
    }
}

impl LocalLog {
    /// Allocates this worker's [`POOL`] buffers (at configuration time).
    pub fn new(sink: Arc<Sink>) -> LocalLog {
        let (back, free) = sync_channel(POOL);
        for _ in 1..POOL {
            let _ = back.try_send(Vec::with_capacity(BUF_CAP));
        }
        LocalLog {
            sink,
            cur: RefCell::new(Vec::with_capacity(BUF_CAP)),
            lines: Cell::new(0),
            free,
            back,
        }
    }

    pub fn sink(&self) -> &Arc<Sink> {
        &self.sink
    }

    /// Append one line, rendered by `render` (which must append exactly one
    /// `\n`-terminated line). Never blocks; hands the buffer over when full.
    pub fn line(&self, render: impl FnOnce(&mut Vec<u8>)) {
        let full = {
            let mut cur = self.cur.borrow_mut();
            render(&mut cur);
            self.lines.set(self.lines.get() + 1);
            cur.len() >= FLUSH_AT
        };
        if full {
            self.flush();
        }
    }

    /// Hand what is buffered to the writer (housekeeping tick, and when full).
    /// Without a free buffer to continue in, the lines are dropped and counted.
    pub fn flush(&self) {
        let mut cur = self.cur.borrow_mut();
        if cur.is_empty() {
            return;
        }
        let lines = self.lines.replace(0);
        match self.free.try_recv() {
            Ok(fresh) => {
                let buf = std::mem::replace(&mut *cur, fresh);
                let batch = Batch {
                    buf,
                    lines,
                    back: self.back.clone(),
                };
                if let Err(e) = self.sink.tx.try_send(batch) {
                    let mut b = match e {
                        std::sync::mpsc::TrySendError::Full(b)
                        | std::sync::mpsc::TrySendError::Disconnected(b) => b,
                    };
                    self.sink.count_dropped(b.lines);
                    b.buf.clear();
                    let _ = self.back.try_send(b.buf);
                }
            }
            Err(TryRecvError::Empty | TryRecvError::Disconnected) => {
                self.sink.count_dropped(lines);
                cur.clear();
            }
        }
    }
}

impl Drop for LocalLog {
    fn drop(&mut self) {
        self.flush();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn temp(name: &str) -> PathBuf {
        std::env::temp_dir().join(format!(
            "tollgate-logwriter-{}-{name}-{:?}",
            std::process::id(),
            std::thread::current().id()
        ))
    }

    fn wait_until(mut f: impl FnMut() -> bool) -> bool {
        let deadline = Instant::now() + Duration::from_secs(5);
        while Instant::now() < deadline {
            if f() {
                return true;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        false
    }

    #[test]
    fn lines_reach_the_file_whole_and_in_order() {
        let path = temp("order");
        let _ = std::fs::remove_file(&path);
        let sinks = Sinks::default();
        let sink = sinks.get(&Destination::File(path.clone())).unwrap();
        let log = LocalLog::new(sink.clone());
        for i in 0..10_000 {
            log.line(|b| {
                b.extend_from_slice(format!("line {i:05}\n").as_bytes());
            });
        }
        log.flush();
        assert!(
            wait_until(|| sink.facts().lines == 10_000),
            "{:?}",
            sink.facts()
        );
        let text = std::fs::read_to_string(&path).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 10_000);
        assert_eq!(lines[0], "line 00000");
        assert_eq!(lines[9_999], "line 09999");
        assert_eq!(sink.facts().dropped, 0);
        // The same destination is the same sink.
        assert!(Arc::ptr_eq(
            &sink,
            &sinks.get(&Destination::File(path.clone())).unwrap()
        ));
        sinks.shutdown(Duration::from_secs(2));
        let _ = std::fs::remove_file(&path);
    }

    #[test]
    fn reopen_follows_a_rename() {
        let path = temp("rotate");
        let rotated = temp("rotate.1");
        let _ = std::fs::remove_file(&path);
        let _ = std::fs::remove_file(&rotated);
        let sinks = Sinks::default();
        let sink = sinks.get(&Destination::File(path.clone())).unwrap();
        let log = LocalLog::new(sink.clone());
        log.line(|b| b.extend_from_slice(b"before\n"));
        log.flush();
        assert!(wait_until(|| sink.facts().lines == 1));
        std::fs::rename(&path, &rotated).unwrap();
        sinks.reopen_all();
        assert!(wait_until(|| sink.facts().reopens == 1));
        log.line(|b| b.extend_from_slice(b"after\n"));
        log.flush();
        assert!(wait_until(|| sink.facts().lines == 2));
        assert_eq!(std::fs::read_to_string(&rotated).unwrap(), "before\n");
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "after\n");
        sinks.shutdown(Duration::from_secs(2));
        let _ = std::fs::remove_file(&path);
        let _ = std::fs::remove_file(&rotated);
    }

    #[test]
    fn a_destination_that_never_drains_drops_and_counts_without_blocking() {
        let path = temp("fifo");
        let _ = std::fs::remove_file(&path);
        let c = std::ffi::CString::new(path.to_str().unwrap()).unwrap();
        // SAFETY: mkfifo with a valid NUL-terminated path.
        assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0);
        let sinks = Sinks::default();
        // Nobody opens the FIFO for reading: the writer blocks in open() for ever.
        let sink = sinks.get(&Destination::File(path.clone())).unwrap();
        let log = LocalLog::new(sink.clone());
        let line = [b'x'; 99];
        let started = Instant::now();
        let n = 100_000u64;
        for _ in 0..n {
            log.line(|b| {
                b.extend_from_slice(&line);
                b.push(b'\n');
            });
        }
        log.flush();
        let took = started.elapsed();
        assert!(took < Duration::from_secs(2), "logging blocked: {took:?}");
        let f = sink.facts();
        // POOL buffers at most went to the writer (who holds them for ever).
        assert!(
            f.dropped >= n - (POOL as u64) * (FLUSH_AT as u64 / 100 + 1),
            "{f:?}"
        );
        assert_eq!(f.lines, 0);
        sinks.shutdown(Duration::from_millis(200));
        let _ = std::fs::remove_file(&path);
    }

    #[test]
    fn open_failures_count_dropped_lines() {
        let path = std::env::temp_dir().join("tollgate-no-such-dir/x/access.log");
        let sinks = Sinks::default();
        let sink = sinks.get(&Destination::File(path)).unwrap();
        let log = LocalLog::new(sink.clone());
        log.line(|b| b.extend_from_slice(b"lost\n"));
        log.flush();
        assert!(wait_until(|| sink.facts().dropped == 1));
        assert_eq!(sink.facts().write_errors, 1);
        sinks.shutdown(Duration::from_secs(1));
    }

    #[test]
    fn buffers_are_reused_not_reallocated() {
        let path = temp("reuse");
        let sinks = Sinks::default();
        let sink = sinks.get(&Destination::File(path.clone())).unwrap();
        let log = LocalLog::new(sink.clone());
        for round in 0..20 {
            log.line(|b| b.extend_from_slice(format!("{round}\n").as_bytes()));
            log.flush();
            assert!(wait_until(|| sink.facts().lines == round + 1));
        }
        assert_eq!(log.cur.borrow().capacity(), BUF_CAP);
        sinks.shutdown(Duration::from_secs(1));
        let _ = std::fs::remove_file(&path);
    }
}
