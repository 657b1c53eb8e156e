use cache_core::cached;

#[cached(key = "user:{user}")]
fn f(user_id: u64) -> u64 {
    user_id
}

#[cached(key = "user:{}")]
fn g(user_id: u64) -> u64 {
    user_id
}

#[cached(key = "user:{user_id")]
fn h(user_id: u64) -> u64 {
    user_id
}

struct NotDisplay;

#[cached(key = "user:{user}")]
fn i(user: NotDisplay) -> u64 {
    let _ = user;
    1
}

fn main() {}
