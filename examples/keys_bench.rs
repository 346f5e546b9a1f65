//! The API key table with many keys: bytes per key, build time, and the
//! cost of one lookup as the pipeline does it (SHA-256 of the presented
//! value, then one probe of the lock-free table), for hits and misses.
//! Run by bench/throttle.sh: `cargo run --release --example keys_bench [N]`.

use std::alloc::{GlobalAlloc, Layout, System};
use std::hint::black_box;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::Instant;

use tollgate::limit::keys::{KeyEntry, KeyHash, KeyTable};

struct Counting;

static LIVE: AtomicI64 = AtomicI64::new(0);

// SAFETY: delegates every call to the system allocator unchanged; only counts bytes.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, l: Layout) -> *mut u8 {
        LIVE.fetch_add(l.size() as i64, Ordering::Relaxed);
        // SAFETY: same contract as the caller's.
        unsafe { System.alloc(l) }
    }
    unsafe fn dealloc(&self, p: *mut u8, l: Layout) {
        LIVE.fetch_sub(l.size() as i64, Ordering::Relaxed);
        // SAFETY: same contract as the caller's.
        unsafe { System.dealloc(p, l) }
    }
    unsafe fn realloc(&self, p: *mut u8, l: Layout, n: usize) -> *mut u8 {
        LIVE.fetch_add(n as i64 - l.size() as i64, Ordering::Relaxed);
        // SAFETY: same contract as the caller's.
        unsafe { System.realloc(p, l, n) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

fn value(i: usize) -> String {
    format!("bench-key-{i:020}-abcdefghij")
}

fn main() {
    let n: usize = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(100_000);
    let values: Vec<String> = (0..n).map(value).collect();
    let before = LIVE.load(Ordering::Relaxed);
    let t = Instant::now();
    let table = KeyTable::with_capacity(n);
    for (i, v) in values.iter().enumerate() {
        table.insert(
            KeyHash::of(v.as_bytes()),
            KeyEntry {
                name: format!("key-{i}").into(),
                enabled: true,
                plans: Box::new([0]),
                runtime: false,
            },
        );
    }
    let build = t.elapsed();
    let bytes = LIVE.load(Ordering::Relaxed) - before;
    assert_eq!(table.len(), n);

    const LOOKUPS: usize = 2_000_000;
    // Presented values: 4,096 keys spread over the table (hits), and as
    // many unknown values (misses); the values themselves stay in cache,
    // so the time is the hash and the table's.
    let hits: Vec<Vec<u8>> = (0..4096)
        .map(|i| values[(i * 7919) % n].as_bytes().to_vec())
        .collect();
    let misses: Vec<Vec<u8>> = hits
        .iter()
        .map(|v| {
            let mut m = v.clone();
            m[0] = b'X';
            m
        })
        .collect();
    let probe = |keys: &[Vec<u8>]| {
        let t = Instant::now();
        let mut found = 0usize;
        for i in 0..LOOKUPS {
            let h = KeyHash::of(black_box(&keys[i % keys.len()]));
            found += table.with(&h, |e| usize::from(e.is_some_and(|e| e.enabled)));
        }
        (t.elapsed().as_nanos() as f64 / LOOKUPS as f64, found)
    };
    let (hit_ns, found) = probe(&hits);
    let (miss_ns, not_found) = probe(&misses);
    assert_eq!(found, LOOKUPS);
    assert_eq!(not_found, 0);
    let t = Instant::now();
    for i in 0..LOOKUPS {
        black_box(KeyHash::of(black_box(&hits[i % hits.len()])));
    }
    let sha_ns = t.elapsed().as_nanos() as f64 / LOOKUPS as f64;
    println!("keys {n}");
    println!("table_bytes {bytes}");
    println!("bytes_per_key {:.0}", bytes as f64 / n as f64);
    println!("build_ms {:.1}", build.as_secs_f64() * 1e3);
    println!("lookup_hit_ns {hit_ns:.0}");
    println!("lookup_miss_ns {miss_ns:.0}");
    println!("sha256_ns {sha_ns:.0}");
}
