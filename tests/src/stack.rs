//! The whole flow on loopback: provider, moto, and both functions configured as
//! `template.yaml` configures them.

use crate::lambda::bin_dir;
use crate::{Client, Function, Gateway, Moto, Oidc, Result, TokenVersion};

const REGION: &str = "eu-west-1";
pub const TENANT: &str = "3c8a7e3a-2f4b-4d0e-9a51-6f0b1c2d3e4f";
/// The API's Application ID URI: the resource the callers ask tokens for.
pub const AUDIENCE: &str = "api://sagemaker-bridge";
/// Another API of the same tenant: its tokens must not open this one.
pub const OTHER_AUDIENCE: &str = "api://another-api";
/// `AUTH_REQUIRED_ROLES`: holding either lets a caller through the authorizer.
const REQUIRED_ROLES: &str = "Model.Invoke,Model.Admin";
/// `INVOKER_ENDPOINTS`: `restricted-model` is for `Model.Admin` holders only.
const ENDPOINTS: &str = "my-model:Model.Invoke|Model.Admin,restricted-model:Model.Admin";
pub const ROLE_ARN: &str = "arn:aws:iam::123456789012:role/sagemaker-bridge-model-invoke";
/// The function's own (execution role) key: in federation mode it must sign nothing.
pub const STATIC_KEY: &str = "AKIAE2ESTATICEXAMPLE";

/// An app holding `Model.Invoke`.
pub const CALLER: Client = Client {
    id: "6e74172b-be56-4843-9ff4-e66a39bb12e3",
    secret: "caller-secret",
    oid: "5f1a7c0e-3b57-4e1c-9a0d-2c6b9e4f8a11",
    roles: &["Model.Invoke"],
    expired: false,
};
/// An app of the same tenant that was never granted a role.
pub const NO_ROLE: Client = Client {
    id: "0b7c4d7e-5a1f-4c3e-8d2b-9f6e1a0c3b5d",
    secret: "no-role-secret",
    oid: "7d2e9b4a-1c6f-4e8d-b3a5-0f9c2e7d1b6a",
    roles: &[],
    expired: false,
};
/// Holds the role, but its tokens are expired when they arrive.
pub const EXPIRED: Client = Client {
    id: "a4f1c9e2-7b3d-4a6e-9c1f-2d8b5e0a7c3f",
    secret: "expired-secret",
    oid: "c2b7e4f9-8a1d-4f3c-a6e2-5b9d0c1f7e4a",
    roles: &["Model.Invoke"],
    expired: true,
};

/// Everything running; dropping it stops every process.
pub struct Stack {
    pub oidc: Oidc,
    pub moto: Moto,
    pub authorizer: Function,
    pub invoker: Function,
}

impl Stack {
    /// Starts the peers side by side, then both functions against them. With
    /// `federation` the invoker gets `INVOKER_ROLE_ARN` and trades each caller's token
    /// for STS credentials.
    pub async fn start(federation: bool) -> Result<Self> {
        let (oidc, moto) = tokio::join!(
            Oidc::start(TENANT, &[AUDIENCE, OTHER_AUDIENCE], &[CALLER, NO_ROLE, EXPIRED]),
            Moto::start()
        );
        let (oidc, moto) = (oidc?, moto?);
        let bin = bin_dir();
        let authorizer_env = [
            ("AUTH_TENANT_ID", TENANT.to_owned()),
            ("AUTH_AUDIENCES", AUDIENCE.to_owned()),
            ("AUTH_REQUIRED_ROLES", REQUIRED_ROLES.to_owned()),
            ("AUTH_JWKS_URL", oidc.jwks_url()),
        ];
        let mut invoker_env = vec![
            ("INVOKER_ENDPOINTS", ENDPOINTS.to_owned()),
            ("AWS_REGION", REGION.to_owned()),
            ("AWS_ACCESS_KEY_ID", STATIC_KEY.to_owned()),
            ("AWS_SECRET_ACCESS_KEY", "e2e-static-secret".to_owned()),
            ("AWS_SESSION_TOKEN", "e2e-static-session".to_owned()),
            ("AWS_ENDPOINT_URL_SAGEMAKER_RUNTIME", moto.url()),
            ("AWS_ENDPOINT_URL_STS", moto.url()),
            ("AWS_EC2_METADATA_DISABLED", "true".to_owned()),
        ];
        if federation {
            invoker_env.push(("INVOKER_ROLE_ARN", ROLE_ARN.to_owned()));
        }
        let (authorizer, invoker) = tokio::join!(
            Function::start(&bin, "authorizer", &authorizer_env),
            Function::start(&bin, "invoker", &invoker_env)
        );
        Ok(Self {
            oidc,
            moto,
            authorizer: authorizer?,
            invoker: invoker?,
        })
    }

    /// The `prod` stage of a REST API, as `template.yaml` deploys it.
    pub fn gateway(&self) -> Gateway<'_> {
        Gateway {
            authorizer: &self.authorizer,
            invoker: &self.invoker,
            region: REGION,
            account: "123456789012",
            api_id: "a1b2c3d4e5",
            stage: "prod",
        }
    }

    /// Queues the model's next answers.
    pub async fn model_answers(&self, results: &[serde_json::Value]) -> Result<()> {
        self.moto.queue_results(REGION, results).await
    }

    /// A v2 token from the provider for this API.
    pub async fn token(&self, client: &Client) -> Result<String> {
        self.oidc.token(client, TokenVersion::V2, AUDIENCE).await
    }
}
