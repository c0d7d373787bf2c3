//! Federation mode: each caller's Entra token becomes temporary AWS credentials
//! (STS `AssumeRoleWithWebIdentity`), cached per token until shortly before expiry.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, SystemTime};

use aws_lc_rs::digest::{SHA256, digest};
use aws_sdk_sagemakerruntime::config::Credentials;
use aws_sdk_sts::error::{DisplayErrorContext, ProvideErrorMetadata, SdkError};
use aws_sdk_sts::operation::assume_role_with_web_identity::AssumeRoleWithWebIdentityError;

use crate::Error;
use crate::caller::Caller;

/// Credentials are dropped this long before they expire, so a call never starts
/// with credentials that lapse mid-flight.
const EXPIRY_MARGIN: Duration = Duration::from_secs(120);
/// Distinct callers remembered at once.
const CACHE_ENTRIES: usize = 512;

pub struct Federation {
    sts: aws_sdk_sts::Client,
    role_arn: String,
    session_seconds: i32,
    cache: Mutex<HashMap<[u8; 32], Cached>>,
}

struct Cached {
    credentials: Credentials,
    /// When the entry stops being used: the expiry less the margin.
    until: SystemTime,
}

impl Federation {
    pub fn new(sts: aws_sdk_sts::Client, role_arn: String, session_seconds: i32) -> Self {
        Self {
            sts,
            role_arn,
            session_seconds,
            cache: Mutex::new(HashMap::new()),
        }
    }

    /// Credentials for this caller's `token`: from the cache (keyed by the token's
    /// SHA-256, so never shared between tokens) or from STS.
    pub async fn credentials(&self, token: &str, caller: &Caller) -> Result<Credentials, Error> {
        let key = token_key(token);
        let now = SystemTime::now();
        if let Some(hit) = self.lock().get(&key).filter(|c| c.until > now) {
            return Ok(hit.credentials.clone());
        }
        let output = self
            .sts
            .assume_role_with_web_identity()
            .role_arn(&self.role_arn)
            .role_session_name(caller.session_name())
            .web_identity_token(token)
            .duration_seconds(self.session_seconds)
            .send()
            .await
            .map_err(sts_error)?;
        let Some(issued) = output.credentials else {
            return Err(Error::Upstream("STS answered without credentials".to_owned()));
        };
        let expiry = SystemTime::try_from(issued.expiration).unwrap_or(now);
        let credentials = Credentials::new(
            issued.access_key_id,
            issued.secret_access_key,
            Some(issued.session_token),
            Some(expiry),
            "AssumeRoleWithWebIdentity",
        );
        let until = expiry.checked_sub(EXPIRY_MARGIN).unwrap_or(now);
        if until > now {
            let mut cache = self.lock();
            if cache.len() >= CACHE_ENTRIES {
                cache.retain(|_, c| c.until > now);
                if cache.len() >= CACHE_ENTRIES {
                    cache.clear();
                }
            }
            cache.insert(
                key,
                Cached {
                    credentials: credentials.clone(),
                    until,
                },
            );
        }
        Ok(credentials)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<[u8; 32], Cached>> {
        self.cache.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

fn token_key(token: &str) -> [u8; 32] {
    let mut key = [0u8; 32];
    key.copy_from_slice(digest(&SHA256, token.as_bytes()).as_ref());
    key
}

/// STS refusing the token is the caller's problem (403); anything else is ours (502).
fn sts_error(error: SdkError<AssumeRoleWithWebIdentityError>) -> Error {
    use AssumeRoleWithWebIdentityError as E;
    let detail = DisplayErrorContext(&error).to_string();
    match error.as_service_error() {
        Some(E::ExpiredTokenException(_) | E::IdpRejectedClaimException(_) | E::InvalidIdentityTokenException(_)) => {
            Error::FederationDenied(detail)
        }
        Some(other) if other.code() == Some("AccessDenied") => Error::FederationDenied(detail),
        _ => Error::Upstream(format!("STS: {detail}")),
    }
}
