//! The library's error type.

use std::borrow::Cow;
use std::fmt;
use std::sync::Arc;

/// A `Result` whose error is this crate's [`Error`].
///
/// ```
/// fn lookup() -> cache_core::Result<u64> {
///     Ok(1)
/// }
/// assert_eq!(lookup().unwrap(), 1);
/// ```
pub type Result<T, E = Error> = std::result::Result<T, E>;

type BoxError = Box<dyn std::error::Error + Send + Sync + 'static>;

/// What went wrong, in broad strokes. Match on it to decide what to do;
/// read the [`Error`]'s message for the details.
///
/// ```
/// use cache_core::{Error, ErrorKind};
///
/// let err = Error::new(ErrorKind::Config, "unknown scheme `ftp` in `ftp://x`");
/// assert_eq!(err.kind(), ErrorKind::Config);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ErrorKind {
    /// The store could not be reached (refused, reset, DNS, TLS handshake).
    Connection,
    /// The store did not answer within the configured timeout.
    Timeout,
    /// A value could not be encoded, or stored bytes could not be decoded.
    Codec,
    /// The configuration or URL is invalid, or names a disabled feature.
    Config,
    /// The store answered with an error (wrong type, not an integer, …).
    Backend,
    /// A value is larger than the store accepts.
    TooLarge,
    /// An argument is invalid (for example an integer overflow in `incr`).
    InvalidInput,
    /// The store does not offer this operation (for example tags on a
    /// custom [`Backend`](crate::Backend) that does not implement them).
    Unsupported,
    /// Skipped without reaching the store: it failed with a connection
    /// error or a timeout moments ago, and the circuit breaker stays open
    /// until a probe gets an answer (see
    /// [`CacheBuilder::circuit_breaker`](crate::CacheBuilder::circuit_breaker)).
    CircuitOpen,
}

impl ErrorKind {
    /// A short lower-case name for logs and metrics.
    ///
    /// ```
    /// assert_eq!(cache_core::ErrorKind::Timeout.as_str(), "timeout");
    /// ```
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Connection => "connection",
            Self::Timeout => "timeout",
            Self::Codec => "codec",
            Self::Config => "config",
            Self::Backend => "backend",
            Self::TooLarge => "too large",
            Self::InvalidInput => "invalid input",
            Self::Unsupported => "unsupported",
            Self::CircuitOpen => "circuit open",
        }
    }
}

impl fmt::Display for ErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The error returned by every fallible operation of this crate.
///
/// It is opaque on purpose: [`Error::kind`] says what class of failure it
/// is, the `Display` message (the kind, then the message) says what went
/// wrong and names the key or address involved, and
/// [`std::error::Error::source`] gives the underlying cause when there is
/// one. `Display` does not repeat the cause: an error reporter (anyhow's
/// `{:#}`, eyre, a `tracing` layer that walks `source()`) prints each
/// cause once.
///
/// It is cheap to [`Clone`] (the cause is shared behind an [`Arc`], as in
/// redis-rs), so one failure can be handed to every caller that waited
/// for the same operation, cause included.
///
/// ```
/// use std::error::Error as _;
/// use cache_core::{Error, ErrorKind};
///
/// let refused = std::io::Error::from(std::io::ErrorKind::ConnectionRefused);
/// let err = Error::with_source(ErrorKind::Connection, "cannot connect to Redis at 127.0.0.1:6379/0", refused);
/// assert_eq!(err.kind(), ErrorKind::Connection);
/// assert_eq!(err.to_string(), "connection error: cannot connect to Redis at 127.0.0.1:6379/0");
/// assert_eq!(err.source().unwrap().to_string(), "connection refused");
///
/// let shared = err.clone();
/// assert!(shared.source().is_some());
/// ```
#[derive(Clone)]
pub struct Error {
    kind: ErrorKind,
    message: Cow<'static, str>,
    /// Shared, so that the error is `Clone` whatever the cause is.
    source: Option<Arc<dyn std::error::Error + Send + Sync + 'static>>,
}

impl Error {
    /// Creates an error of `kind` with a message.
    ///
    /// ```
    /// let err = cache_core::Error::new(cache_core::ErrorKind::Backend, "boom");
    /// assert_eq!(err.to_string(), "backend error: boom");
    /// ```
    pub fn new(kind: ErrorKind, message: impl Into<Cow<'static, str>>) -> Self {
        Self {
            kind,
            message: message.into(),
            source: None,
        }
    }

    /// Creates an error of `kind` with a message and an underlying cause.
    /// The cause is returned by [`source`](std::error::Error::source), not
    /// written by `Display`.
    ///
    /// ```
    /// use std::error::Error as _;
    /// let io = std::io::Error::other("reset");
    /// let err = cache_core::Error::with_source(cache_core::ErrorKind::Connection, "lost 127.0.0.1:6379", io);
    /// assert_eq!(err.to_string(), "connection error: lost 127.0.0.1:6379");
    /// assert_eq!(err.source().unwrap().to_string(), "reset");
    /// ```
    pub fn with_source(
        kind: ErrorKind,
        message: impl Into<Cow<'static, str>>,
        source: impl Into<BoxError>,
    ) -> Self {
        Self {
            kind,
            message: message.into(),
            source: Some(Arc::from(source.into())),
        }
    }

    /// The class of failure.
    ///
    /// ```
    /// let err = cache_core::Error::new(cache_core::ErrorKind::Codec, "bad bytes");
    /// assert_eq!(err.kind(), cache_core::ErrorKind::Codec);
    /// ```
    pub fn kind(&self) -> ErrorKind {
        self.kind
    }

    /// The message, without the kind in front.
    ///
    /// ```
    /// let err = cache_core::Error::new(cache_core::ErrorKind::Codec, "bad bytes");
    /// assert_eq!(err.message(), "bad bytes");
    /// ```
    pub fn message(&self) -> &str {
        &self.message
    }

    /// Returns this error with `context` put in front of its message, for
    /// example the key an operation was about.
    pub(crate) fn context(mut self, context: impl fmt::Display) -> Self {
        self.message = Cow::Owned(format!("{context}: {}", self.message));
        self
    }

    pub(crate) fn config(message: impl Into<Cow<'static, str>>) -> Self {
        Self::new(ErrorKind::Config, message)
    }

    pub(crate) fn codec(
        message: impl Into<Cow<'static, str>>,
        source: impl Into<BoxError>,
    ) -> Self {
        Self::with_source(ErrorKind::Codec, message, source)
    }
}

/// An error followed by each of its causes, `: `-separated: what logs
/// show, since [`Error`]'s `Display` leaves the cause to `source()`.
pub(crate) struct Chain<'a>(pub(crate) &'a Error);

impl fmt::Display for Chain<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)?;
        let mut cause = std::error::Error::source(self.0);
        while let Some(error) = cause {
            write!(f, ": {error}")?;
            cause = error.source();
        }
        Ok(())
    }
}

impl fmt::Debug for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut d = f.debug_struct("Error");
        d.field("kind", &self.kind).field("message", &self.message);
        if let Some(source) = &self.source {
            d.field("source", source);
        }
        d.finish()
    }
}

/// What went wrong: the kind and the message. The cause is left to
/// [`source`](std::error::Error::source), so that a reporter walking the
/// chain prints it once.
impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} error: {}", self.kind, self.message)
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.source
            .as_deref()
            .map(|e| e as &(dyn std::error::Error + 'static))
    }
}

/// The error of a serde `Serialize` impl seen by this crate's own
/// serializers (the shape fingerprint, the key encoder): its message only.
#[derive(Debug)]
pub(crate) struct SerializeError(pub(crate) String);

impl fmt::Display for SerializeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for SerializeError {}

impl serde::ser::Error for SerializeError {
    fn custom<M: fmt::Display>(msg: M) -> Self {
        Self(msg.to_string())
    }
}

#[cfg(test)]
mod tests {
    use std::error::Error as _;

    use super::*;

    fn refused() -> Error {
        let io = std::io::Error::new(std::io::ErrorKind::ConnectionRefused, "refused by peer");
        Error::with_source(
            ErrorKind::Connection,
            "cannot connect to Redis at h:1/0",
            io,
        )
    }

    #[test]
    fn logs_show_the_error_and_each_cause_once() {
        assert_eq!(
            Chain(&refused()).to_string(),
            "connection error: cannot connect to Redis at h:1/0: refused by peer"
        );
        let bare = Error::new(ErrorKind::Codec, "bad bytes");
        assert_eq!(Chain(&bare).to_string(), "codec error: bad bytes");
    }

    #[test]
    fn display_says_what_went_wrong_and_leaves_the_cause_to_source() {
        let err = refused();
        assert_eq!(
            err.to_string(),
            "connection error: cannot connect to Redis at h:1/0"
        );
        assert_eq!(err.source().unwrap().to_string(), "refused by peer");
        // A reporter that walks the chain prints the cause once.
        let mut chain = vec![err.to_string()];
        let mut cause = err.source();
        while let Some(e) = cause {
            chain.push(e.to_string());
            cause = e.source();
        }
        assert_eq!(chain.join(": ").matches("refused by peer").count(), 1);
    }

    #[test]
    fn clones_share_the_cause() {
        let err = refused().context("get `k`");
        let clone = err.clone();
        assert_eq!(clone.kind(), err.kind());
        assert_eq!(clone.message(), "get `k`: cannot connect to Redis at h:1/0");
        let (a, b) = (err.source().unwrap(), clone.source().unwrap());
        assert!(std::ptr::addr_eq(a, b), "one cause, shared");
        assert!(format!("{clone:?}").contains("refused by peer"));
    }
}
