use cache_core::memoize;

#[memoize(timeout = "60", version = 1.5, key = user, result = true)]
fn f(x: u64) -> u64 {
    x
}

#[memoize(timeout = 5_000_000_000_000_000_000_000, version = 99999999999, timeout = 1u8)]
fn g(x: u64) -> u64 {
    x
}

#[memoize(cache = 5)]
fn h(x: u64) -> u64 {
    x
}

fn main() {}
