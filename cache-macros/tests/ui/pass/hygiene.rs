//! The expansion names everything by absolute path: it works in a module
//! without the prelude, next to items that shadow `Result`, `Option`, `Ok`,
//! `Some` and `core`.
#![deny(warnings, missing_docs)]

/// Shadows the prelude's names.
pub mod shadowing {
    #![allow(dead_code)]
    type Result<T> = ::std::result::Result<T, ::std::string::String>;
    struct Ok;
    struct Some;
    struct None;
    enum Option {}
    mod core {}
    mod std {}
    mod cache_core {}

    /// A memoized function among all of that.
    #[::cache_core::memoize]
    pub fn f(x: u32) -> ::core::option::Option<u32> {
        ::core::option::Option::Some(x)
    }

    /// A `Result` alias ends in `Result`.
    #[::cache_core::memoize]
    pub fn g(x: u32) -> Result<u32> {
        ::core::result::Result::Ok(x)
    }
}

/// No prelude at all.
pub mod bare {
    #![no_implicit_prelude]

    /// Memoized without the prelude.
    #[::cache_core::memoize]
    pub async fn h(x: u32) -> u32 {
        x
    }
}

#[tokio::main]
async fn main() {
    assert_eq!(shadowing::f(1), Some(1));
    assert_eq!(shadowing::g(1), Ok(1));
    assert_eq!(bare::h(1).await, 1);
}
