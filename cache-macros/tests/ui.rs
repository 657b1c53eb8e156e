//! Compile tests of `#[memoize]` and `#[cached]`: every supported function
//! shape compiles (and runs: each pass case checks its own behaviour), and
//! every misuse fails with a spanned, helpful error (the checked-in
//! `.stderr` files). Regenerate those with `TRYBUILD=overwrite cargo test
//! -p cache-macros --test ui` and review the diff.

#[test]
fn ui() {
    let t = trybuild::TestCases::new();
    t.pass("tests/ui/pass/*.rs");
    t.compile_fail("tests/ui/fail/*.rs");
}
