use cache_core::{cached, memoize};

#[memoize(ignore(db, self))]
fn f(conn: u64, id: u64) -> u64 {
    conn + id
}

#[memoize(ignore(id, id))]
fn g(id: u64) -> u64 {
    id
}

#[cached(ignore(id))]
fn h(id: u64) -> u64 {
    id
}

#[memoize(key = "{id}", ignore(id))]
fn i(id: u64) -> u64 {
    id
}

fn main() {}
