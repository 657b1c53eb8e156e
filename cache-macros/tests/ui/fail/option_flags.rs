use cache_core::memoize;

#[memoize(cache_none)]
fn f(id: u64) -> u64 {
    id
}

#[memoize(result, option)]
fn g(id: u64) -> Option<u64> {
    Some(id)
}

fn main() {}
