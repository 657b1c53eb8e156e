//! A `crate` path that resolves but does not re-export cache-core's hidden
//! `__private` module: errors on the path, and nowhere else.

/// Re-exports the macro only.
mod facade {
    pub use cache_core::memoize;
}

#[facade::memoize(crate = facade)]
fn f(x: u64) -> u64 {
    x
}

fn main() {
    f(1);
}
