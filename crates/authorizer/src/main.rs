//! `authorizer`: the Lambda entry point. Everything but wiring lives in the library.

use authorizer::{AuthorizerEvent, handle};
use lambda_runtime::{LambdaEvent, service_fn};
use token::{Config, Verifier};

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda_runtime::Error> {
    lambda_runtime::tracing::init_default_subscriber();
    let verifier = match Config::from_env().and_then(Verifier::new) {
        Ok(verifier) => verifier,
        Err(error) => {
            // One clear line, then a failed init: never a half-configured function.
            tracing::error!(error = %error, "invalid configuration");
            std::process::exit(1);
        }
    };
    // Keys are fetched during init so the first request pays nothing; a failure is
    // logged by the key store and retried by requests within the refresh policy.
    let _ = verifier.prewarm().await;
    let verifier = &verifier;
    lambda_runtime::run(service_fn(move |event: LambdaEvent<AuthorizerEvent>| async move {
        handle(verifier, &event.payload).await
    }))
    .await
}
