#!/usr/bin/env bash
# Runs the benchmarks side by side and prints the ratio table.
#
# Starts its own redis-server on a free loopback port (no persistence, temp
# dir), runs the criterion benches against it, repeats the interleaved
# Redis comparisons until they have PAIRED_RUNS runs (default 5: Redis
# figures swing from one run to the next), measures the same server with
# redis-benchmark for the floor, stops the server, and writes the table to
# tests/benches/RESULTS.md with the machine it ran on.
set -euo pipefail
cd "$(dirname "$0")/.."

source scripts/ensure-redis.sh

dir=$(mktemp -d)
pid=""
cleanup() {
    if [ -n "$pid" ]; then kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; fi
    rm -rf "$dir"
}
trap cleanup EXIT

for _ in $(seq 1 20); do
    port=$(( 20000 + RANDOM % 40000 ))
    redis-server --port "$port" --bind 127.0.0.1 --save "" --appendonly no --dir "$dir" \
        --logfile "$dir/redis.log" >/dev/null 2>&1 &
    pid=$!
    for _ in $(seq 1 50); do
        if redis-cli -p "$port" ping 2>/dev/null | grep -q PONG; then break 2; fi
        if ! kill -0 "$pid" 2>/dev/null; then break; fi
        sleep 0.1
    done
    kill "$pid" 2>/dev/null || true
    pid=""
done
[ -n "$pid" ] || { echo "could not start redis-server"; exit 1; }
echo "==> redis-server $(redis-server --version | sed 's/.*v=\([^ ]*\).*/\1/') on 127.0.0.1:$port"

export BENCH_REDIS_URL="redis://127.0.0.1:$port/0"
# Interleaved results accumulate runs: start afresh.
rm -rf target/criterion/paired
cargo bench --bench memory --bench redis --bench near --bench footprint --bench codec --bench http
for _ in $(seq 2 "${PAIRED_RUNS:-5}"); do
    BENCH_PAIRED=only cargo bench --bench redis
done

floor="$dir/redis-benchmark.md"
{
    echo "| redis-benchmark on the same server | result |"
    echo "|---|---|"
    c1=$(redis-benchmark -p "$port" -c 1 -n 20000 -t get -d 100 -q | tr -d '\r' | grep -o '[0-9.]* requests per second' | head -1 | cut -d' ' -f1)
    c50=$(redis-benchmark -p "$port" -c 50 -n 200000 -t get -d 100 -q | tr -d '\r' | grep -o '[0-9.]* requests per second' | head -1 | cut -d' ' -f1)
    echo "| GET, 1 client (100 B) | ${c1} req/s ($(awk -v r="$c1" 'BEGIN { printf "%.1f", 1e6 / r }') µs per op) |"
    echo "| GET, 50 clients (100 B) | ${c50} req/s |"
} > "$floor"

table=$(cargo run --quiet --release --bin bench_report -- target/criterion "$floor")
echo
echo "$table"

# What callers see when Redis freezes and when a hot key expires: its own
# servers, its own table (not criterion).
resilience=$(cargo bench --quiet --bench resilience 2>/dev/null | grep '^|')

cpu=$(grep -m1 'model name' /proc/cpuinfo 2>/dev/null | cut -d: -f2 | sed 's/^ //' || echo unknown)
{
    echo "# Benchmark results"
    echo
    echo "Last run of \`scripts/bench.sh\` on $(date -u +%Y-%m-%d): $(nproc) cores ($cpu),"
    echo "$(free -g | awk '/Mem:/ {print $2}') GiB, $(rustc --version), redis-server $(redis-server --version | sed 's/.*v=\([^ ]*\).*/\1/')."
    echo "Ratios are ours / theirs for times (lower is better)."
    echo
    echo "$table"
    echo
    echo "## When things go wrong (\`cargo bench --bench resilience\`)"
    echo
    echo "$resilience"
} > tests/benches/RESULTS.md
echo
echo "==> wrote tests/benches/RESULTS.md"
