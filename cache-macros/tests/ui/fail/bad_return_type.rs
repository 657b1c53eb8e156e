use cache_core::memoize;

struct Profile;

#[memoize]
fn f(id: u64) -> Profile {
    let _ = id;
    Profile
}

#[memoize]
fn g(id: u64) -> std::rc::Rc<u64> {
    std::rc::Rc::new(id)
}

fn main() {}
