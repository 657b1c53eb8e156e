use cache_core::{cached, memoize};

// The old meaning of `unless`, a filter on the result: that is `store_if`.
#[memoize(unless = |v: &Vec<u32>| v.is_empty())]
fn search(query: &str) -> Vec<u32> {
    query.bytes().map(u32::from).collect()
}

#[cached(unless = (|v: &String| v.is_empty()))]
fn banner() -> String {
    String::new()
}

// `unless` is a `bool` expression over the arguments.
#[memoize(unless = id)]
fn load(id: u64) -> u64 {
    id
}

fn main() {
    let _ = search("a");
    let _ = search_invalidate("a");
    let _ = banner();
    let _ = banner_refresh();
    let _ = load(1);
}
