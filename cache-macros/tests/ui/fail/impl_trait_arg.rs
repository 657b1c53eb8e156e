use cache_core::memoize;

#[memoize]
fn f(name: impl std::fmt::Display, id: u64) -> String {
    format!("{name} {id}")
}

#[memoize]
fn g(ids: Vec<impl serde::Serialize>) -> usize {
    ids.len()
}

#[memoize]
fn h(id: u64) -> impl std::fmt::Display {
    id
}

fn main() {}
