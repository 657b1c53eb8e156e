use cache_core::{cached, memoize};

#[memoize(timeout = 60, timeout = 120)]
fn f(x: u64) -> u64 {
    x
}

#[cached(result, ignore(x), result)]
fn g(x: u64) -> Result<u64, ()> {
    Ok(x)
}

fn main() {}
