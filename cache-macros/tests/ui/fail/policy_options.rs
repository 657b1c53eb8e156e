use cache_core::memoize;

#[memoize(refresh_ahead = 1.5)]
async fn past_one(id: u64) -> u64 {
    id
}

#[memoize(fail_safe = "10 parsecs")]
fn bad_unit(id: u64) -> u64 {
    id
}

#[memoize(lock = global)]
fn bad_lock(id: u64) -> u64 {
    id
}

#[memoize(hard_timeout = 0)]
fn zero(id: u64) -> u64 {
    id
}

#[memoize(fail_safe = 60, fail_safe = 120)]
fn twice(id: u64) -> u64 {
    id
}

fn main() {}
