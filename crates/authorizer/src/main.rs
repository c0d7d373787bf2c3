//! `authorizer`: the Lambda entry point, and `authorizer explain [TOKEN]` for operators.
//! Everything but wiring lives in the library.

use std::io::Read;
use std::time::{SystemTime, UNIX_EPOCH};

use authorizer::{AuthorizerEvent, handle};
use lambda_runtime::{LambdaEvent, service_fn};
use token::{Config, Verifier};

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda_runtime::Error> {
    let mut args = std::env::args().skip(1);
    match args.next().as_deref() {
        None => run_lambda().await,
        Some("explain") => std::process::exit(explain(args.next()).await),
        Some(_) => {
            eprintln!(
                "usage: authorizer            (as a Lambda function)\n       authorizer explain [TOKEN]  (token as argument or on stdin)"
            );
            std::process::exit(2);
        }
    }
}

async fn run_lambda() -> Result<(), lambda_runtime::Error> {
    authorizer::logging::init(std::io::stdout);
    let Some(verifier) = configured_verifier() else {
        std::process::exit(1);
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

/// The report goes to stdout; key-fetch logs go to stderr.
async fn explain(argument: Option<String>) -> i32 {
    authorizer::logging::init(std::io::stderr);
    let credential = match argument {
        Some(token) => token,
        None => {
            let mut input = String::new();
            if let Err(e) = std::io::stdin().read_to_string(&mut input) {
                eprintln!("reading the token from stdin: {e}");
                return 2;
            }
            input
        }
    };
    let Some(verifier) = configured_verifier() else {
        return 2;
    };
    if let Err(e) = verifier.prewarm().await {
        eprintln!("warning: {e}");
    }
    let now = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs());
    let (report, code) = authorizer::explain::explain(&verifier, &credential, now).await;
    print!("{report}");
    code
}

/// The verifier from `AUTH_*`, or one clear log line naming the bad setting: a
/// function never starts half-configured.
fn configured_verifier() -> Option<Verifier> {
    match Config::from_env().and_then(Verifier::new) {
        Ok(verifier) => Some(verifier),
        Err(error) => {
            tracing::error!(error = %error, "invalid configuration");
            None
        }
    }
}
