//! Quota counts in Redis, shared by several gateway nodes.
//!
//! Per counter two keys: `tollgate:q:{plan}:{key}:{period start day}` (the
//! period's total; expires a day after the period ends) and
//! `tollgate:d:{plan}:{key}:{day}` (that day's count; expires after
//! [`HISTORY_DAYS`]). A sync is one pipelined round trip: `INCRBY` and
//! `EXPIREAT` for every changed counter, whose `INCRBY` replies are the
//! totals every node has counted. The reconciler calls it once per
//! interval, never per request.
//!
//! The connection is opened on first use and dropped on any error; the
//! next sync reconnects (connect, read and write time out after 500 ms, so
//! a Redis that is away slows only the control thread, never requests).
//! What could not be added is retried by the caller with the next sync.

use std::time::Duration;

use super::period::DAY_SECS;
use super::store::{Count, HISTORY_DAYS, Store};

const TIMEOUT: Duration = Duration::from_millis(500);

pub struct RedisStore {
    url: String,
    client: redis::Client,
    con: Option<redis::Connection>,
}

impl std::fmt::Debug for RedisStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisStore")
            .field("url", &self.url)
            .field("connected", &self.con.is_some())
            .finish()
    }
}

impl RedisStore {
    pub fn new(url: &str) -> Result<RedisStore, String> {
        let client = redis::Client::open(url).map_err(|e| format!("{url}: {e}"))?;
        Ok(RedisStore {
            url: url.to_owned(),
            client,
            con: None,
        })
    }

    fn connection(&mut self) -> Result<&mut redis::Connection, String> {
        if self.con.is_none() {
            let con = self
                .client
                .get_connection_with_timeout(TIMEOUT)
                .map_err(|e| format!("{}: {e}", self.url))?;
            con.set_read_timeout(Some(TIMEOUT))
                .and_then(|()| con.set_write_timeout(Some(TIMEOUT)))
                .map_err(|e| format!("{}: {e}", self.url))?;
            self.con = Some(con);
        }
        Ok(self.con.as_mut().expect("connected above"))
    }

    fn run<T: redis::FromRedisValue>(&mut self, pipe: &redis::Pipeline) -> Result<T, String> {
        let url = self.url.clone();
        let result = pipe.query(self.connection()?);
        result.map_err(|e| {
            self.con = None;
            format!("{url}: {e}")
        })
    }
}

fn period_key(c: &Count) -> String {
    format!("tollgate:q:{}:{}:{}", c.plan, c.key, c.period)
}

fn day_key(plan: &str, key: &str, day: i64) -> String {
    format!("tollgate:d:{plan}:{key}:{day}")
}

impl Store for RedisStore {
    fn sync(&mut self, batch: &[Count]) -> Result<Vec<u64>, String> {
        if batch.is_empty() {
            return Ok(Vec::new());
        }
        let mut pipe = redis::pipe();
        for c in batch {
            let pk = period_key(c);
            pipe.cmd("INCRBY").arg(&pk).arg(c.delta);
            pipe.cmd("EXPIREAT")
                .arg(&pk)
                .arg((c.period_end + 1) * DAY_SECS)
                .ignore();
            if c.delta != 0 {
                let dk = day_key(&c.plan, &c.key, c.day);
                pipe.cmd("INCRBY").arg(&dk).arg(c.delta).ignore();
                pipe.cmd("EXPIREAT")
                    .arg(&dk)
                    .arg((c.day + HISTORY_DAYS) * DAY_SECS)
                    .ignore();
            }
        }
        let totals: Vec<i64> = self.run(&pipe)?;
        Ok(totals.into_iter().map(|t| t.max(0) as u64).collect())
    }

    fn usage(&mut self, plan: &str, key: &str, from: i64, to: i64) -> Result<Vec<u64>, String> {
        if to < from {
            return Ok(Vec::new());
        }
        let mut pipe = redis::pipe();
        let keys: Vec<String> = (from..=to).map(|d| day_key(plan, key, d)).collect();
        pipe.cmd("MGET").arg(&keys);
        let (values,): (Vec<Option<i64>>,) = self.run(&pipe)?;
        Ok(values
            .into_iter()
            .map(|v| v.unwrap_or(0).max(0) as u64)
            .collect())
    }

    fn describe(&self) -> String {
        self.url.clone()
    }

    fn shared(&self) -> bool {
        true
    }
}
