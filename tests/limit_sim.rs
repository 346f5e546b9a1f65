//! Deterministic simulation of the rate limiter on a virtual clock: the real
//! `SharedBucket` / `LocalBucket` / `BucketTrack` code, driven across N
//! simulated cores for 10 simulated seconds, with the reconciler stepping
//! every 10 ms and each core's service turn (where it hands back recalled
//! credit) every 100 ms at its own phase, as the server runs them.
//!
//! Every scenario offers more load than the limit, so an exact token bucket
//! admits `rate × time + burst` (the on/off scenarios less: refill during an
//! off phase that the cap or the end of the run wastes; the reference is
//! always an exact token bucket fed the same arrivals). Asserted: admitted
//! within ±2 % of the reference. `cargo test --test limit_sim -- --nocapture` prints the
//! table.

use std::sync::Arc;

use tollgate::limit::{BucketTrack, LocalBucket, SharedBucket};

const MS: u64 = 1_000_000;
const S: u64 = 1_000_000_000;
const DURATION: u64 = 10 * S;
const RECONCILE: u64 = 10 * MS;
const SERVICE: u64 = 100 * MS;

#[derive(Clone, Copy)]
enum Load {
    /// Everything on core 0.
    OneCore,
    /// Spread evenly.
    Even,
    /// 90 % on core 0, 10 % spread over the others.
    Skew,
    /// 400 ms on (at 4× the rate, on one core that changes every cycle),
    /// 100 ms off.
    OnOff,
    /// Even; at 5 s a reload doubles the rate.
    Reload,
    /// 1 s on at 3× the rate spread over every core, 1 s off: the pool
    /// fills to its cap while cores hold leases.
    OnOffAll,
    /// Even, at a fifth of the rate (the limit never binds).
    Light,
}

impl Load {
    fn name(self) -> &'static str {
        match self {
            Load::OneCore => "(a) all load on one core",
            Load::Even => "(b) even load",
            Load::Skew => "(c) 90/10 skew",
            Load::OnOff => "(d) on/off bursts (400/100 ms)",
            Load::Reload => "(e) reload doubles the rate at 5 s",
            Load::OnOffAll => "(d') on/off, all cores (1 s / 1 s)",
            Load::Light => "light even load",
        }
    }

    /// Requests per second offered to `core` of `n` at time `t`, for a limit of `rate`.
    fn offered(self, core: usize, n: usize, t: u64, rate: f64) -> f64 {
        let total = 3.0 * rate;
        match self {
            Load::OneCore => {
                if core == 0 {
                    total
                } else {
                    0.0
                }
            }
            Load::Even | Load::Reload => total / n as f64,
            Load::Light => 0.2 * rate / n as f64,
            Load::OnOffAll => {
                if (t / S).is_multiple_of(2) {
                    total / n as f64
                } else {
                    0.0
                }
            }
            Load::Skew => {
                if core == 0 {
                    0.9 * total
                } else {
                    0.1 * total / (n - 1) as f64
                }
            }
            Load::OnOff => {
                let cycle = t / (500 * MS);
                let on = t % (500 * MS) < 400 * MS;
                if on && cycle as usize % n == core {
                    4.0 * rate
                } else {
                    0.0
                }
            }
        }
    }
}

/// An exact token bucket (the reference).
struct Ideal {
    tokens: f64,
    rate: f64,
    burst: f64,
    at: u64,
}

impl Ideal {
    fn advance(&mut self, t: u64) {
        self.tokens = (self.tokens + self.rate * (t - self.at) as f64 / 1e9).min(self.burst);
        self.at = t;
    }

    fn take(&mut self, t: u64) -> bool {
        self.advance(t);
        if self.tokens >= 1.0 - 1e-9 {
            self.tokens -= 1.0;
            true
        } else {
            false
        }
    }
}

struct Outcome {
    admitted: u64,
    ideal: u64,
    formula: f64,
    offered: u64,
    /// Leases taken from the shared pool (atomic operations on it).
    leases: u64,
}

fn simulate(n: usize, rate: u64, burst: u64, load: Load) -> Outcome {
    let shared = Arc::new(SharedBucket::new(n, rate * 1000, burst, 0));
    let mut locals: Vec<LocalBucket> = (0..n)
        .map(|i| LocalBucket::new(shared.clone(), i))
        .collect();
    let mut track = BucketTrack::default();
    let mut ideal = Ideal {
        tokens: burst as f64,
        rate: rate as f64,
        burst: burst as f64,
        at: 0,
    };
    let mut cur_rate = rate as f64;
    let reload_at = 5 * S;
    let mut reloaded = !matches!(load, Load::Reload);
    // Next arrival per core; a core with no load looks again in 1 ms.
    let mut next: Vec<u64> = (0..n).map(|i| 1 + i as u64 * 37_013).collect();
    let mut service: Vec<u64> = (0..n)
        .map(|i| SERVICE + i as u64 * SERVICE / n as u64)
        .collect();
    let mut reconcile = RECONCILE;
    let (mut admitted, mut ideal_admitted, mut offered, mut leases) = (0u64, 0u64, 0u64, 0u64);
    loop {
        let (core, t_arr) = next
            .iter()
            .copied()
            .enumerate()
            .min_by_key(|&(_, t)| t)
            .unwrap();
        let (svc_core, t_svc) = service
            .iter()
            .copied()
            .enumerate()
            .min_by_key(|&(_, t)| t)
            .unwrap();
        let t = t_arr.min(t_svc).min(reconcile);
        if t >= DURATION {
            break;
        }
        if !reloaded && t >= reload_at {
            // A reload: the surviving bucket gets the new limit; each core
            // builds a new lease that adopts the old one's credit.
            reloaded = true;
            cur_rate = 2.0 * rate as f64;
            shared.set_limit(2 * rate * 1000, burst, reload_at);
            ideal.advance(reload_at);
            ideal.rate = cur_rate;
            locals = locals
                .into_iter()
                .enumerate()
                .map(|(i, old)| {
                    let new = LocalBucket::new(shared.clone(), i);
                    new.adopt(&old);
                    new
                })
                .collect();
            continue;
        }
        if t == reconcile {
            track.step(&shared, t, RECONCILE);
            reconcile += RECONCILE;
        } else if t == t_svc {
            locals[svc_core].service();
            service[svc_core] += SERVICE;
        } else {
            let r = load.offered(core, n, t, cur_rate);
            if r <= 0.0 {
                next[core] = t + MS;
                continue;
            }
            offered += 1;
            let had_credit = locals[core].credit() > 0;
            if locals[core].take(t).admitted() {
                admitted += 1;
                leases += u64::from(!had_credit);
            }
            if ideal.take(t) {
                ideal_admitted += 1;
            }
            next[core] = t + (1e9 / r) as u64;
        }
    }
    let formula = match load {
        Load::Reload => rate as f64 * 5.0 + 2.0 * rate as f64 * 5.0 + burst as f64,
        _ => rate as f64 * 10.0 + burst as f64,
    };
    Outcome {
        admitted,
        ideal: ideal_admitted,
        formula,
        offered,
        leases,
    }
}

#[test]
fn admitted_within_two_percent_of_an_exact_bucket() {
    let configs: [(usize, u64, u64); 3] = [(2, 1_000, 500), (8, 1_000, 500), (16, 20_000, 5_000)];
    let loads = [
        Load::OneCore,
        Load::Even,
        Load::Skew,
        Load::OnOff,
        Load::OnOffAll,
        Load::Reload,
    ];
    let mut table = String::from(
        "| scenario | cores | rate/s | burst | offered | rate × 10 s + burst | exact bucket | admitted | vs exact | requests per lease |\n|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n",
    );
    let mut failures = Vec::new();
    for &(n, rate, burst) in &configs {
        for &load in &loads {
            let o = simulate(n, rate, burst, load);
            let err = (o.admitted as f64 / o.ideal as f64 - 1.0) * 100.0;
            table.push_str(&format!(
                "| {} | {n} | {rate} | {burst} | {} | {:.0} | {} | {} | {err:+.2} % | {:.1} |\n",
                load.name(),
                o.offered,
                o.formula,
                o.ideal,
                o.admitted,
                o.admitted as f64 / o.leases.max(1) as f64,
            ));
            if err.abs() > 2.0 {
                failures.push(format!("{} on {n} cores: {err:+.2} %", load.name()));
            }
            if !matches!(load, Load::OnOff | Load::OnOffAll) {
                let vs_formula = (o.ideal as f64 / o.formula - 1.0) * 100.0;
                assert!(
                    vs_formula.abs() < 0.5,
                    "reference off the formula: {vs_formula}"
                );
            }
        }
    }
    println!("{table}");
    assert!(failures.is_empty(), "outside ±2 %: {failures:?}\n{table}");
}

/// Below the limit every request passes, and a busy core leases in batches
/// (one atomic operation on the shared pool per many requests).
#[test]
fn leases_batch_when_the_limit_does_not_bind() {
    let o = simulate(16, 1_000_000, 100_000, Load::Light);
    assert_eq!(o.admitted, o.offered);
    let per_lease = o.admitted as f64 / o.leases as f64;
    println!(
        "light load: {} requests, {} leases ({per_lease:.1} per lease)",
        o.admitted, o.leases
    );
    assert!(per_lease >= 20.0, "{per_lease} requests per lease");
}
