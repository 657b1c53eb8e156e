use cache_core::memoize;

struct Repo;

impl Repo {
    #[memoize]
    fn find(&self, id: u64) -> u64 {
        id
    }
}

fn main() {}
