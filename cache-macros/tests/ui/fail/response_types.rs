//! An HTTP response is not a value to store.
use cache_core::memoize;

pub trait IntoResponse {}
impl IntoResponse for () {}

#[memoize]
async fn page(id: u64) -> impl IntoResponse {
    let _ = id;
}

#[memoize]
async fn fallible(id: u64) -> Result<impl IntoResponse, String> {
    let _ = id;
    Ok(())
}

// A response type, as `axum::response::Response`.
pub struct Response {
    pub status: u16,
}

#[memoize]
async fn raw(id: u64) -> Response {
    Response { status: id as u16 }
}

fn main() {}
