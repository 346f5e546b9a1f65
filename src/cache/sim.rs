//! Hit ratio of the S3-FIFO [`Store`] against plain LRU with the same byte
//! budget, on a skewed (Zipf) workload with and without one-off scans.
//! `cargo test --release --lib cache::sim -- --ignored --nocapture` prints
//! the table bench/cache.sh records; the plain test checks the ordering.

use std::collections::{BTreeMap, HashMap};

use super::policy::Store;

/// Deterministic xorshift64*.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    fn unit(&mut self) -> f64 {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64
    }
}

/// Zipf(`alpha`) over `n` keys by inverse CDF.
struct Zipf {
    cdf: Vec<f64>,
}

impl Zipf {
    fn new(n: usize, alpha: f64) -> Zipf {
        let mut cdf = Vec::with_capacity(n);
        let mut sum = 0.0;
        for k in 1..=n {
            sum += 1.0 / (k as f64).powf(alpha);
            cdf.push(sum);
        }
        for c in &mut cdf {
            *c /= sum;
        }
        Zipf { cdf }
    }
    fn sample(&self, rng: &mut Rng) -> u64 {
        let u = rng.unit();
        self.cdf.partition_point(|&c| c < u) as u64
    }
}

/// Byte-bounded LRU, the comparison.
struct Lru {
    capacity: u64,
    used: u64,
    tick: u64,
    entries: HashMap<u64, (u64, u64)>,
    order: BTreeMap<u64, u64>,
}

impl Lru {
    fn new(capacity: u64) -> Lru {
        Lru {
            capacity,
            used: 0,
            tick: 0,
            entries: HashMap::new(),
            order: BTreeMap::new(),
        }
    }
    fn get(&mut self, key: u64) -> bool {
        self.tick += 1;
        match self.entries.get_mut(&key) {
            Some((_, t)) => {
                self.order.remove(t);
                *t = self.tick;
                self.order.insert(self.tick, key);
                true
            }
            None => false,
        }
    }
    fn insert(&mut self, key: u64, size: u64) {
        while self.used + size > self.capacity {
            let Some((_, k)) = self.order.pop_first() else {
                return;
            };
            let (s, _) = self.entries.remove(&k).expect("ordered key");
            self.used -= s;
        }
        self.tick += 1;
        self.entries.insert(key, (size, self.tick));
        self.order.insert(self.tick, key);
        self.used += size;
    }
}

/// Object size: 1 to 16 KiB, fixed per key.
fn size_of(key: u64) -> u64 {
    1024 * (1 + (key.wrapping_mul(0x9e37_79b9_7f4a_7c15) >> 60))
}

/// (S3-FIFO hit ratio, LRU hit ratio) over `requests` requests on `keys`
/// Zipf(`alpha`) keys with a budget of `cache_share` of the working set's
/// bytes; every `scan_every` requests (0: never) a scan of `scan_len` keys
/// never seen before runs.
fn run(
    keys: usize,
    alpha: f64,
    cache_share: f64,
    requests: usize,
    scan_every: usize,
    scan_len: usize,
) -> (f64, f64) {
    let total: u64 = (0..keys as u64).map(size_of).sum();
    let capacity = (total as f64 * cache_share) as u64;
    let zipf = Zipf::new(keys, alpha);
    let mut rng = Rng(0x1234_5678_9abc_def1);
    let mut s3 = Store::new(capacity);
    let mut lru = Lru::new(capacity);
    let (mut s3_hits, mut lru_hits, mut counted) = (0u64, 0u64, 0u64);
    let mut scan_key = 1u64 << 40;
    for i in 0..requests {
        let mut access = |key: u64, count: bool| {
            let size = size_of(key);
            let now = i as u64;
            let hit = s3.get(key, now).is_some();
            if !hit {
                s3.insert(key, (), size, u64::MAX, now);
            }
            let lhit = lru.get(key);
            if !lhit {
                lru.insert(key, size);
            }
            if count {
                s3_hits += u64::from(hit);
                lru_hits += u64::from(lhit);
                counted += 1;
            }
        };
        access(zipf.sample(&mut rng), true);
        if scan_every > 0 && i % scan_every == scan_every - 1 {
            for _ in 0..scan_len {
                scan_key += 1;
                access(scan_key, false);
            }
        }
    }
    (
        s3_hits as f64 / counted as f64,
        lru_hits as f64 / counted as f64,
    )
}

#[test]
fn s3_fifo_beats_lru_on_a_skewed_workload_with_scans() {
    let (s3, lru) = run(20_000, 0.9, 0.05, 200_000, 20_000, 5_000);
    assert!(
        s3 > lru,
        "S3-FIFO {s3:.3} should beat LRU {lru:.3} when scans run"
    );
    let (s3, lru) = run(20_000, 0.9, 0.05, 200_000, 0, 0);
    assert!(
        s3 >= lru * 0.98,
        "S3-FIFO {s3:.3} should be no worse than LRU {lru:.3} without scans"
    );
}

/// The table for bench/RESULTS.md.
#[test]
#[ignore = "prints the policy table (bench/cache.sh); run with --release"]
fn policy_table() {
    println!("| workload | cache size | S3-FIFO hit ratio | LRU hit ratio |");
    println!("|---|---:|---:|---:|");
    for (alpha, share, scans, label) in [
        (0.8, 0.01, false, "Zipf 0.8"),
        (0.8, 0.05, false, "Zipf 0.8"),
        (1.0, 0.01, false, "Zipf 1.0"),
        (1.0, 0.05, false, "Zipf 1.0"),
        (0.8, 0.05, true, "Zipf 0.8 + scans"),
        (1.0, 0.05, true, "Zipf 1.0 + scans"),
    ] {
        let (every, len) = if scans { (50_000, 20_000) } else { (0, 0) };
        let (s3, lru) = run(100_000, alpha, share, 1_000_000, every, len);
        println!(
            "| {label} | {:.0} % of bytes | {:.1} % | {:.1} % |",
            share * 100.0,
            s3 * 100.0,
            lru * 100.0
        );
    }
}
