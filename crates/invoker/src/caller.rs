//! The caller, as the authorizer described it in `requestContext.authorizer`.

use std::collections::HashMap;

use lambda_http::request::RequestContext;
use serde_json::Value;

/// Who is calling: the authorizer's `principalId` and context.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Caller {
    pub principal: String,
    pub oid: Option<String>,
    pub sub: Option<String>,
    pub tid: Option<String>,
    pub client_id: Option<String>,
    pub roles: Vec<String>,
    pub scopes: Vec<String>,
}

impl Caller {
    /// Reads the authorizer identity of a REST (payload 1.0) or HTTP API (2.0) event;
    /// `None` when the function was reached without the authorizer.
    pub fn from_context(context: Option<&RequestContext>) -> Option<Self> {
        let fields = match context? {
            RequestContext::ApiGatewayV1(ctx) => &ctx.authorizer.fields,
            RequestContext::ApiGatewayV2(ctx) => &ctx.authorizer.as_ref()?.fields,
            _ => return None,
        };
        Self::from_fields(fields)
    }

    fn from_fields(fields: &HashMap<String, Value>) -> Option<Self> {
        let text = |key: &str| {
            fields
                .get(key)
                .and_then(Value::as_str)
                .map(str::trim)
                .filter(|v| !v.is_empty())
                .map(str::to_owned)
        };
        let words = |key: &str| {
            text(key)
                .map(|v| v.split_whitespace().map(str::to_owned).collect())
                .unwrap_or_default()
        };
        let oid = text("oid");
        let sub = text("sub");
        let principal = text("principalId").or_else(|| oid.clone()).or_else(|| sub.clone())?;
        Some(Self {
            principal,
            oid,
            sub,
            tid: text("tid"),
            client_id: text("client_id"),
            roles: words("roles"),
            scopes: words("scp"),
        })
    }

    /// `RoleSessionName` for STS: `oid`, else client id, else `sub`, sanitized to
    /// `[\w+=,.@-]` and 2–64 characters, so CloudTrail names the Azure identity.
    pub fn session_name(&self) -> String {
        let source = self
            .oid
            .as_deref()
            .or(self.client_id.as_deref())
            .or(self.sub.as_deref())
            .unwrap_or(&self.principal);
        let mut name: String = source
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() || "_+=,.@-".contains(c) {
                    c
                } else {
                    '_'
                }
            })
            .take(64)
            .collect();
        while name.len() < 2 {
            name.push('_');
        }
        name
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn fields(value: Value) -> HashMap<String, Value> {
        serde_json::from_value(value).unwrap()
    }

    #[test]
    fn reads_the_rest_authorizer_context() {
        let caller = Caller::from_fields(&fields(json!({
            "principalId": "oid-1", "oid": "oid-1", "sub": "sub-1", "tid": "t", "client_id": "app",
            "roles": "SageMaker.Invoke Admin", "scp": "", "integrationLatency": 12
        })))
        .unwrap();
        assert_eq!(caller.principal, "oid-1");
        assert_eq!(caller.roles, ["SageMaker.Invoke", "Admin"]);
        assert!(caller.scopes.is_empty());
        assert_eq!(caller.client_id.as_deref(), Some("app"));
    }

    #[test]
    fn http_api_context_has_no_principal_id() {
        let caller = Caller::from_fields(&fields(json!({"sub": "s", "scp": "invoke read"}))).unwrap();
        assert_eq!(caller.principal, "s");
        assert_eq!(caller.scopes, ["invoke", "read"]);
    }

    #[test]
    fn no_identity_without_a_principal() {
        assert_eq!(Caller::from_fields(&fields(json!({}))), None);
        assert_eq!(
            Caller::from_fields(&fields(json!({"principalId": " ", "roles": "Admin"}))),
            None
        );
        assert_eq!(Caller::from_fields(&fields(json!({"principalId": 5}))), None);
        assert_eq!(Caller::from_context(None), None);
    }

    #[test]
    fn session_names() {
        let mut caller = Caller {
            principal: "p".into(),
            oid: Some("5f1a7c0e-3b57-4e1c-9a0d-2c6b9e4f8a11".into()),
            ..Caller::default()
        };
        assert_eq!(caller.session_name(), "5f1a7c0e-3b57-4e1c-9a0d-2c6b9e4f8a11");
        caller.oid = None;
        caller.client_id = Some("app id/with:odd*chars".into());
        assert_eq!(caller.session_name(), "app_id_with_odd_chars");
        caller.client_id = None;
        caller.sub = Some("x".repeat(100));
        assert_eq!(caller.session_name().len(), 64);
        caller.sub = Some("é".into());
        assert_eq!(caller.session_name(), "__");
    }
}
