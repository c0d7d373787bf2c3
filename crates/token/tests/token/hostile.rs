use aws_lc_rs::hmac;
use serde_json::{Value, json};
use token::{Decision, Denial, Held, Refusal};

use crate::support::*;

enum Want {
    Refuse(Refusal),
    Deny(Denial),
}

fn unknown(kid: &str) -> Refusal {
    Refusal::UnknownKey {
        kid: kid.into(),
        detail: "not in the keys just refetched".into(),
    }
}

fn bad_signature(kid: &str) -> Refusal {
    Refusal::BadSignature {
        kid: kid.into(),
        alg: "RS256".into(),
    }
}

fn not_allowed(alg: &str) -> Refusal {
    Refusal::AlgorithmNotAllowed {
        alg: alg.into(),
        allowed: "RS256".into(),
    }
}

fn claims_error(text: &str) -> Refusal {
    Refusal::Claims(text.into())
}

fn header_error(text: &str) -> Refusal {
    Refusal::Header(text.into())
}

/// Flips one bit in the signature's first byte, keeping it valid base64url.
fn tamper_signature(token: &str) -> String {
    let (signed, sig) = token.rsplit_once('.').unwrap();
    let mut bytes = base64::Engine::decode(&base64::engine::general_purpose::URL_SAFE_NO_PAD, sig).unwrap();
    bytes[0] ^= 1;
    format!("{signed}.{}", b64(bytes))
}

fn segments(parts: &[&str]) -> String {
    parts.join(".")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_hostile_token_is_refused_with_its_reason() {
    let [a, b, c] = keys();
    let ec = EcKey::generate("ec-key");
    let (small_n, _) = {
        let mut n = vec![0xC5u8; 128];
        n[0] = 0xE1;
        (n, ())
    };
    let enc_jwk = {
        let mut jwk = b.jwk();
        jwk["kid"] = json!("enc-key");
        jwk["use"] = json!("enc");
        jwk
    };
    let foreign_jwk = {
        let mut jwk = c.jwk();
        jwk["issuer"] = json!(format!("https://login.microsoftonline.com/{OTHER_TENANT}/v2.0"));
        jwk
    };
    let server = KeyServer::start(Reply::Json(jwks(&[
        a.jwk(),
        enc_jwk,
        json!({"kty": "RSA", "use": "sig", "kid": "small", "n": b64(&small_n), "e": "AQAB"}),
        foreign_jwk,
        ec.jwk(),
    ])))
    .await;
    let base = with(entra_pairs(&server), "AUTH_REQUIRED_ROLES", "SageMaker.Invoke");
    let base = with(base, "AUTH_ALLOWED_CLIENT_IDS", CLIENT);
    let standard = verifier(&base).await;
    let v2_only = verifier(&with(base.clone(), "AUTH_TOKEN_VERSIONS", "2")).await;
    let multi = verifier(&with(
        with(base.clone(), "AUTH_TENANT_ID", "organizations"),
        "AUTH_ALLOWED_TENANTS",
        TENANT,
    ))
    .await;

    let good = a.token(&claims());
    let header = b64(a.header().to_string());
    let body = b64(claims().to_string());
    let signed_by = |key: &RsaKey, header: Value| key.sign(&header, &claims());
    let header_with = |extra: Value| {
        let mut h = a.header();
        for (k, v) in extra.as_object().unwrap() {
            h[k] = v.clone();
        }
        h
    };
    let now = now();
    let hs256_with_public_key = {
        let (n, e) = a.components();
        let secret = [n, e].concat();
        let h = b64(json!({"alg": "HS256", "typ": "JWT", "kid": "key-a"}).to_string());
        let signed = format!("{h}.{body}");
        let tag = hmac::sign(&hmac::Key::new(hmac::HMAC_SHA256, &secret), signed.as_bytes());
        format!("{signed}.{}", b64(tag.as_ref()))
    };
    let oversized = {
        let padding = "x".repeat(64 * 1024);
        a.token(&claims_with(json!({ "padding": padding })))
    };
    let other_key_same_kid = {
        let impostor = RsaKey::generate("key-a");
        impostor.token(&claims())
    };

    let cases: Vec<(&str, &token::Verifier, String, Want)> = vec![
        ("empty", &standard, String::new(), Want::Refuse(Refusal::Empty)),
        (
            "one segment",
            &standard,
            "garbage".into(),
            Want::Refuse(Refusal::Segments(1)),
        ),
        (
            "two segments",
            &standard,
            segments(&[&header, &body]),
            Want::Refuse(Refusal::Segments(2)),
        ),
        (
            "four segments",
            &standard,
            format!("{good}.x"),
            Want::Refuse(Refusal::Segments(4)),
        ),
        (
            "five segments (JWE)",
            &standard,
            "a.b.c.d.e".into(),
            Want::Refuse(Refusal::Encrypted),
        ),
        (
            "64 KB token",
            &standard,
            oversized.clone(),
            Want::Refuse(Refusal::TooLarge {
                len: oversized.len(),
                limit: 16384,
            }),
        ),
        (
            "header not base64url",
            &standard,
            segments(&["e30=", &body, "x"]),
            Want::Refuse(header_error("header is not base64url")),
        ),
        (
            "header with a space",
            &standard,
            format!(" {good}"),
            Want::Refuse(header_error("header is not base64url")),
        ),
        (
            "header not JSON",
            &standard,
            segments(&[&b64("not json"), &body, "x"]),
            Want::Refuse(header_error("header is not a JSON object")),
        ),
        (
            "header a JSON array",
            &standard,
            segments(&[&b64("[\"RS256\"]"), &body, "x"]),
            Want::Refuse(header_error("header is not a JSON object")),
        ),
        (
            "header a 7-element array",
            &standard,
            a.sign_segments(&b64(r#"["RS256","key-a",null,null,null,null,null]"#), &body),
            Want::Refuse(header_error("header is not a JSON object")),
        ),
        (
            "claims a 16-element array",
            &standard,
            a.sign_segments(
                &header,
                &b64(format!(
                    r#"["{}","{AUDIENCE}",{},null,null,null,null,null,null,null,null,null,null,null,null,null]"#,
                    v2_issuer(TENANT),
                    now + 60
                )),
            ),
            Want::Refuse(claims_error("claims is not a JSON object")),
        ),
        (
            "duplicate alg in header",
            &standard,
            a.sign_segments(&b64(r#"{"alg":"RS256","alg":"none","kid":"key-a"}"#), &body),
            Want::Refuse(header_error("duplicate field `alg`")),
        ),
        (
            "alg none",
            &standard,
            segments(&[&b64(r#"{"alg":"none","kid":"key-a"}"#), &body, ""]),
            Want::Refuse(Refusal::Unsigned),
        ),
        (
            "alg NONE",
            &standard,
            segments(&[&b64(r#"{"alg":"NONE","kid":"key-a"}"#), &body, ""]),
            Want::Refuse(Refusal::Unsigned),
        ),
        (
            "no alg",
            &standard,
            segments(&[&b64(r#"{"kid":"key-a"}"#), &body, ""]),
            Want::Refuse(Refusal::Unsigned),
        ),
        (
            "alg not a string",
            &standard,
            segments(&[&b64(r#"{"alg":256,"kid":"key-a"}"#), &body, ""]),
            Want::Refuse(header_error("invalid type: integer `256`, expected a string")),
        ),
        (
            "HS256 signed with the RSA public key",
            &standard,
            hs256_with_public_key,
            Want::Refuse(not_allowed("HS256")),
        ),
        (
            "ES256 when only RS256 is allowed",
            &standard,
            ec.token(&claims()),
            Want::Refuse(not_allowed("ES256")),
        ),
        (
            "PS256 when only RS256 is allowed",
            &standard,
            signed_by(a, header_with(json!({"alg": "PS256"}))),
            Want::Refuse(not_allowed("PS256")),
        ),
        (
            "unknown alg",
            &standard,
            signed_by(a, header_with(json!({"alg": "RS257"}))),
            Want::Refuse(not_allowed("RS257")),
        ),
        (
            "Graph token (nonce header)",
            &standard,
            signed_by(a, header_with(json!({"nonce": "AQAB..."}))),
            Want::Refuse(Refusal::GraphToken),
        ),
        (
            "jku to an attacker's keys",
            &standard,
            signed_by(a, header_with(json!({"jku": "https://attacker.example/keys"}))),
            Want::Refuse(Refusal::KeyReference("jku")),
        ),
        (
            "x5u to an attacker's cert",
            &standard,
            signed_by(a, header_with(json!({"x5u": "https://attacker.example/cert.pem"}))),
            Want::Refuse(Refusal::KeyReference("x5u")),
        ),
        (
            "embedded attacker jwk",
            &standard,
            {
                let attacker = RsaKey::generate("key-a");
                let h = header_with(json!({"jwk": attacker.jwk()}));
                attacker.sign(&h, &claims())
            },
            Want::Refuse(Refusal::KeyReference("jwk")),
        ),
        (
            "crit header",
            &standard,
            signed_by(a, header_with(json!({"crit": ["exp"]}))),
            Want::Refuse(Refusal::Critical),
        ),
        (
            "no kid",
            &standard,
            signed_by(a, json!({"alg": "RS256", "typ": "JWT"})),
            Want::Refuse(Refusal::MissingKid),
        ),
        (
            "unknown kid",
            &standard,
            signed_by(a, header_with(json!({"kid": "who-knows"}))),
            Want::Refuse(unknown("who-knows")),
        ),
        (
            "key with use enc",
            &standard,
            signed_by(b, header_with(json!({"kid": "enc-key"}))),
            Want::Refuse(Refusal::SkippedKey {
                kid: "enc-key".into(),
                why: "use is \"enc\", not \"sig\"".into(),
            }),
        ),
        (
            "1024-bit key",
            &standard,
            signed_by(a, header_with(json!({"kid": "small"}))),
            Want::Refuse(Refusal::SkippedKey {
                kid: "small".into(),
                why: "RSA key of 1024 bits (minimum 2048)".into(),
            }),
        ),
        (
            "EC key in the JWKS, RS256 only",
            &standard,
            signed_by(a, header_with(json!({"kid": "ec-key"}))),
            Want::Refuse(Refusal::SkippedKey {
                kid: "ec-key".into(),
                why: "EC key, but AUTH_ALLOWED_ALGORITHMS has no algorithm for it".into(),
            }),
        ),
        (
            "key of another tenant",
            &standard,
            c.token(&claims()),
            Want::Refuse(Refusal::KeyIssuer {
                kid: "key-c".into(),
                key_issuer: v2_issuer(OTHER_TENANT),
                iss: v2_issuer(TENANT),
            }),
        ),
        (
            "signature tampered",
            &standard,
            tamper_signature(&good),
            Want::Refuse(bad_signature("key-a")),
        ),
        (
            "signature truncated",
            &standard,
            good[..good.len() - 10].to_owned(),
            Want::Refuse(bad_signature("key-a")),
        ),
        (
            "signature empty",
            &standard,
            format!("{header}.{body}."),
            Want::Refuse(bad_signature("key-a")),
        ),
        (
            "signature not base64url",
            &standard,
            format!("{header}.{body}.***"),
            Want::Refuse(Refusal::Encoding("signature")),
        ),
        (
            "signature padded",
            &standard,
            format!("{good}=="),
            Want::Refuse(Refusal::Encoding("signature")),
        ),
        (
            "other key, same kid",
            &standard,
            other_key_same_kid,
            Want::Refuse(bad_signature("key-a")),
        ),
        (
            "claims swapped after signing",
            &standard,
            {
                let evil = b64(claims_with(json!({"roles": ["Admin"]})).to_string());
                let sig = good.rsplit_once('.').unwrap().1;
                segments(&[&header, &evil, sig])
            },
            Want::Refuse(bad_signature("key-a")),
        ),
        (
            "claims not base64url",
            &standard,
            segments(&[&header, "%%%", "x"]),
            Want::Refuse(claims_error("claims is not base64url")),
        ),
        (
            "claims not JSON",
            &standard,
            a.sign_segments(&header, &b64("{")),
            Want::Refuse(claims_error("EOF while parsing an object")),
        ),
        (
            "claims a JSON string",
            &standard,
            a.sign_segments(&header, &b64("\"admin\"")),
            Want::Refuse(claims_error("claims is not a JSON object")),
        ),
        (
            "duplicate exp claim",
            &standard,
            a.sign_segments(
                &header,
                &b64(format!(
                    r#"{{"iss":"{}","exp":1,"exp":{}}}"#,
                    v2_issuer(TENANT),
                    now + 999
                )),
            ),
            Want::Refuse(claims_error("duplicate field `exp`")),
        ),
        (
            "exp as a string",
            &standard,
            a.token(&claims_with(json!({"exp": (now + 3600).to_string()}))),
            Want::Refuse(claims_error(&format!(
                "invalid type: string \"{}\", expected f64",
                now + 3600
            ))),
        ),
        (
            "exp negative",
            &standard,
            a.token(&claims_with(json!({"exp": -1}))),
            Want::Refuse(claims_error("-1 is not a valid NumericDate")),
        ),
        (
            "roles not a list",
            &standard,
            a.token(&claims_with(json!({"roles": "SageMaker.Invoke"}))),
            Want::Refuse(claims_error(
                "invalid type: string \"SageMaker.Invoke\", expected a sequence",
            )),
        ),
        (
            "no exp",
            &standard,
            a.token(&claims_with(json!({"exp": null}))),
            Want::Refuse(Refusal::MissingExpiry),
        ),
        (
            "expired",
            &standard,
            a.token(&claims_with(json!({"exp": now - 3600}))),
            Want::Refuse(Refusal::Expired {
                exp: now - 3600,
                now,
                skew: 60,
            }),
        ),
        (
            "not yet valid",
            &standard,
            a.token(&claims_with(json!({"nbf": now + 3600}))),
            Want::Refuse(Refusal::NotYetValid {
                nbf: now + 3600,
                now,
                skew: 60,
            }),
        ),
        (
            "no iss",
            &standard,
            a.token(&claims_with(json!({"iss": null}))),
            Want::Refuse(Refusal::MissingIssuer),
        ),
        (
            "iss of another tenant",
            &standard,
            a.token(&claims_with(
                json!({"iss": v2_issuer(OTHER_TENANT), "tid": OTHER_TENANT}),
            )),
            Want::Refuse(Refusal::UntrustedIssuer {
                got: v2_issuer(OTHER_TENANT),
                expected: format!("{}, {}", v2_issuer(TENANT), v1_issuer(TENANT)),
            }),
        ),
        (
            "iss of an attacker",
            &standard,
            a.token(&claims_with(json!({"iss": "https://attacker.example/"}))),
            Want::Refuse(Refusal::UntrustedIssuer {
                got: "https://attacker.example/".into(),
                expected: format!("{}, {}", v2_issuer(TENANT), v1_issuer(TENANT)),
            }),
        ),
        (
            "tid differs from the issuer tenant",
            &standard,
            a.token(&claims_with(json!({"tid": OTHER_TENANT}))),
            Want::Refuse(Refusal::TenantMismatch {
                issuer_tenant: TENANT.into(),
                tid: OTHER_TENANT.into(),
            }),
        ),
        (
            "v1 when only v2 is allowed",
            &v2_only,
            a.token(&claims_with(json!({"iss": v1_issuer(TENANT), "ver": "1.0"}))),
            Want::Refuse(Refusal::VersionNotAccepted {
                iss: v1_issuer(TENANT),
                version: 1,
                accepted: 2,
            }),
        ),
        (
            "no aud",
            &standard,
            a.token(&claims_with(json!({"aud": null}))),
            Want::Refuse(Refusal::MissingAudience),
        ),
        (
            "empty aud list",
            &standard,
            a.token(&claims_with(json!({"aud": []}))),
            Want::Refuse(Refusal::MissingAudience),
        ),
        (
            "wrong aud",
            &standard,
            a.token(&claims_with(json!({"aud": "api://x"}))),
            Want::Refuse(Refusal::AudienceMismatch {
                got: "api://x".into(),
                expected: format!("{AUDIENCE}, {CLIENT}-api"),
            }),
        ),
        (
            "wrong aud list",
            &standard,
            a.token(&claims_with(json!({"aud": ["api://x", "api://y"]}))),
            Want::Refuse(Refusal::AudienceMismatch {
                got: "[api://x, api://y]".into(),
                expected: format!("{AUDIENCE}, {CLIENT}-api"),
            }),
        ),
        (
            "aud differs only in case",
            &standard,
            a.token(&claims_with(json!({"aud": AUDIENCE.to_uppercase()}))),
            Want::Refuse(Refusal::AudienceMismatch {
                got: AUDIENCE.to_uppercase(),
                expected: format!("{AUDIENCE}, {CLIENT}-api"),
            }),
        ),
        (
            "multi-tenant: tenant not admitted",
            &multi,
            a.token(&claims_with(
                json!({"iss": v2_issuer(OTHER_TENANT), "tid": OTHER_TENANT}),
            )),
            Want::Deny(Denial::TenantNotAllowed {
                tid: OTHER_TENANT.into(),
                allowed: TENANT.into(),
            }),
        ),
        (
            "multi-tenant: no tid",
            &multi,
            a.token(&claims_with(json!({"tid": null}))),
            Want::Refuse(Refusal::MissingTenant),
        ),
        (
            "multi-tenant: issuer segment is not the tid",
            &multi,
            a.token(&claims_with(json!({"iss": v2_issuer(OTHER_TENANT)}))),
            Want::Refuse(Refusal::TenantMismatch {
                issuer_tenant: OTHER_TENANT.into(),
                tid: TENANT.into(),
            }),
        ),
        (
            "multi-tenant: organizations issuer",
            &multi,
            a.token(&claims_with(
                json!({"iss": "https://login.microsoftonline.com/organizations/v2.0"}),
            )),
            Want::Refuse(Refusal::UntrustedIssuer {
                got: "https://login.microsoftonline.com/organizations/v2.0".into(),
                expected: "https://login.microsoftonline.com/{tid}/v2.0, https://sts.windows.net/{tid}/".into(),
            }),
        ),
        (
            "missing role",
            &standard,
            a.token(&claims_with(json!({"roles": ["Reader"]}))),
            Want::Deny(Denial::MissingRoleOrScope {
                have: Held {
                    roles: vec!["Reader".into()],
                    scopes: vec![],
                },
                required: Held {
                    roles: vec!["SageMaker.Invoke".into()],
                    scopes: vec![],
                },
            }),
        ),
        (
            "role differs only in case",
            &standard,
            a.token(&claims_with(json!({"roles": ["sagemaker.invoke"]}))),
            Want::Deny(Denial::MissingRoleOrScope {
                have: Held {
                    roles: vec!["sagemaker.invoke".into()],
                    scopes: vec![],
                },
                required: Held {
                    roles: vec!["SageMaker.Invoke".into()],
                    scopes: vec![],
                },
            }),
        ),
        (
            "client not allowed",
            &standard,
            a.token(&claims_with(json!({"azp": "00000000-0000-0000-0000-000000000001"}))),
            Want::Deny(Denial::ClientNotAllowed {
                client: "00000000-0000-0000-0000-000000000001".into(),
                allowed: CLIENT.into(),
            }),
        ),
        (
            "no client claim",
            &standard,
            a.token(&claims_with(json!({"azp": null}))),
            Want::Deny(Denial::MissingClient { allowed: CLIENT.into() }),
        ),
    ];

    let mut names = std::collections::HashSet::new();
    let mut failures = Vec::new();
    for (name, verifier, token, want) in &cases {
        assert!(names.insert(*name), "duplicate case {name}");
        let decision = verifier.verify_at(token, now).await;
        let ok = match (want, &decision) {
            (Want::Refuse(want), Decision::Refuse(got)) => want == got,
            (Want::Deny(want), Decision::Deny { reason, .. }) => want == reason,
            _ => false,
        };
        if !ok {
            failures.push(format!("{name}: got {decision:?}"));
        }
        // No reason ever carries the token or its signature.
        if let Some(reason) = decision.reason()
            && let Some(sig) = token.rsplit('.').next().filter(|s| s.len() > 16)
        {
            assert!(!reason.contains(sig), "{name}: reason leaks the signature");
        }
    }
    assert!(
        failures.is_empty(),
        "{} cases wrong:\n{}",
        failures.len(),
        failures.join("\n")
    );
    assert!(cases.len() >= 60, "{} cases", cases.len());
    // The good token still passes on every verifier it should.
    assert!(matches!(standard.verify_at(&good, now).await, Decision::Allow(_)));
    assert!(matches!(multi.verify_at(&good, now).await, Decision::Allow(_)));
}
