//! The library's error type.

use std::borrow::Cow;
use std::fmt;

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
/// is, the `Display` message names the key or address involved, and
/// [`std::error::Error::source`] gives the underlying cause when there is one.
///
/// ```
/// use cache_core::{Error, ErrorKind};
///
/// let err = Error::new(ErrorKind::Timeout, "GET `app:user:1` on 127.0.0.1:6379 timed out after 250ms");
/// assert_eq!(err.kind(), ErrorKind::Timeout);
/// assert!(err.to_string().contains("app:user:1"));
/// ```
pub struct Error {
    kind: ErrorKind,
    message: Cow<'static, str>,
    source: Option<BoxError>,
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
    ///
    /// ```
    /// use std::error::Error as _;
    /// let io = std::io::Error::other("reset");
    /// let err = cache_core::Error::with_source(cache_core::ErrorKind::Connection, "lost 127.0.0.1:6379", io);
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
            source: Some(source.into()),
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

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} error: {}", self.kind, self.message)?;
        if let Some(source) = &self.source {
            write!(f, " ({source})")?;
        }
        Ok(())
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
