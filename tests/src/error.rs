//! The one error type of the harness: a peer that would not start, or answered wrong.

/// What went wrong while starting or talking to a peer. Each names the peer and
/// carries its recent output, so a failure explains itself.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{peer} could not be started ({source}); {hint}")]
    Spawn {
        peer: String,
        hint: &'static str,
        source: std::io::Error,
    },
    #[error("{peer} exited before it was ready ({status}); its output:\n{output}")]
    Exited {
        peer: String,
        status: String,
        output: String,
    },
    #[error("{peer} was not ready after {seconds} s; its output:\n{output}")]
    NotReady { peer: String, seconds: u64, output: String },
    #[error("{peer}: {what}")]
    Answer { peer: String, what: String },
}
