//! The IAM policy resource an authorizer result covers.

/// The whole-stage resource for a `methodArn`: `arn:{partition}:execute-api:{region}:{account}:{api}/{stage}/*/*`.
///
/// API Gateway caches an authorizer result per token, not per route; a policy naming
/// only the first route would turn later calls to other routes into 403s.
pub fn stage_resource(method_arn: &str) -> Result<String, String> {
    let bad = |why: &str| format!("methodArn is not an execute-api method ARN: {why}");
    let mut fields = method_arn.splitn(6, ':');
    let (Some("arn"), Some(partition), Some("execute-api"), Some(region), Some(account), Some(path)) = (
        fields.next(),
        fields.next(),
        fields.next(),
        fields.next(),
        fields.next(),
        fields.next(),
    ) else {
        return Err(bad(
            "expected arn:<partition>:execute-api:<region>:<account>:<api>/<stage>/...",
        ));
    };
    let mut segments = path.split('/');
    let (Some(api), Some(stage)) = (segments.next(), segments.next()) else {
        return Err(bad("no stage"));
    };
    let fields = [partition, region, account, api, stage];
    if fields
        .iter()
        .any(|f| f.is_empty() || f.contains('*') || f.contains('?'))
    {
        return Err(bad("empty or wildcard field"));
    }
    Ok(format!(
        "arn:{partition}:execute-api:{region}:{account}:{api}/{stage}/*/*"
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn covers_the_whole_stage() {
        assert_eq!(
            stage_resource(
                "arn:aws:execute-api:eu-west-1:123456789012:a1b2c3d4e5/prod/POST/endpoints/my-model/invocations"
            )
            .unwrap(),
            "arn:aws:execute-api:eu-west-1:123456789012:a1b2c3d4e5/prod/*/*"
        );
    }

    #[test]
    fn keeps_the_partition() {
        assert_eq!(
            stage_resource("arn:aws-us-gov:execute-api:us-gov-west-1:123456789012:abc/v1/GET/").unwrap(),
            "arn:aws-us-gov:execute-api:us-gov-west-1:123456789012:abc/v1/*/*"
        );
    }

    #[test]
    fn stage_only_arns_work() {
        assert_eq!(
            stage_resource("arn:aws:execute-api:us-east-1:123456789012:abc/test").unwrap(),
            "arn:aws:execute-api:us-east-1:123456789012:abc/test/*/*"
        );
    }

    #[test]
    fn refuses_what_is_not_a_method_arn() {
        for arn in [
            "",
            "arn:aws:lambda:us-east-1:123456789012:function:x",
            "arn:aws:execute-api:us-east-1:123456789012",
            "arn:aws:execute-api:us-east-1:123456789012:abc",
            "arn:aws:execute-api:us-east-1:123456789012:abc/",
            "arn:aws:execute-api::123456789012:abc/prod/GET/",
            "arn:aws:execute-api:us-east-1:*:abc/prod/GET/",
            "arn:aws:execute-api:us-east-1:123456789012:*/prod/GET/",
            "not an arn",
        ] {
            assert!(stage_resource(arn).is_err(), "{arn:?}");
        }
    }
}
