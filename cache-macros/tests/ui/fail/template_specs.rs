//! Format specs and fields in key templates that would let two values
//! share a key, or that name nothing.
use cache_core::{cached, memoize};

// A precision rounds: 1.001 and 1.004 would share `1.00`.
#[memoize(key = "price:{x:.2}")]
fn price(x: f64) -> f64 {
    x
}

// A `0` fill pads 5 into `5000`, as 5000 is written.
#[memoize(key = "n:{n:0<4}")]
fn fill(n: u64) -> u64 {
    n
}

// A width from another argument.
#[memoize(key = "n:{n:1$}")]
fn width_arg(n: u64) -> u64 {
    n
}

// An address changes from run to run.
#[memoize(key = "p:{p:p}")]
fn address(p: &u64) -> u64 {
    *p
}

// A method call is not a field.
#[memoize(key = "user:{name.len()}")]
fn method(name: String) -> usize {
    name.len()
}

// `self` in a free function.
#[cached(key = "t:{self.tenant}")]
fn no_self(id: u64) -> u64 {
    id
}

// A width on a string: "a" and "a   " would share a key.
#[memoize(key = "name:{name:8}")]
fn padded(name: String) -> String {
    name
}

// A field that is not there.
pub struct User {
    pub id: u64,
}

#[memoize(key = "user:{user.name}")]
fn field(user: &User) -> u64 {
    user.id
}

fn main() {}
