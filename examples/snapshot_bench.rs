//! Snapshot benchmark: compile a 10,000-route configuration, load and
//! validate its snapshot, and build one worker's routes from it; each the
//! median of several runs. Run by `bench/snapshot.sh` (release build), which
//! passes the `tollgate` binary to time `tollgate compile` as a user runs it.
//!
//! Usage: `snapshot_bench TOLLGATE_BIN [RESULTS.md]`. Prints a table; with a
//! results file, replaces (or adds) its `bench:snapshot` section. Targets
//! are reported PASS/MISS and never fail the run.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use tollgate::route::Table;
use tollgate::snapshot;
use tollgate::upstream::Pools;

const ROUTES: usize = 10_000;
const RUNS: usize = 21;
const COMPILE_RUNS: usize = 5;
const LOAD_TARGET: Duration = Duration::from_millis(50);
const BUILD_TARGET: Duration = Duration::from_millis(20);

/// One API with `ROUTES` routes: literal, `{param}`, two-parameter and greedy
/// paths in turn; mock integrations, every fourth an http_proxy.
fn config() -> String {
    let mut y = String::from(
        "listeners:\n  - {name: main, address: 127.0.0.1:0}\n\
         upstreams:\n  backend: {targets: [127.0.0.1:9000]}\n\
         apis:\n  - name: big\n    stages: [prod]\n    routes:\n",
    );
    for i in 0..ROUTES {
        let (key, integration) = match i % 4 {
            0 => (
                format!("GET /r{i}/items/{{id}}"),
                format!(
                    "{{type: mock, headers: {{content-type: application/json}}, body: '{{\"r\":{i}}}'}}"
                ),
            ),
            1 => (
                format!("GET /r{i}/items"),
                "{type: mock, body: list}".to_owned(),
            ),
            2 => (
                format!("POST /r{i}/items/{{id}}/parts/{{part}}"),
                "{type: mock, status: 201}".to_owned(),
            ),
            _ => (
                format!("ANY /r{i}/files/{{proxy+}}"),
                format!("{{type: http_proxy, uri: \"http://backend/r{i}/{{proxy}}\"}}"),
            ),
        };
        writeln!(
            y,
            "      - route: \"{key}\"\n        integration: {integration}"
        )
        .unwrap();
    }
    y.push_str("      - route: $default\n        integration: {type: mock, status: 404}\n");
    y
}

fn median(mut samples: Vec<Duration>) -> Duration {
    samples.sort();
    samples[samples.len() / 2]
}

fn time<T>(runs: usize, mut f: impl FnMut() -> T) -> Duration {
    median(
        (0..runs)
            .map(|_| {
                let start = Instant::now();
                std::hint::black_box(f());
                start.elapsed()
            })
            .collect(),
    )
}

fn ms(d: Duration) -> String {
    format!("{:.2} ms", d.as_secs_f64() * 1e3)
}

fn verdict(d: Duration, target: Duration) -> &'static str {
    if d < target { "PASS" } else { "MISS" }
}

fn main() {
    let mut args = std::env::args_os().skip(1);
    let bin = PathBuf::from(
        args.next()
            .expect("usage: snapshot_bench TOLLGATE_BIN [RESULTS.md]"),
    );
    let results = args.next().map(PathBuf::from);

    let work = std::env::temp_dir().join(format!("tollgate-snapshot-bench-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&work);
    std::fs::create_dir_all(&work).unwrap();
    let cfg = work.join("routes.yaml");
    std::fs::write(&cfg, config()).unwrap();
    let dir = work.join("snapshots");

    // 1. `tollgate compile` as a process: parse, validate, resolve, encode, write.
    let mut ids = Vec::new();
    let compile = time(COMPILE_RUNS, || {
        let out = Command::new(&bin)
            .arg("compile")
            .arg(&cfg)
            .arg("-o")
            .arg(&dir)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
        ids.push(stdout.split_whitespace().nth(1).unwrap().to_owned());
    });
    ids.dedup();
    assert_eq!(
        ids.len(),
        1,
        "compiling the same config gave different ids: {ids:?}"
    );
    // Its parts, in process.
    let config_load = time(COMPILE_RUNS, || tollgate::config::load(&cfg).unwrap());
    let gw = tollgate::config::load(&cfg).unwrap();
    let encode = time(RUNS, || snapshot::encode(&gw));
    let bytes = snapshot::encode(&gw);
    assert_eq!(snapshot::id_of(&bytes), ids[0]);

    // 2. Load + validate: read `current` and the file, header, SHA-256 of the
    //    payload and of the whole file (the id), bytecheck, deserialize,
    //    invariants.
    let load = time(RUNS, || snapshot::read_current(&dir).unwrap());
    let decode = time(RUNS, || snapshot::decode(&bytes).unwrap());
    let (_, loaded) = snapshot::read_current(&dir).unwrap();
    assert_eq!(loaded, gw);

    // 3. What each worker builds from the loaded gateway: a route table per
    //    listener and its upstream pools (as `server::core::Active::build`).
    let build = time(RUNS, || {
        let tables: Vec<Table> = (0..loaded.listeners.len())
            .map(|l| Table::build(&loaded, l))
            .collect();
        (tables, Pools::new(&loaded))
    });
    let routes_only = time(RUNS, || Table::build(&loaded, 0));

    std::fs::remove_dir_all(&work).unwrap();

    let rows = [
        ("`tollgate compile` (process, wall clock)", compile, None),
        (
            "… of which config load + validate + resolve (in process)",
            config_load,
            None,
        ),
        ("… of which encode (rkyv + SHA-256)", encode, None),
        (
            "load + validate snapshot (`read_current`: read, hashes, bytecheck, deserialize, checks)",
            load,
            Some(LOAD_TARGET),
        ),
        ("… of which `decode` from memory", decode, None),
        (
            "per-worker build (route tables of every listener + upstream pools)",
            build,
            Some(BUILD_TARGET),
        ),
        ("… of which `route::Table::build`", routes_only, None),
    ];
    let mut table = String::from("| step | median | target |\n|---|---:|---|\n");
    for (name, d, target) in rows {
        let target = target.map_or(String::new(), |t| {
            format!("< {} ms: {}", t.as_millis(), verdict(d, t))
        });
        writeln!(table, "| {name} | {} | {target} |", ms(d)).unwrap();
    }
    let summary = format!(
        "{ROUTES} routes (+ `$default`), one API and listener; snapshot {} bytes, id {}; medians of {COMPILE_RUNS} runs (compile, config load) and {RUNS} (others).\n\n{table}\nTargets: load+validate < 50 ms: {} ({}); per-worker build < 20 ms: {} ({}).\n",
        bytes.len(),
        ids[0],
        verdict(load, LOAD_TARGET),
        ms(load),
        verdict(build, BUILD_TARGET),
        ms(build),
    );
    print!("{summary}");

    if let Some(results) = results {
        let section = format!(
            "<!-- bench:snapshot:start -->\n## Snapshots: compile, load, per-worker build\n\n- date: {}\n- machine: {}\n- command: `bash bench/snapshot.sh` (release build)\n\n{summary}<!-- bench:snapshot:end -->\n",
            date(),
            machine(),
        );
        write_section(&results, &section);
        println!("wrote {}", results.display());
    }
}

/// Replace the `bench:snapshot` section of `path`, or add it at the end.
fn write_section(path: &Path, section: &str) {
    const START: &str = "<!-- bench:snapshot:start -->";
    const END: &str = "<!-- bench:snapshot:end -->";
    let old = std::fs::read_to_string(path).unwrap_or_else(|_| {
        "# tollgate benchmark results\n\nWritten by the bench scripts; each script owns one marked section.\n".to_owned()
    });
    let new = match (old.find(START), old.find(END)) {
        (Some(a), Some(b)) if a < b => {
            let after = old[b + END.len()..]
                .strip_prefix('\n')
                .unwrap_or(&old[b + END.len()..]);
            format!("{}{section}{after}", &old[..a])
        }
        _ => format!(
            "{}\n{section}",
            old.trim_end_matches('\n').to_owned() + "\n"
        ),
    };
    std::fs::write(path, new).unwrap();
}

fn date() -> String {
    Command::new("date")
        .args(["-u", "+%Y-%m-%d %H:%M:%S UTC"])
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned())
        .unwrap_or_default()
}

fn machine() -> String {
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split_once(':'))
                .map(|(_, v)| v.trim().to_owned())
        })
        .unwrap_or_else(|| "unknown CPU".to_owned());
    let cpus = std::thread::available_parallelism().map_or(0, |n| n.get());
    let kernel = std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap_or_default();
    format!("{cpu} ({cpus} CPUs), kernel {}", kernel.trim())
}
