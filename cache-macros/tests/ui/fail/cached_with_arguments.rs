use cache_core::cached;

// One entry for every `x`: square(3) would return square(2)'s 4.
#[cached]
fn square(x: u64) -> u64 {
    x * x
}

// `b` is not ignored.
#[cached(timeout = 60, ignore(a))]
async fn greet(a: u64, b: &str) -> String {
    format!("{a} {b}")
}

// The names a pattern binds are arguments too; a `_` argument needs no listing.
#[cached]
fn area((w, h): (u32, u32), _: u8) -> u32 {
    w * h
}

struct Site {
    name: String,
}

impl Site {
    // The receiver is an argument too: every `Site` would get the first one's banner.
    #[cached]
    fn banner(&self) -> String {
        format!("welcome to {}", self.name)
    }
}

#[tokio::main]
async fn main() {
    // One error per function above, and none here: the function and the
    // stubs of its helpers are still emitted.
    let _ = square(2);
    let _ = square_invalidate();
    let _ = square_invalidate_all();
    let _ = square_refresh(2);
    let _ = square_uncached(2);
    let _ = greet(1, "a").await;
    let _ = greet_invalidate().await;
    let _ = greet_invalidate_all().await;
    let _ = greet_refresh(1, "a").await;
    let _ = greet_uncached(1, "a").await;
    let _ = area((1, 2), 0);
    let _ = area_refresh((1, 2), 0);
    let site = Site { name: "a".into() };
    let _ = site.banner();
    let _ = site.banner_invalidate();
    let _ = site.banner_invalidate_all();
    let _ = site.banner_refresh();
    let _ = site.banner_uncached();
}
