//! The crate's one error type: what can go wrong before a token is even looked at.

use std::time::Duration;

/// A configuration or key-fetch failure. Token refusals are not errors: they are
/// [`crate::Refusal`]s carried by a [`crate::Decision`].
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A setting is missing or malformed; the message names the variable.
    #[error("{variable}: {problem}")]
    Config { variable: &'static str, problem: String },
    /// The HTTP client could not be built (no usable TLS roots, for instance).
    #[error("HTTP client: {0}")]
    Client(String),
    /// A key or discovery document could not be fetched or understood.
    #[error("fetching {url}: {problem}")]
    Fetch { url: String, problem: FetchProblem },
}

/// Why one fetch of a key or discovery document failed.
#[derive(Debug, thiserror::Error)]
pub enum FetchProblem {
    #[error("no answer within {0:?}")]
    Timeout(Duration),
    #[error("connection failed: {0}")]
    Connect(String),
    #[error("HTTP status {0}")]
    Status(u16),
    #[error("response larger than {0} bytes")]
    TooLarge(usize),
    #[error("not a valid document: {0}")]
    Invalid(String),
    #[error("refused URL: {0}")]
    Url(String),
}

impl Error {
    pub(crate) fn config(variable: &'static str, problem: impl Into<String>) -> Self {
        Self::Config {
            variable,
            problem: problem.into(),
        }
    }

    pub(crate) fn fetch(url: &str, problem: FetchProblem) -> Self {
        Self::Fetch {
            url: url.to_owned(),
            problem,
        }
    }
}
