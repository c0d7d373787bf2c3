//! One handler for every authorizer event form: event in, policy or error out.

use token::{Decision, Refusal, Verifier};

use crate::event::{AuthorizerEvent, Form};
use crate::policy::stage_resource;
use crate::response::{Context, Effect, PolicyResponse, Response, SimpleResponse};

/// A failed invocation. `Unauthorized` is the exact message API Gateway maps to 401.
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum AuthorizerError {
    #[error("Unauthorized")]
    Unauthorized,
    /// The event is not one API Gateway sends: fail closed (API Gateway answers 500).
    #[error("invalid authorizer event: {0}")]
    InvalidEvent(String),
}

impl From<AuthorizerError> for lambda_runtime::Diagnostic {
    fn from(error: AuthorizerError) -> Self {
        let error_type = match error {
            AuthorizerError::Unauthorized => "Unauthorized",
            AuthorizerError::InvalidEvent(_) => "InvalidEvent",
        };
        Self {
            error_type: error_type.to_owned(),
            error_message: error.to_string(),
        }
    }
}

/// Decides on one event and logs the decision as one line.
pub async fn handle(verifier: &Verifier, event: &AuthorizerEvent) -> Result<Response, AuthorizerError> {
    let form = event.form().map_err(AuthorizerError::InvalidEvent)?;
    // Policies need the resource: check it before any token work, so a bad event
    // is an error whatever the token.
    let resource = match form {
        Form::Token | Form::Request => {
            let arn = event
                .method_arn()
                .ok_or_else(|| AuthorizerError::InvalidEvent("no methodArn".to_owned()))?;
            Some(stage_resource(arn).map_err(AuthorizerError::InvalidEvent)?)
        }
        Form::HttpApiV2 => None,
    };
    let decision = match bearer_token(event.credential(form)) {
        Ok(token) => verifier.verify(token).await,
        Err(refusal) => Decision::Refuse(refusal),
    };
    log_decision(form, &decision);
    respond(form, resource, decision)
}

/// The JWT of an `Authorization: Bearer <jwt>` value (scheme in any case).
pub fn bearer_token(credential: Option<&str>) -> Result<&str, Refusal> {
    let value = credential.map(str::trim).filter(|v| !v.is_empty());
    let value = value.ok_or(Refusal::MissingAuthorization)?;
    match value.split_once(' ') {
        Some((scheme, token)) if scheme.eq_ignore_ascii_case("bearer") => {
            let token = token.trim_start();
            if token.is_empty() {
                return Err(Refusal::Empty);
            }
            Ok(token)
        }
        _ => Err(Refusal::NotBearer),
    }
}

fn respond(form: Form, resource: Option<String>, decision: Decision) -> Result<Response, AuthorizerError> {
    match (form, resource) {
        (Form::HttpApiV2, _) => {
            let is_authorized = matches!(decision, Decision::Allow(_));
            let identity = match decision {
                Decision::Allow(identity) | Decision::Deny { identity, .. } => Some(identity),
                Decision::Refuse(_) => None,
            };
            Ok(Response::Simple(SimpleResponse {
                is_authorized,
                context: Context(identity),
            }))
        }
        (_, Some(resource)) => {
            let (effect, identity) = match decision {
                Decision::Allow(identity) => (Effect::Allow, identity),
                Decision::Deny { identity, .. } => (Effect::Deny, identity),
                Decision::Refuse(_) => return Err(AuthorizerError::Unauthorized),
            };
            Ok(Response::Policy(PolicyResponse::new(effect, resource, identity)))
        }
        (_, None) => Err(AuthorizerError::InvalidEvent("no methodArn".to_owned())),
    }
}

/// One line per decision: never the token, always the reason for a refusal.
fn log_decision(form: Form, decision: &Decision) {
    let identity = decision.identity();
    let principal = identity.map_or("", |i| i.principal_id.as_str());
    let client = identity.and_then(|i| i.client_id.as_deref()).unwrap_or("");
    let tenant = identity.and_then(|i| i.tid.as_deref()).unwrap_or("");
    match decision.reason() {
        None => tracing::info!(
            event = "authorization",
            decision = decision.label(),
            form = form.label(),
            principal,
            client,
            tenant,
            "allowed"
        ),
        Some(reason) => tracing::warn!(
            event = "authorization",
            decision = decision.label(),
            form = form.label(),
            principal,
            client,
            tenant,
            reason = reason.as_str(),
            "refused"
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bearer_scheme_any_case() {
        assert_eq!(bearer_token(Some("Bearer abc")), Ok("abc"));
        assert_eq!(bearer_token(Some("bearer abc")), Ok("abc"));
        assert_eq!(bearer_token(Some("BEARER   abc ")), Ok("abc"));
    }

    #[test]
    fn bearer_refusals() {
        assert_eq!(bearer_token(None), Err(Refusal::MissingAuthorization));
        assert_eq!(bearer_token(Some("  ")), Err(Refusal::MissingAuthorization));
        assert_eq!(bearer_token(Some("abc.def.ghi")), Err(Refusal::NotBearer));
        assert_eq!(bearer_token(Some("Basic dXNlcjpwYXNz")), Err(Refusal::NotBearer));
        assert_eq!(bearer_token(Some("Bearer")), Err(Refusal::NotBearer));
        assert_eq!(bearer_token(Some("Bearer:abc")), Err(Refusal::NotBearer));
    }

    #[test]
    fn unauthorized_is_the_exact_message() {
        let diagnostic = lambda_runtime::Diagnostic::from(AuthorizerError::Unauthorized);
        assert_eq!(diagnostic.error_message, "Unauthorized");
        assert_eq!(diagnostic.error_type, "Unauthorized");
    }
}
