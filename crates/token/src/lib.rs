//! Verification of Entra ID (Azure AD) and other OIDC access tokens, for the
//! API Gateway authorizer. No Lambda types here: configuration, trusted issuers,
//! signing keys, verification and the decision.
//!
//! Signatures are checked with `aws-lc-rs` keys parsed once per JWKS fetch (the
//! backend of `jsonwebtoken`'s `aws_lc_rs` feature); `jsonwebtoken` supplies the
//! algorithm model. The algorithm always comes from `AUTH_ALLOWED_ALGORITHMS`.

mod config;
mod decision;
mod error;
mod explain;
mod fetch;
mod issuer;
mod jwks;
mod url;
mod verify;

pub use config::Config;
pub use decision::{Decision, Denial, Held, Identity, Refusal};
pub use error::{Error, FetchProblem};
pub use explain::{Step, inspect};
pub use fetch::FetchLimits;
pub use jsonwebtoken::Algorithm;
pub use verify::{MAX_TOKEN_BYTES, Settings, Verifier};
