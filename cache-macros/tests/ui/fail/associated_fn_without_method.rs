use cache_core::memoize;

struct Repo;

impl Repo {
    // Neither `self` nor `Self`: without `method`, the macro cannot tell
    // this from a free function.
    #[memoize]
    fn load(id: u64) -> u64 {
        id
    }
}

fn main() {
    let _ = Repo::load(1);
}
