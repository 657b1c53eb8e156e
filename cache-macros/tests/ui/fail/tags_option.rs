use cache_core::memoize;

#[memoize(tags = "user:{id}")]
fn a(id: u64) -> u64 {
    id
}

#[memoize(tags = ["user:{id}", TAG, 5])]
fn b(id: u64) -> u64 {
    id
}

#[memoize(tags = ["user:{user}", "{id}{id}", "100%:{id}", "{"])]
fn c(id: u64) -> u64 {
    id
}

struct NotDisplay;

#[memoize(ignore(who), tags = ["who:{who}"])]
fn d(id: u64, who: NotDisplay) -> u64 {
    let _ = who;
    id
}

const TAG: &str = "t";

fn main() {}
