//! Where quota counts are kept: per usage plan, API key and period (the
//! total a quota checks) and per day (the history `GET /admin/usage` shows).
//!
//! * [`FileStore`] (the default): an append-only log in `state_dir`
//!   (`quota.log`), one line per changed counter per sync, each line an
//!   absolute count, so replaying the log in order gives the latest counts
//!   and a torn last line (a crash mid-write) is skipped. Every sync writes
//!   and `fdatasync`s what changed; when the log has grown to several times
//!   its live content it is compacted (written aside, synced, renamed over).
//! * [`RedisStore`](super::redis_store::RedisStore): the same counters in
//!   Redis, shared by several gateway nodes (one pipelined batch of
//!   `INCRBY` + `EXPIREAT` per sync).
//!
//! Only the control thread calls a store (the reconciler once per interval,
//! the admin API for usage), never a worker. Keys are identified by the hex
//! of the first 16 bytes of their SHA-256, never by their value.

use std::collections::HashMap;
use std::fs::{File, OpenOptions};
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};

/// One counter's change in a sync.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Count {
    pub plan: String,
    /// The key's id (hex).
    pub key: String,
    /// First day of the quota period (days since 1970-01-01).
    pub period: i64,
    /// First day after the period.
    pub period_end: i64,
    /// The day the requests were counted on.
    pub day: i64,
    /// Requests to add (negative: unspent leases handed back).
    pub delta: i64,
}

/// A quota store.
pub trait Store: Send {
    /// Add every count's delta; returns each counter's period total after
    /// the add, in order. On error nothing may be assumed added (the caller
    /// retries the same deltas later).
    fn sync(&mut self, batch: &[Count]) -> Result<Vec<u64>, String>;

    /// Requests counted for (`plan`, `key`) on each day `from..=to`.
    fn usage(&mut self, plan: &str, key: &str, from: i64, to: i64) -> Result<Vec<u64>, String>;

    /// What the store is, for logs: "file state/quota.log", "redis://…".
    fn describe(&self) -> String;

    /// Other gateway nodes count into it too (their counts are worth
    /// fetching even when this node counted nothing).
    fn shared(&self) -> bool {
        false
    }
}

/// Whether `url` is a Redis URL the client accepts.
pub fn redis_url_ok(url: &str) -> bool {
    redis::Client::open(url).is_ok()
}

/// Days of per-day history kept (API Gateway's get-usage reaches 90 days back).
pub const HISTORY_DAYS: i64 = 92;

const LOG: &str = "quota.log";

/// The embedded store: an append-only log in a directory.
#[derive(Debug)]
pub struct FileStore {
    path: PathBuf,
    file: File,
    periods: HashMap<(String, String, i64), (i64, u64)>,
    days: HashMap<(String, String, i64), u64>,
    /// Lines in the log now.
    lines: usize,
}

impl FileStore {
    /// Open (creating the directory and log if missing) and replay the log.
    pub fn open(dir: &Path) -> std::io::Result<FileStore> {
        std::fs::create_dir_all(dir).map_err(|e| {
            std::io::Error::new(e.kind(), format!("state_dir {}: {e}", dir.display()))
        })?;
        let path = dir.join(LOG);
        let file = OpenOptions::new().create(true).append(true).open(&path)?;
        // A crash mid-write leaves a line without its newline: cut it off,
        // so it is neither read nor continued by the next append.
        let text = std::fs::read(&path)?;
        let whole = text.iter().rposition(|&b| b == b'\n').map_or(0, |i| i + 1);
        if whole < text.len() {
            file.set_len(whole as u64)?;
        }
        let mut store = FileStore {
            file,
            path,
            periods: HashMap::new(),
            days: HashMap::new(),
            lines: 0,
        };
        for line in BufReader::new(&text[..whole]).lines().map_while(Result::ok) {
            store.lines += 1;
            store.apply(&line);
        }
        store.compact_if_large(None)?;
        Ok(store)
    }

    /// Apply one log line; malformed lines (a torn write) are skipped.
    fn apply(&mut self, line: &str) {
        let f: Vec<&str> = line.split(' ').collect();
        let num = |s: &str| s.parse::<i64>().ok();
        match f.as_slice() {
            ["P", plan, key, start, end, total] => {
                if let (Some(start), Some(end), Ok(total)) = (num(start), num(end), total.parse()) {
                    self.periods
                        .insert((plan.to_string(), key.to_string(), start), (end, total));
                }
            }
            ["D", plan, key, day, total] => {
                if let (Some(day), Ok(total)) = (num(day), total.parse()) {
                    self.days
                        .insert((plan.to_string(), key.to_string(), day), total);
                }
            }
            _ => {}
        }
    }

    /// Every period total: (plan, key, period start) → total.
    pub fn totals(&self) -> HashMap<(String, String, i64), u64> {
        self.periods.iter().map(|(k, v)| (k.clone(), v.1)).collect()
    }

    /// The period total of (`plan`, `key`) for the period starting `period`.
    pub fn total(&self, plan: &str, key: &str, period: i64) -> u64 {
        self.periods
            .get(&(plan.to_owned(), key.to_owned(), period))
            .map_or(0, |p| p.1)
    }

    /// Rewrite the log with only live records when it has grown to more than
    /// four times their number (and past 10,000 lines). `today`: drop
    /// periods that ended and days older than [`HISTORY_DAYS`].
    fn compact_if_large(&mut self, today: Option<i64>) -> std::io::Result<()> {
        let live = self.periods.len() + self.days.len();
        if self.lines < 10_000 || self.lines < 4 * live {
            return Ok(());
        }
        if let Some(today) = today {
            self.periods
                .retain(|_, (end, _)| *end > today - HISTORY_DAYS);
            self.days
                .retain(|(_, _, day), _| *day > today - HISTORY_DAYS);
        }
        let tmp = self.path.with_extension("log.tmp");
        let mut out = std::io::BufWriter::new(File::create(&tmp)?);
        for ((plan, key, start), (end, total)) in &self.periods {
            writeln!(out, "P {plan} {key} {start} {end} {total}")?;
        }
        for ((plan, key, day), total) in &self.days {
            writeln!(out, "D {plan} {key} {day} {total}")?;
        }
        let file = out.into_inner().map_err(|e| e.into_error())?;
        file.sync_all()?;
        std::fs::rename(&tmp, &self.path)?;
        if let Some(dir) = self.path.parent() {
            let _ = File::open(dir).and_then(|d| d.sync_all());
        }
        self.file = OpenOptions::new().append(true).open(&self.path)?;
        self.lines = self.periods.len() + self.days.len();
        Ok(())
    }
}

impl Store for FileStore {
    fn sync(&mut self, batch: &[Count]) -> Result<Vec<u64>, String> {
        let mut text = String::new();
        let mut totals = Vec::with_capacity(batch.len());
        for c in batch {
            let p = self
                .periods
                .entry((c.plan.clone(), c.key.clone(), c.period))
                .or_insert((c.period_end, 0));
            p.1 = p.1.saturating_add_signed(c.delta);
            totals.push(p.1);
            if c.delta == 0 {
                continue;
            }
            text.push_str(&format!(
                "P {} {} {} {} {}\n",
                c.plan, c.key, c.period, c.period_end, p.1
            ));
            let d = self
                .days
                .entry((c.plan.clone(), c.key.clone(), c.day))
                .or_insert(0);
            *d = d.saturating_add_signed(c.delta);
            text.push_str(&format!("D {} {} {} {}\n", c.plan, c.key, c.day, d));
            self.lines += 2;
        }
        if !text.is_empty() {
            self.file
                .write_all(text.as_bytes())
                .and_then(|()| self.file.sync_data())
                .map_err(|e| format!("{}: {e}", self.path.display()))?;
            let today = batch.iter().map(|c| c.day).max();
            self.compact_if_large(today)
                .map_err(|e| format!("{}: compaction: {e}", self.path.display()))?;
        }
        Ok(totals)
    }

    fn usage(&mut self, plan: &str, key: &str, from: i64, to: i64) -> Result<Vec<u64>, String> {
        Ok((from..=to)
            .map(|d| {
                self.days
                    .get(&(plan.to_owned(), key.to_owned(), d))
                    .copied()
                    .unwrap_or(0)
            })
            .collect())
    }

    fn describe(&self) -> String {
        format!("file {}", self.path.display())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn count(delta: i64, day: i64) -> Count {
        Count {
            plan: "basic".into(),
            key: "ab12".into(),
            period: 100,
            period_end: 107,
            day,
            delta,
        }
    }

    #[test]
    fn counts_survive_reopen_and_a_torn_line() {
        let dir = std::env::temp_dir().join(format!("tollgate-store-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        {
            let mut s = FileStore::open(&dir).unwrap();
            assert_eq!(s.sync(&[count(5, 100)]).unwrap(), [5]);
            assert_eq!(s.sync(&[count(3, 101), count(0, 101)]).unwrap(), [8, 8]);
            assert_eq!(s.sync(&[count(-1, 101)]).unwrap(), [7]);
        }
        // A crash mid-write leaves half a line.
        let mut f = OpenOptions::new().append(true).open(dir.join(LOG)).unwrap();
        f.write_all(b"P basic ab12 100 107 1").unwrap();
        drop(f);
        let mut s = FileStore::open(&dir).unwrap();
        assert_eq!(s.total("basic", "ab12", 100), 7);
        assert_eq!(s.usage("basic", "ab12", 99, 102).unwrap(), [0, 5, 2, 0]);
        // The next append starts on a line of its own.
        assert_eq!(s.sync(&[count(1, 102)]).unwrap(), [8]);
        drop(s);
        let s = FileStore::open(&dir).unwrap();
        assert_eq!(s.total("basic", "ab12", 100), 8);
        let _ = std::fs::remove_dir_all(&dir);
    }
}
