//! Processes with near caches on one Redis never read a value older than
//! the last acknowledged write plus the lag bound.
//!
//! The test spawns this same binary as child processes (the `child` test,
//! which does nothing unless `NEAR_CHILD_LOG` is set). Each child runs
//! tasks doing random reads, writes (some with a short timeout),
//! deletes and clears on a shared key set through a cache with a near
//! cache, and logs every operation with its start and end (wall clock:
//! the processes share the host's). The parent then checks every read
//! that returned a value: it is stale if a write, delete or clear of its
//! key that began after the value's write was acknowledged was itself
//! acknowledged more than [`LAG`] before the read began, or if the
//! value's timeout (plus [`LAG`]) had passed. Zero stale reads allowed.
//!
//! The default run lasts a few seconds per scenario; set
//! `NEAR_CACHE_LONG=1` for ~20 s each. One scenario kills the tracking
//! connections (`CLIENT KILL`) and restarts Redis in the middle.

use std::collections::HashMap;
use std::io::Write;
use std::process::Command;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use cache_core::Cache;
use cache_tests::redis_server::RedisServer;

/// How long after a write is acknowledged another process may still read
/// the value it replaced. The invalidation lag itself is milliseconds
/// (measured by the `near` bench); this bound leaves room for a loaded
/// machine's scheduling.
const LAG: Duration = Duration::from_secs(1);

const KEYS: u64 = 16;
const SHORT_TTL: Duration = Duration::from_millis(300);

fn now_us() -> u64 {
    u64::try_from(
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_micros(),
    )
    .unwrap()
}

fn run_length() -> Duration {
    if std::env::var_os("NEAR_CACHE_LONG").is_some() {
        Duration::from_secs(20)
    } else {
        Duration::from_secs(3)
    }
}

/// A small deterministic generator (no dependency for this).
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
}

/// The child: runs the workload and writes its log.
#[test]
fn child() {
    let (Ok(log), Ok(url), Ok(index)) = (
        std::env::var("NEAR_CHILD_LOG"),
        std::env::var("NEAR_CHILD_URL"),
        std::env::var("NEAR_CHILD_INDEX"),
    ) else {
        return; // run by the parent only
    };
    let index: u64 = index.parse().unwrap();
    let length = Duration::from_millis(std::env::var("NEAR_CHILD_MS").unwrap().parse().unwrap());
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let lines = runtime.block_on(async move {
        let cache = Cache::builder()
            .url(url)
            .key_prefix("race")
            .near_cache(1 << 20)
            .build()
            .unwrap();
        let tasks: Vec<_> = (0..4u64)
            .map(|task| {
                let cache = cache.clone();
                tokio::spawn(async move { work(&cache, index, task, length).await })
            })
            .collect();
        let mut lines = Vec::new();
        for task in tasks {
            lines.extend(task.await.unwrap());
        }
        let stats = cache.near_cache_stats().unwrap();
        lines.push(format!("S {} {}", stats.invalidations, stats.flushes));
        lines
    });
    let mut file = std::fs::File::create(log).unwrap();
    for line in lines {
        writeln!(file, "{line}").unwrap();
    }
}

/// One task's operations, as log lines:
/// `R key value start end` (value 0: none), `W key value start end ttl_ms ok`,
/// `D key start end ok`, `C start end ok`.
async fn work(cache: &Cache, process: u64, task: u64, length: Duration) -> Vec<String> {
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15 ^ (process << 32) ^ (task + 1));
    let mut counter = 0u64;
    let mut lines = Vec::new();
    let end = std::time::Instant::now() + length;
    while std::time::Instant::now() < end {
        let key = rng.next() % KEYS;
        let name = format!("k{key}");
        let dice = rng.next() % 1000;
        let start = now_us();
        if dice < 750 {
            let read = cache.get::<u64>(&name).await;
            let stop = now_us();
            if let Ok(value) = read {
                lines.push(format!("R {key} {} {start} {stop}", value.unwrap_or(0)));
            }
        } else if dice < 960 {
            counter += 1;
            let value = (process + 1) << 48 | (task + 1) << 40 | counter;
            let ttl = if dice < 800 {
                SHORT_TTL
            } else {
                Duration::from_secs(60)
            };
            let ok = cache.set(&name, &value, ttl).await.is_ok();
            let stop = now_us();
            lines.push(format!(
                "W {key} {value} {start} {stop} {} {}",
                ttl.as_millis(),
                u8::from(ok)
            ));
        } else if dice < 997 {
            let ok = cache.delete(&name).await.is_ok();
            let stop = now_us();
            lines.push(format!("D {key} {start} {stop} {}", u8::from(ok)));
        } else {
            let ok = cache.clear().await.is_ok();
            let stop = now_us();
            lines.push(format!("C {start} {stop} {}", u8::from(ok)));
        }
        if rng.next() % 8 == 0 {
            tokio::time::sleep(Duration::from_micros(200)).await;
        }
    }
    lines
}

struct Write_ {
    start: u64,
    end: u64,
    ttl_ms: u64,
}

/// Spawns `processes` children for `length`; `middle` runs on the parent
/// half-way through. Returns the children's logs.
fn run(
    server: &mut RedisServer,
    processes: u64,
    middle: impl FnOnce(&mut RedisServer),
) -> Vec<String> {
    let dir = tempfile::tempdir().unwrap();
    let length = run_length();
    let exe = std::env::current_exe().unwrap();
    let children: Vec<_> = (0..processes)
        .map(|i| {
            Command::new(&exe)
                .args(["child", "--exact", "--nocapture", "--test-threads=1"])
                .env("NEAR_CHILD_LOG", dir.path().join(format!("{i}.log")))
                .env(
                    "NEAR_CHILD_URL",
                    format!(
                        "{}?response_timeout=500ms&connect_timeout=500ms",
                        server.url()
                    ),
                )
                .env("NEAR_CHILD_INDEX", i.to_string())
                .env("NEAR_CHILD_MS", length.as_millis().to_string())
                .spawn()
                .unwrap()
        })
        .collect();
    std::thread::sleep(length / 2);
    middle(server);
    let mut logs = Vec::new();
    for (i, mut child) in children.into_iter().enumerate() {
        let status = child.wait().unwrap();
        assert!(status.success(), "child {i} failed: {status}");
        logs.push(std::fs::read_to_string(dir.path().join(format!("{i}.log"))).unwrap());
    }
    logs
}

/// Checks the logs; returns (reads that returned a value, stale reads,
/// invalidations seen).
fn check(logs: &[String]) -> (usize, Vec<String>, u64) {
    let lag = u64::try_from(LAG.as_micros()).unwrap();
    let mut writes: HashMap<u64, Write_> = HashMap::new();
    // Per key: (start, end) of the acknowledged writes, deletes and clears.
    let mut changes: HashMap<u64, Vec<(u64, u64)>> = HashMap::new();
    let mut reads = Vec::new();
    let mut invalidations = 0;
    for log in logs {
        for line in log.lines() {
            let f: Vec<&str> = line.split(' ').collect();
            let n = |i: usize| f[i].parse::<u64>().unwrap();
            match f[0] {
                "R" => reads.push((n(1), n(2), n(3), line.to_owned())),
                "W" => {
                    writes.insert(
                        n(2),
                        Write_ {
                            start: n(3),
                            end: n(4),
                            ttl_ms: n(5),
                        },
                    );
                    if n(6) == 1 {
                        changes.entry(n(1)).or_default().push((n(3), n(4)));
                    }
                }
                "D" if n(4) == 1 => changes.entry(n(1)).or_default().push((n(2), n(3))),
                "C" if n(3) == 1 => {
                    for key in 0..KEYS {
                        changes.entry(key).or_default().push((n(1), n(2)));
                    }
                }
                "S" => invalidations += n(1),
                _ => {}
            }
        }
    }
    let mut stale = Vec::new();
    let mut valued = 0;
    for (key, value, start, line) in reads {
        if value == 0 {
            continue;
        }
        valued += 1;
        let write = writes.get(&value).expect("a value read was written");
        assert!(
            write.start <= start + lag,
            "read before its write began: {line}"
        );
        let expired = write.end + write.ttl_ms * 1000 + lag < start;
        let superseded = changes
            .get(&key)
            .into_iter()
            .flatten()
            .any(|&(s, e)| s > write.end && e + lag < start);
        if expired || superseded {
            stale.push(line);
        }
    }
    (valued, stale, invalidations)
}

/// One scenario at a time: each runs several processes.
static ONE_AT_A_TIME: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn scenario(processes: u64, faults: bool) {
    let _one = ONE_AT_A_TIME
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    let mut server = RedisServer::start();
    let logs = run(&mut server, processes, |server| {
        if faults {
            let ids: Vec<String> = server
                .cli(&["CLIENT", "LIST"])
                .lines()
                .filter(|l| {
                    l.split(' ')
                        .any(|f| f.starts_with("flags=") && f.contains('t'))
                })
                .filter_map(|l| {
                    l.split(' ')
                        .find_map(|f| f.strip_prefix("id="))
                        .map(str::to_owned)
                })
                .collect();
            assert_eq!(
                ids.len(),
                usize::try_from(processes).unwrap(),
                "one tracking connection per process"
            );
            for id in ids {
                server.cli(&["CLIENT", "KILL", "ID", &id]);
            }
            std::thread::sleep(run_length() / 6);
            server.restart();
        }
    });
    let (valued, stale, invalidations) = check(&logs);
    eprintln!(
        "{processes} processes{}: {valued} reads returned a value, {} stale; {invalidations} invalidations",
        if faults { " (kill + restart)" } else { "" },
        stale.len()
    );
    assert!(
        valued > 1000,
        "too few reads returned a value ({valued}) to say anything"
    );
    assert!(
        invalidations > 100,
        "the processes saw {invalidations} invalidations"
    );
    assert!(
        stale.is_empty(),
        "{} of {valued} reads were stale, e.g. {:?}",
        stale.len(),
        &stale[..stale.len().min(5)]
    );
}

#[test]
fn two_processes_never_read_stale_values() {
    scenario(2, false);
}

#[test]
fn four_processes_never_read_stale_values() {
    scenario(4, false);
}

#[test]
fn killed_tracking_connections_and_a_restart_leave_no_stale_reads() {
    scenario(2, true);
}

#[test]
fn four_processes_through_a_kill_and_a_restart_read_no_stale_values() {
    scenario(4, true);
}

#[test]
fn the_checker_finds_stale_reads() {
    let s = 1_000_000u64;
    let log = |lines: &[String]| lines.join("\n");
    // Value 1 written at 1 s, replaced by value 2 at 2 s.
    let base = [
        format!("W 3 1 {} {} 60000 1", s, s + 10),
        format!("W 3 2 {} {} 60000 1", 2 * s, 2 * s + 10),
    ];
    let fresh = log(&[
        base[0].clone(),
        base[1].clone(),
        format!("R 3 1 {} {}", 2 * s + 500, 2 * s + 600),
    ]);
    assert!(check(&[fresh]).1.is_empty(), "within the lag bound");
    let stale = log(&[
        base[0].clone(),
        base[1].clone(),
        format!("R 3 1 {} {}", 4 * s, 4 * s + 100),
    ]);
    assert_eq!(check(&[stale]).1.len(), 1);
    // A clear, an expiry.
    let cleared = log(&[
        base[0].clone(),
        format!("C {} {} 1", 2 * s, 2 * s + 5),
        format!("R 3 1 {} {}", 4 * s, 4 * s + 1),
    ]);
    assert_eq!(check(&[cleared]).1.len(), 1);
    let expired = log(&[
        format!("W 3 1 {} {} 300 1", s, s + 10),
        format!("R 3 1 {} {}", 3 * s, 3 * s + 1),
    ]);
    assert_eq!(check(&[expired]).1.len(), 1);
}
