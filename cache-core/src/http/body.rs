//! The response body the layer hands out, and reading a body up to a limit.

use std::collections::VecDeque;
use std::fmt;
use std::future::poll_fn;
use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::{Buf, Bytes, BytesMut};
use http_body::{Body, Frame, SizeHint};
use pin_project_lite::pin_project;

pin_project! {
    /// The body of a response from [`CacheService`](super::CacheService):
    /// a stored body, a body read whole on a miss, or the inner service's
    /// body streamed as it comes (after what was read of it, when the
    /// layer looked at its start and found it too large to store).
    ///
    /// Its data is [`Bytes`] and its errors are the inner body's, so an
    /// axum handler's response body converts with `IntoResponse` as any
    /// other.
    ///
    /// ```
    /// use cache_core::http::CacheBody;
    /// use http_body::Body as _;
    ///
    /// let body: CacheBody<String> = CacheBody::from_bytes("cached".into());
    /// assert_eq!(body.size_hint().exact(), Some(6));
    /// ```
    pub struct CacheBody<B: Body> {
        #[pin]
        kind: Kind<B>,
    }
}

pin_project! {
    #[project = KindProj]
    enum Kind<B: Body> {
        /// A whole body in memory (`None` once yielded, or when empty).
        Full { data: Option<Bytes> },
        /// The inner body, untouched.
        Inner { #[pin] body: B },
        /// What was read of the inner body, then the rest of it (or the
        /// error that ended it).
        Replay {
            read: VecDeque<Frame<Bytes>>,
            failed: Option<B::Error>,
            rest: Option<Pin<Box<B>>>,
        },
    }
}

impl<B: Body> CacheBody<B> {
    /// A body of these bytes.
    ///
    /// ```
    /// let body = cache_core::http::CacheBody::<String>::from_bytes("hi".into());
    /// ```
    pub fn from_bytes(data: Bytes) -> Self {
        let data = (!data.is_empty()).then_some(data);
        Self {
            kind: Kind::Full { data },
        }
    }

    /// The inner service's body, passed through as it is.
    pub(super) fn inner(body: B) -> Self {
        Self {
            kind: Kind::Inner { body },
        }
    }
}

impl<B: Body> fmt::Debug for CacheBody<B> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let kind = match &self.kind {
            Kind::Full { .. } => "Full",
            Kind::Inner { .. } => "Inner",
            Kind::Replay { .. } => "Replay",
        };
        f.debug_struct("CacheBody").field("kind", &kind).finish()
    }
}

/// A frame with its data as `Bytes` (free when it already is).
fn to_bytes<D: Buf>(frame: Frame<D>) -> Frame<Bytes> {
    frame.map_data(|mut data| data.copy_to_bytes(data.remaining()))
}

impl<B: Body> Body for CacheBody<B> {
    type Data = Bytes;
    type Error = B::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, B::Error>>> {
        match self.project().kind.project() {
            KindProj::Full { data } => Poll::Ready(data.take().map(|d| Ok(Frame::data(d)))),
            KindProj::Inner { body } => body
                .poll_frame(cx)
                .map(|frame| frame.map(|r| r.map(to_bytes))),
            KindProj::Replay { read, failed, rest } => {
                if let Some(frame) = read.pop_front() {
                    return Poll::Ready(Some(Ok(frame)));
                }
                if let Some(error) = failed.take() {
                    return Poll::Ready(Some(Err(error)));
                }
                match rest {
                    Some(body) => body
                        .as_mut()
                        .poll_frame(cx)
                        .map(|frame| frame.map(|r| r.map(to_bytes))),
                    None => Poll::Ready(None),
                }
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        match &self.kind {
            Kind::Full { data } => data.is_none(),
            Kind::Inner { body } => body.is_end_stream(),
            Kind::Replay { read, failed, rest } => {
                read.is_empty() && failed.is_none() && rest.as_ref().is_none_or(Body::is_end_stream)
            }
        }
    }

    fn size_hint(&self) -> SizeHint {
        match &self.kind {
            Kind::Full { data } => {
                SizeHint::with_exact(data.as_ref().map_or(0, |d| d.len() as u64))
            }
            Kind::Inner { body } => body.size_hint(),
            Kind::Replay { read, rest, .. } => {
                let buffered: u64 = read
                    .iter()
                    .filter_map(Frame::data_ref)
                    .map(|d| d.len() as u64)
                    .sum();
                let rest = rest
                    .as_ref()
                    .map_or_else(|| SizeHint::with_exact(0), Body::size_hint);
                let mut hint = SizeHint::new();
                hint.set_lower(rest.lower().saturating_add(buffered));
                if let Some(upper) = rest.upper() {
                    hint.set_upper(upper.saturating_add(buffered));
                }
                hint
            }
        }
    }
}

/// What reading a body up to a limit gave.
pub(super) enum Collected<B: Body> {
    /// The whole body: data frames only, at most the limit.
    Complete(Bytes),
    /// A body that cannot be stored (longer than the limit, with trailers,
    /// or failed): what was read of it, then the rest, for the client.
    Passed(CacheBody<B>),
}

/// Reads `body` frame by frame while it stays within `limit` bytes. Past
/// the limit it stops reading and hands back a body that yields what was
/// read and then streams the rest: a large response is never buffered
/// whole.
pub(super) async fn collect<B: Body>(body: B, limit: usize) -> Collected<B> {
    let mut body = Box::pin(body);
    let mut read: VecDeque<Frame<Bytes>> = VecDeque::new();
    let mut len = 0usize;
    let passed = |read, failed, rest| {
        Collected::Passed(CacheBody {
            kind: Kind::Replay { read, failed, rest },
        })
    };
    loop {
        match poll_fn(|cx| body.as_mut().poll_frame(cx)).await {
            None => break,
            Some(Ok(frame)) => {
                let frame = to_bytes(frame);
                let Some(data) = frame.data_ref() else {
                    // Trailers: the layer stores bodies, not trailers.
                    read.push_back(frame);
                    return passed(read, None, Some(body));
                };
                len = len.saturating_add(data.len());
                read.push_back(frame);
                if len > limit {
                    return passed(read, None, Some(body));
                }
            }
            Some(Err(error)) => return passed(read, Some(error), None),
        }
    }
    let data = if read.len() == 1 {
        read.pop_front()
            .and_then(|f| f.into_data().ok())
            .unwrap_or_default()
    } else {
        let mut whole = BytesMut::with_capacity(len);
        for frame in read {
            if let Some(data) = frame.data_ref() {
                whole.extend_from_slice(data);
            }
        }
        whole.freeze()
    };
    Collected::Complete(data)
}

#[cfg(test)]
mod tests {
    use std::convert::Infallible;

    use http_body_util::BodyExt;

    use super::*;

    /// A body of these chunks, one frame each.
    struct Chunks(VecDeque<Bytes>);

    impl Body for Chunks {
        type Data = Bytes;
        type Error = Infallible;

        fn poll_frame(
            mut self: Pin<&mut Self>,
            _: &mut Context<'_>,
        ) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
            Poll::Ready(self.0.pop_front().map(|c| Ok(Frame::data(c))))
        }
    }

    fn chunks(parts: &[&'static str]) -> Chunks {
        Chunks(
            parts
                .iter()
                .map(|p| Bytes::from_static(p.as_bytes()))
                .collect(),
        )
    }

    #[tokio::test]
    async fn a_body_within_the_limit_is_read_whole() {
        match collect(chunks(&["ab", "cd", "e"]), 5).await {
            Collected::Complete(data) => assert_eq!(data, "abcde"),
            Collected::Passed(_) => panic!("5 bytes fit a limit of 5"),
        }
    }

    #[tokio::test]
    async fn a_body_past_the_limit_is_handed_back_whole_and_in_its_chunks() {
        let Collected::Passed(body) = collect(chunks(&["ab", "cd", "ef", "gh"]), 3).await else {
            panic!("8 bytes do not fit a limit of 3");
        };
        let mut body = std::pin::pin!(body);
        let mut seen = Vec::new();
        while let Some(frame) = body.frame().await {
            seen.push(frame.unwrap().into_data().unwrap());
        }
        assert_eq!(seen, ["ab", "cd", "ef", "gh"]);
    }
}
