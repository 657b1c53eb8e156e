//! `key = |…| …` mistakes.
use cache_core::memoize;

fn make_key(id: &u64) -> u64 {
    *id
}

// A function path: the macro cannot see which arguments it reads.
#[memoize(key = make_key)]
fn by_path(id: u64) -> u64 {
    id
}

// A parameter must name an argument.
#[memoize(key = |user| *user)]
fn unknown(id: u64) -> u64 {
    id
}

// The closure reads `lang` without taking it.
#[memoize(key = |id| (*id, lang.len()))]
fn reads_more(id: u64, lang: String) -> String {
    format!("{id}{lang}")
}

// Patterns are not parameters.
#[memoize(key = |(a, b)| a + b)]
fn pattern(pair: (u64, u64)) -> u64 {
    pair.0
}

// The key is computed before the lookup: no `async`.
#[memoize(key = async |id| *id)]
async fn not_async(id: u64) -> u64 {
    id
}

// `ignore` has no effect with a closure.
#[memoize(key = |id| *id, ignore(name))]
fn ignored(id: u64, name: &str) -> u64 {
    id + name.len() as u64
}

// The key must be `Serialize`.
struct NotSerialize;

#[memoize(key = |id| { let _ = id; NotSerialize })]
fn not_serialize(id: u64) -> u64 {
    id
}

// Parameters are references to the arguments.
#[memoize(key = |id: u64| id)]
fn by_value(id: u64) -> u64 {
    id
}

fn main() {}
