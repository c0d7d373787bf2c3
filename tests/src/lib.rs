//! End-to-end harness: the real `authorizer` and `invoker` binaries as Lambda functions
//! (under a Lambda Runtime API served here), a real OpenID provider (npm `oidc-provider`,
//! Entra-shaped) and moto (SageMaker Runtime, STS), chained as API Gateway chains them.
//! The end-to-end tests and the `local-run` binary both drive the same [`Stack`].
//!
//! Every peer listens on a free loopback port, is waited for by readiness and is killed
//! when its guard drops, so a failing test leaves nothing running.

mod error;
mod gateway;
mod http;
mod lambda;
mod moto;
mod oidc;
mod peer;
mod stack;

pub use error::Error;
pub use gateway::{Authorization, Gateway, Reply};
pub use lambda::{Function, Outcome, bin_dir, init_outcome};
pub use moto::Moto;
pub use oidc::{Client, Oidc, TokenVersion};
pub use peer::Peer;
pub use stack::{AUDIENCE, CALLER, EXPIRED, NO_ROLE, OTHER_AUDIENCE, ROLE_ARN, STATIC_KEY, Stack, TENANT};

/// The crate's results.
pub type Result<T, E = Error> = std::result::Result<T, E>;
