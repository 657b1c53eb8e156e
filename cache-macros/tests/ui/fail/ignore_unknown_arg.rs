use cache_core::memoize;

#[memoize(ignore(db, self))]
fn f(conn: u64, id: u64) -> u64 {
    conn + id
}

#[memoize(ignore(id, id))]
fn g(id: u64) -> u64 {
    id
}

#[memoize(key = "{id}", ignore(id))]
fn i(id: u64) -> u64 {
    id
}

fn main() {}
