use cache_core::memoize;

#[memoize]
fn f(buf: &mut Vec<u8>, n: u64) -> u64 {
    buf.push(1);
    n
}

#[memoize]
fn g(items: Vec<&'static mut u8>) -> u64 {
    items.len() as u64
}

#[derive(serde::Serialize)]
struct Counter(u64);

impl Counter {
    #[memoize(ignore(self))]
    fn bump(&mut self) -> u64 {
        self.0 += 1;
        self.0
    }
}

fn main() {}
