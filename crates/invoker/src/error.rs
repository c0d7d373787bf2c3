//! The crate's one error type, and how each error looks to the caller.
//!
//! `Display` is the full detail, for the log. What the caller sees comes from
//! [`Error::public_message`], which never carries AWS internals.

use lambda_http::http::StatusCode;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    /// A setting is missing or malformed (start-up only).
    #[error("{variable}: {problem}")]
    Config { variable: &'static str, problem: String },
    #[error("no authorizer identity in the request")]
    Unauthenticated,
    #[error("endpoint {0:?} is not in INVOKER_ENDPOINTS")]
    UnknownEndpoint(String),
    #[error("caller lacks the roles or scopes for endpoint {0:?}")]
    AccessDenied(String),
    #[error("request body of {0} bytes exceeds 6291456")]
    PayloadTooLarge(usize),
    #[error("no route for {0}")]
    NotFound(String),
    #[error("method {0} not allowed")]
    MethodNotAllowed(String),
    #[error("SageMaker ValidationError: {0}")]
    Validation(String),
    #[error("SageMaker ModelError (original status {original_status:?}): {message}")]
    Model {
        original_status: Option<i32>,
        message: String,
    },
    #[error("SageMaker throttled the call: {0}")]
    Throttled(String),
    #[error("SageMaker model not ready: {0}")]
    ModelNotReady(String),
    #[error("SageMaker ServiceUnavailable: {0}")]
    ServiceUnavailable(String),
    #[error("upstream failure: {0}")]
    Upstream(String),
    #[error("STS refused the caller's token: {0}")]
    FederationDenied(String),
    #[error("SageMaker call exceeded {0} ms")]
    Timeout(u128),
}

impl Error {
    pub(crate) fn config(variable: &'static str, problem: impl Into<String>) -> Self {
        Self::Config {
            variable,
            problem: problem.into(),
        }
    }

    pub fn status(&self) -> StatusCode {
        match self {
            Self::Unauthenticated => StatusCode::UNAUTHORIZED,
            Self::UnknownEndpoint(_) | Self::NotFound(_) => StatusCode::NOT_FOUND,
            Self::AccessDenied(_) | Self::FederationDenied(_) => StatusCode::FORBIDDEN,
            Self::PayloadTooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            Self::MethodNotAllowed(_) => StatusCode::METHOD_NOT_ALLOWED,
            Self::Validation(_) => StatusCode::BAD_REQUEST,
            Self::Model { .. } => StatusCode::FAILED_DEPENDENCY,
            Self::Throttled(_) | Self::ModelNotReady(_) => StatusCode::TOO_MANY_REQUESTS,
            Self::ServiceUnavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            Self::Upstream(_) => StatusCode::BAD_GATEWAY,
            Self::Timeout(_) => StatusCode::GATEWAY_TIMEOUT,
            Self::Config { .. } => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// The `error.code` of the JSON body.
    pub fn code(&self) -> &'static str {
        match self {
            Self::Unauthenticated => "Unauthenticated",
            Self::UnknownEndpoint(_) => "UnknownEndpoint",
            Self::AccessDenied(_) => "AccessDenied",
            Self::PayloadTooLarge(_) => "PayloadTooLarge",
            Self::NotFound(_) => "NotFound",
            Self::MethodNotAllowed(_) => "MethodNotAllowed",
            Self::Validation(_) => "ValidationError",
            Self::Model { .. } => "ModelError",
            Self::Throttled(_) => "Throttled",
            Self::ModelNotReady(_) => "ModelNotReady",
            Self::ServiceUnavailable(_) => "ServiceUnavailable",
            Self::Upstream(_) | Self::Config { .. } => "UpstreamFailure",
            Self::FederationDenied(_) => "FederationDenied",
            Self::Timeout(_) => "Timeout",
        }
    }

    /// What the caller is told: fixed text, or SageMaker's own words scrubbed of
    /// account ids, ARNs and log-group names where they help (validation, model errors).
    pub fn public_message(&self) -> String {
        match self {
            Self::Unauthenticated => "the request did not pass through the authorizer".to_owned(),
            Self::UnknownEndpoint(name) => format!("no endpoint named {name:?} is available"),
            Self::AccessDenied(name) => format!("the caller is not permitted to invoke {name:?}"),
            Self::PayloadTooLarge(size) => format!("request body is {size} bytes; the limit is 6291456"),
            Self::NotFound(_) => {
                "no such route: use POST /endpoints/{name}/invocations or /invocations-response-stream".to_owned()
            }
            Self::MethodNotAllowed(method) => format!("method {method} is not allowed; use POST"),
            Self::Validation(message) => scrub(message),
            Self::Model { message, .. } => scrub(message),
            Self::Throttled(_) => "the model is receiving too many requests; retry later".to_owned(),
            Self::ModelNotReady(_) => "the model is not ready yet; retry later".to_owned(),
            Self::ServiceUnavailable(_) => "SageMaker is unavailable; retry later".to_owned(),
            Self::Upstream(_) | Self::Config { .. } => "the model could not be reached".to_owned(),
            Self::FederationDenied(_) => "the caller's token was not accepted for AWS federation".to_owned(),
            Self::Timeout(ms) => format!("the model did not answer within {ms} ms"),
        }
    }

    /// Seconds for `Retry-After`, on 429s.
    pub fn retry_after(&self) -> Option<u32> {
        match self {
            Self::Throttled(_) => Some(1),
            Self::ModelNotReady(_) => Some(5),
            _ => None,
        }
    }
}

/// Replaces what names account internals in an AWS message: ARNs, 12-digit account
/// ids, CloudWatch log group and stream paths, and role names.
pub fn scrub(message: &str) -> String {
    let mut out = String::with_capacity(message.len());
    for (index, word) in message.split(' ').enumerate() {
        if index > 0 {
            out.push(' ');
        }
        // Keep surrounding punctuation, replace the core.
        let start = word
            .find(|c: char| c.is_ascii_alphanumeric() || c == '/')
            .unwrap_or(word.len());
        let end = word
            .rfind(|c: char| c.is_ascii_alphanumeric())
            .map_or(start, |i| i + 1)
            .max(start);
        let (lead, core, tail) = (&word[..start], &word[start..end], &word[end..]);
        out.push_str(lead);
        out.push_str(&scrub_word(core));
        out.push_str(tail);
    }
    out
}

fn scrub_word(word: &str) -> String {
    if word.starts_with("arn:") || word.contains("arn:aws") {
        return "<arn>".to_owned();
    }
    // Log group paths, alone or inside a CloudWatch console link.
    if word.contains("/aws/") || word.contains("console.aws.amazon.com") {
        return "<log-group>".to_owned();
    }
    if word.starts_with("role/") || word.contains(":role/") {
        return "<role>".to_owned();
    }
    // Replace every run of exactly 12 digits (an account id), wherever it sits.
    let mut out = String::with_capacity(word.len());
    let mut digits = String::new();
    let flush = |digits: &mut String, out: &mut String| {
        if digits.len() == 12 {
            out.push_str("<account>");
        } else {
            out.push_str(digits);
        }
        digits.clear();
    };
    for c in word.chars() {
        if c.is_ascii_digit() {
            digits.push(c);
        } else {
            flush(&mut digits, &mut out);
            out.push(c);
        }
    }
    flush(&mut digits, &mut out);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scrubs_account_internals() {
        let message = "Received client error (400) from primary with message \"bad input\". See https://eu-west-1.console.aws.amazon.com/cloudwatch/home?region=eu-west-1#logEventViewer:group=/aws/sagemaker/Endpoints/my-model in account 123456789012 for more information.";
        let scrubbed = scrub(message);
        assert!(!scrubbed.contains("123456789012"), "{scrubbed}");
        assert!(!scrubbed.contains("/aws/sagemaker/Endpoints"), "{scrubbed}");
        assert!(scrubbed.contains("\"bad input\""), "{scrubbed}");
        assert_eq!(
            scrub("Endpoint my-model of account 123456789012 not found."),
            "Endpoint my-model of account <account> not found."
        );
        assert_eq!(
            scrub("User: arn:aws:sts::123456789012:assumed-role/invoker-role/fn is not authorized"),
            "User: <arn> is not authorized"
        );
        assert_eq!(
            scrub("log group /aws/sagemaker/Endpoints/x, stream AllTraffic/i-0abc"),
            "log group <log-group>, stream AllTraffic/i-0abc"
        );
        assert_eq!(scrub("(123456789012)"), "(<account>)");
        assert_eq!(scrub("status 400 at 2024-01-01"), "status 400 at 2024-01-01");
    }

    #[test]
    fn every_row_has_its_status_and_code() {
        let rows = [
            (Error::Unauthenticated, 401, "Unauthenticated"),
            (Error::UnknownEndpoint("x".into()), 404, "UnknownEndpoint"),
            (Error::AccessDenied("x".into()), 403, "AccessDenied"),
            (Error::PayloadTooLarge(7_000_000), 413, "PayloadTooLarge"),
            (Error::NotFound("/x".into()), 404, "NotFound"),
            (Error::MethodNotAllowed("GET".into()), 405, "MethodNotAllowed"),
            (Error::Validation("v".into()), 400, "ValidationError"),
            (
                Error::Model {
                    original_status: Some(500),
                    message: "m".into(),
                },
                424,
                "ModelError",
            ),
            (Error::Throttled("t".into()), 429, "Throttled"),
            (Error::ModelNotReady("n".into()), 429, "ModelNotReady"),
            (Error::ServiceUnavailable("s".into()), 503, "ServiceUnavailable"),
            (Error::Upstream("u".into()), 502, "UpstreamFailure"),
            (Error::FederationDenied("f".into()), 403, "FederationDenied"),
            (Error::Timeout(500), 504, "Timeout"),
        ];
        for (error, status, code) in rows {
            assert_eq!(error.status().as_u16(), status, "{error}");
            assert_eq!(error.code(), code);
        }
    }
}
