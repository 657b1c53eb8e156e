use cache_core::memoize;

struct Conn;

#[memoize]
fn f(conn: &Conn, id: u64) -> u64 {
    let _ = conn;
    id
}

fn main() {}
