use cache_core::{cached, memoize};

// Without a separator, `(1, 23)` and `(12, 3)` would both give `123`.
#[memoize(key = "{a}{b}")]
fn f(a: u64, b: u64) -> u64 {
    a + b
}

// `-` is written as is in values: `user-{id}` could be read as `user` and `-{id}`.
#[memoize(key = "user-{id}")]
fn g(id: i64) -> i64 {
    id
}

#[memoize(key = "{id}v2")]
fn h(id: u64) -> u64 {
    id
}

// `%` is the escape character of the values.
#[cached(key = "100%:{id}")]
fn i(id: u64) -> u64 {
    id
}

fn main() {
    // The functions are still there: no follow-on errors.
    f(1, 2);
    g(1);
    h(1);
    i(1);
}
