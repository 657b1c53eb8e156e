//! Types whose bincode encodings line up byte for byte, for tests of the
//! shape rule: a value written as one must never be read as another.

use serde::{Deserialize, Serialize};

/// Two `u32` fields named `a` and `b`.
///
/// ```
/// let a = cache_tests::look_alike::A { a: 1, b: 2 };
/// assert_eq!(a.a + a.b, 3);
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct A {
    /// The first field.
    pub a: u32,
    /// The second field.
    pub b: u32,
}

/// [`A`]'s fields under another type name.
///
/// ```
/// let b = cache_tests::look_alike::B { a: 1, b: 2 };
/// assert_eq!(b.b, 2);
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct B {
    /// The first field.
    pub a: u32,
    /// The second field.
    pub b: u32,
}
