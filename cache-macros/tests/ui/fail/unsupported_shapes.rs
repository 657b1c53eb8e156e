use cache_core::memoize;

#[memoize]
struct NotAFunction;

#[memoize]
const fn f(id: u64) -> u64 {
    id
}

#[memoize]
unsafe extern "C" fn g(id: u64) -> u64 {
    id
}

fn main() {}
