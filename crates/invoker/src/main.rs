//! `invoker`: the Lambda entry point. Everything but wiring lives in the library.

use aws_config::BehaviorVersion;
use invoker::{Config, Invoker, handle};
use lambda_http::{Request, service_fn};

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda_http::Error> {
    lambda_http::tracing::init_default_subscriber();
    let config = match Config::from_env() {
        Ok(config) => config,
        Err(error) => {
            // One clear line, then a failed init: never a half-configured function.
            tracing::error!(error = %error, "invalid configuration");
            std::process::exit(1);
        }
    };
    // The standard chain: AWS_REGION, the execution role, AWS_ENDPOINT_URL_* overrides.
    let sdk = aws_config::defaults(BehaviorVersion::latest()).load().await;
    let invoker = Invoker::new(config, &sdk);
    let invoker = &invoker;
    lambda_http::run(service_fn(move |request: Request| async move {
        Ok::<_, std::convert::Infallible>(handle(invoker, request).await)
    }))
    .await
}
