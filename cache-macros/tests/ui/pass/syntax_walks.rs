//! What the macro reads from the function's syntax: whether it is in an
//! `impl` block (it names `Self`) and whether an argument lends a `&mut`.
//! Each case here was misread by a scan of the tokens.
#![deny(warnings, missing_docs)]

use cache_core::{cached, memoize};

/// A repository with associated functions only.
pub struct Repo;

impl Repo {
    const BASE: u64 = 100;

    /// `Self` after a function-pointer type: the token scan took `fn` for
    /// a nested function and skipped what followed it.
    #[memoize]
    pub fn shifted(id: u64) -> u64 {
        let double: fn(u64) -> u64 = |x| 2 * x;
        double(id) + Self::BASE
    }

    /// `Self` only inside a macro's arguments.
    #[memoize]
    pub fn label(id: u64) -> String {
        format!("{}:{id}", Self::BASE)
    }

    /// `Self` only in an option.
    #[memoize(timeout = Self::BASE)]
    pub fn plain(id: u64) -> u64 {
        id
    }
}

/// A free function whose nested type names its own `Self`: that `Self` is
/// not the function's, so the function is keyed as a free function.
#[memoize]
pub fn depth(n: u32) -> u32 {
    struct Chain {
        next: Option<Box<Self>>,
    }
    let mut chain = Chain { next: None };
    for _ in 0..n {
        chain = Chain {
            next: Some(Box::new(chain)),
        };
    }
    let mut depth = 0;
    let mut link = &chain;
    while let Some(next) = &link.next {
        depth += 1;
        link = next;
    }
    depth
}

/// A free function with a nested `impl` block, whose `Self` is its own.
#[memoize]
pub fn nested_impl(n: u32) -> u32 {
    struct Half(u32);
    impl Half {
        fn of(n: u32) -> Self {
            Self(n / 2)
        }
    }
    Half::of(n).0
}

/// A function pointer and a closure that take `&mut`: the caller lends
/// nothing mutable, so the arguments are accepted (and left out of the key).
#[cached(ignore(fill, fix))]
pub fn filled(fill: fn(&mut Vec<u8>), fix: &dyn Fn(&mut Vec<u8>)) -> Vec<u8> {
    let mut buf = Vec::new();
    fill(&mut buf);
    fix(&mut buf);
    buf
}

fn main() {
    assert_eq!(Repo::shifted(1), 102);
    assert!(Repo::shifted_invalidate(1).unwrap());
    assert_eq!(Repo::label(7), "100:7");
    assert!(Repo::label_invalidate(7).unwrap());
    assert_eq!(Repo::plain(5), 5);
    assert!(Repo::plain_invalidate(5).unwrap());

    assert_eq!(depth(3), 3);
    assert!(depth_invalidate(3).unwrap());
    assert_eq!(nested_impl(9), 4);

    assert_eq!(filled(|b| b.push(1), &|b| b.push(2)), [1, 2]);
    assert_eq!(filled(|b| b.push(9), &|b| b.push(9)), [1, 2], "one entry");
    assert!(filled_invalidate().unwrap());
}
