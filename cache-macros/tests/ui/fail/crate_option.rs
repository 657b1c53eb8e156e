use cache_core::memoize;

#[memoize(crate = 3)]
fn a(x: u64) -> u64 {
    x
}

#[memoize(crate = "not a path")]
fn b(x: u64) -> u64 {
    x
}

#[memoize(crate = cache_core::<u8>)]
fn c(x: u64) -> u64 {
    x
}

#[memoize(crate = cache_core, timeout = 1, crate = cache_core)]
fn d(x: u64) -> u64 {
    x
}

#[memoize(crate)]
fn e(x: u64) -> u64 {
    x
}

fn main() {
    // The functions and their helpers are still there: no more errors.
    a(1);
    b(1);
    c(1);
    d(1);
    e(1);
    let _ = a_invalidate(1);
}
