use cache_core::memoize;

#[memoize(timout = 60)]
fn f(x: u64) -> u64 {
    x
}

#[memoize(cache::x = 1, ttl)]
fn g(x: u64) -> u64 {
    x
}

fn main() {
    // No "cannot find function" noise: the function is still emitted.
    f(1);
    g(1);
}
