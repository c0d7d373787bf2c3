//! The API Gateway Lambda authorizer: re-verifies the caller's Entra ID / OIDC token
//! and answers with a whole-stage IAM policy (REST) or a simple response (HTTP API).

pub mod event;
pub mod explain;
pub mod handler;
pub mod logging;
pub mod policy;
pub mod response;

pub use event::{AuthorizerEvent, Form};
pub use handler::{AuthorizerError, handle};
pub use response::Response;
