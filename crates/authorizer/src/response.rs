//! The JSON API Gateway expects back, serialized straight from the decision.

use std::sync::Arc;

use serde::Serialize;
use serde::ser::{SerializeMap, Serializer};
use token::Identity;

/// What goes back to API Gateway for an authenticated caller.
#[derive(Debug, PartialEq, Serialize)]
#[serde(untagged)]
pub enum Response {
    /// REST API (TOKEN/REQUEST): an Allow or Deny policy on the whole stage.
    Policy(PolicyResponse),
    /// HTTP API 2.0 simple response.
    Simple(SimpleResponse),
}

#[derive(Debug, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PolicyResponse {
    pub principal_id: String,
    pub policy_document: PolicyDocument,
    pub context: Context,
}

#[derive(Debug, PartialEq, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct PolicyDocument {
    pub version: &'static str,
    pub statement: [Statement; 1],
}

#[derive(Debug, PartialEq, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct Statement {
    pub action: &'static str,
    pub effect: Effect,
    pub resource: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum Effect {
    Allow,
    Deny,
}

#[derive(Debug, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SimpleResponse {
    pub is_authorized: bool,
    pub context: Context,
}

/// The caller's context (string values only, as API Gateway requires), written
/// from the identity without copying it; empty for an unauthenticated caller.
#[derive(Debug, Default, PartialEq)]
pub struct Context(pub Option<Arc<Identity>>);

impl Serialize for Context {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let fields = self.0.as_deref().map(Identity::context).unwrap_or_default();
        let mut map = serializer.serialize_map(Some(fields.len()))?;
        for (key, value) in &fields {
            map.serialize_entry(key, value)?;
        }
        map.end()
    }
}

impl PolicyResponse {
    /// `effect` on `execute-api:Invoke` for `resource`, naming the caller.
    pub fn new(effect: Effect, resource: String, identity: Arc<Identity>) -> Self {
        Self {
            principal_id: identity.principal_id.clone(),
            policy_document: PolicyDocument {
                version: "2012-10-17",
                statement: [Statement {
                    action: "execute-api:Invoke",
                    effect,
                    resource,
                }],
            },
            context: Context(Some(identity)),
        }
    }
}
