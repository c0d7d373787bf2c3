//! The invoker Lambda: API Gateway proxy request in, SageMaker Runtime call, HTTP out.
//! Callers arrive already authenticated by the authorizer; this crate checks their
//! access to the endpoint and calls SageMaker with credentials that can do nothing else.

pub mod caller;
pub mod config;
pub mod error;
pub mod federation;
pub mod handler;
pub mod route;
pub mod sagemaker;

pub use config::Config;
pub use error::Error;
pub use handler::{Invoker, handle};
