//! `invalidate_tag` on a real redis-server: a tag on 10,000 entries, in a
//! keyspace of 100,000 keys and of 1,000,000 keys. The cost follows the
//! tag's entries, not the keyspace. For contrast, `clear` of a prefix
//! holding the same 10,000 entries, which must `SCAN` the whole keyspace.
//!
//! Always starts its own server (through the test harness, with `DEBUG`
//! enabled to fill the keyspace with `DEBUG POPULATE`): it empties it
//! between groups, which it must never do to a server it did not start.
//!
//! ```text
//! cargo bench -p cache-tests --bench tags
//! ```
//!
//! Each iteration lists 10,000 entries under the tag (an `MSET` and a
//! `ZADD` of the index, untimed), then times one `invalidate_tag` (one
//! script taking the index, one `UNLINK` of the 10,000 keys).
//!
//! Measured on 2 shared cores, redis-server 7.0.15 (medians; the machine
//! was busy, so expect ±30%): `invalidate_tag` of 10k entries took 9.6 ms
//! among 100k keys and 18.6 ms among 1M keys (no command reads the
//! keyspace; per-key lookups slow down in a larger hash table), while
//! `clear` of the same 10k entries took 245 ms and 2.94 s.

use std::time::{Duration, Instant};

use cache_core::Cache;
use cache_tests::redis_server::RedisServer;
use criterion::{criterion_group, criterion_main, Criterion};

/// Entries under the tag.
const TAGGED: usize = 10_000;

/// Lists `TAGGED` entries of `cache` under `tag`, in one round trip, as
/// tagged writes that never expire would have left them.
async fn fill_tag(conn: &mut redis::aio::MultiplexedConnection, cache: &Cache, tag: &str) {
    let keys: Vec<String> = (0..TAGGED)
        .map(|i| cache.full_key(&format!("item:{i}")))
        .collect();
    let index = format!("{}!{tag}", cache.key_prefix());
    let mut pipe = redis::pipe();
    let mut mset = redis::cmd("MSET");
    for key in &keys {
        mset.arg(key).arg(b"\x01value".as_slice());
    }
    pipe.add_command(mset).ignore();
    let mut zadd = redis::cmd("ZADD");
    zadd.arg(&index);
    for key in &keys {
        zadd.arg("inf").arg(key);
    }
    pipe.add_command(zadd).ignore();
    let () = pipe.query_async(conn).await.expect("fill the tag");
}

fn invalidate_tag(c: &mut Criterion) {
    let server = RedisServer::start_with_args(&["--enable-debug-command", "yes"]);
    let rt = tokio::runtime::Runtime::new().expect("a runtime");
    let client = redis::Client::open(server.url()).expect("the harness URL");
    let mut conn = rt
        .block_on(client.get_multiplexed_async_connection())
        .expect("connect");
    let cache = Cache::builder()
        .url(server.url())
        .key_prefix("bench")
        .build()
        .expect("the harness URL");
    let mut group = c.benchmark_group("tags");
    group
        .sample_size(20)
        .measurement_time(Duration::from_secs(10));
    for keyspace in [100_000usize, 1_000_000] {
        server.cli(&["FLUSHALL"]);
        // The untagged keys: other programs' or this cache's, it is the
        // same to the store.
        server.cli(&["DEBUG", "POPULATE", &keyspace.to_string(), "filler", "16"]);
        group.bench_function(format!("invalidate_tag 10k of {keyspace} keys"), |b| {
            b.iter_custom(|iters| {
                rt.block_on(async {
                    let mut total = Duration::ZERO;
                    for _ in 0..iters {
                        fill_tag(&mut conn, &cache, "hot").await;
                        let started = Instant::now();
                        let removed = cache.invalidate_tag("hot").await.expect("invalidate");
                        total += started.elapsed();
                        assert_eq!(removed, TAGGED as u64);
                    }
                    total
                })
            });
        });
        group.bench_function(format!("clear 10k of {keyspace} keys (SCAN)"), |b| {
            b.iter_custom(|iters| {
                rt.block_on(async {
                    let mut total = Duration::ZERO;
                    for _ in 0..iters {
                        fill_tag(&mut conn, &cache, "hot").await;
                        let started = Instant::now();
                        let removed = cache.clear().await.expect("clear");
                        total += started.elapsed();
                        assert_eq!(removed, TAGGED as u64 + 1, "the entries and the index");
                    }
                    total
                })
            });
        });
        let dbsize: usize = server.cli(&["DBSIZE"]).parse().expect("a count");
        assert_eq!(dbsize, keyspace, "only the filler is left");
    }
    group.finish();
}

criterion_group!(benches, invalidate_tag);
criterion_main!(benches);
