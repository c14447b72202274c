//! Where an AWS request goes: the signing region and service, from the client's own SigV4
//! credential scope or from the endpoint's host name.
#![deny(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

use http::header::AUTHORIZATION;
use http::request::Parts;

use super::query_pairs;
use crate::auth::context::AuthError;

/// The region AWS's global endpoints (IAM, STS, Route 53, CloudFront, `s3.amazonaws.com`) sign for.
pub const DEFAULT_REGION: &str = "us-east-1";

/// Region and service for `req`: each from the config key if set, else from the credential
/// scope the client signed with itself, else from the host; the region finally `us-east-1`.
pub fn resolve(
    region: Option<&str>,
    service: Option<&str>,
    req: &Parts,
) -> Result<(String, String), AuthError> {
    if let (Some(r), Some(s)) = (region, service) {
        return Ok((r.to_owned(), s.to_owned()));
    }
    let client = req
        .headers
        .get(AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(from_authorization)
        .or_else(|| {
            query_pairs(req.uri.query().unwrap_or(""))
                .find(|(k, _)| k.eq_ignore_ascii_case(b"X-Amz-Credential"))
                .and_then(|(_, v)| from_credential(&String::from_utf8_lossy(&v)))
        });
    let host = req.uri.host().and_then(from_host);
    let region = region
        .map(str::to_owned)
        .or_else(|| client.as_ref().map(|c| c.0.clone()))
        .or_else(|| host.as_ref().and_then(|h| h.0.clone()))
        .unwrap_or_else(|| DEFAULT_REGION.to_owned());
    let service = service
        .map(str::to_owned)
        .or_else(|| client.map(|c| c.1))
        .or_else(|| host.map(|h| h.1))
        .ok_or_else(|| {
            let host = req.uri.host().unwrap_or("(none)");
            AuthError::Unsignable(format!(
                "cannot tell the AWS service from host {host}; set `service`"
            ))
        })?;
    Ok((region, service))
}

/// Region and service named by a SigV4 credential scope
/// (`AKID/20150830/us-east-1/service/aws4_request`).
pub fn from_credential(credential: &str) -> Option<(String, String)> {
    let mut parts = credential.rsplitn(5, '/');
    let terminator = parts.next()?;
    let service = parts.next()?;
    let region = parts.next()?;
    let _date = parts.next()?;
    let _key = parts.next()?;
    (terminator == "aws4_request" && !service.is_empty() && !region.is_empty())
        .then(|| (region.to_owned(), service.to_owned()))
}

/// The credential scope in a client's `Authorization: AWS4-HMAC-SHA256 Credential=…` header.
pub fn from_authorization(value: &str) -> Option<(String, String)> {
    let rest = value.trim().strip_prefix("AWS4-HMAC-SHA256")?;
    rest.split(',')
        .filter_map(|item| item.trim().strip_prefix("Credential="))
        .find_map(from_credential)
}

/// Signing region (if the host names one) and service inferred from an AWS host name, e.g.
/// `bucket.s3.eu-west-1.amazonaws.com` → (`eu-west-1`, `s3`). `None` for hosts that are not
/// AWS endpoints or name no service.
pub fn from_host(host: &str) -> Option<(Option<String>, String)> {
    let host = host.trim_end_matches('.').to_ascii_lowercase();
    let prefix = host
        .strip_suffix(".amazonaws.com")
        .or_else(|| host.strip_suffix(".amazonaws.com.cn"))
        .or_else(|| host.strip_suffix(".on.aws"))?;
    let labels: Vec<&str> = prefix.split('.').collect();
    if let Some(i) = labels.iter().position(|l| is_region(l)) {
        let (before, from_region) = labels.split_at(i);
        let region = (*from_region.first()?).to_owned();
        // OpenSearch puts the service after the region: search-x.eu-west-1.es.amazonaws.com.
        if from_region.get(1) == Some(&"es") {
            return Some((Some(region), "es".to_owned()));
        }
        let service = before
            .iter()
            .rev()
            .find(|l| !matches!(**l, "dualstack" | "fips"))?;
        return Some((Some(region), signing_name(service)));
    }
    // Legacy dash form: s3-eu-west-1.amazonaws.com, bucket.s3-eu-west-1.amazonaws.com.
    for label in labels.iter().rev() {
        if let Some(region) = label.strip_prefix("s3-").filter(|r| is_region(r)) {
            return Some((Some(region.to_owned()), "s3".to_owned()));
        }
    }
    let service = labels.last().filter(|l| !l.is_empty())?;
    Some((None, signing_name(service)))
}

/// Whether a host label looks like an AWS region (`eu-west-1`, `us-gov-west-1`, `cn-north-1`).
fn is_region(label: &str) -> bool {
    let parts: Vec<&str> = label.split('-').collect();
    let (Some((first, rest)), Some(last)) = (parts.split_first(), parts.last()) else {
        return false;
    };
    let middle = rest.split_last().map_or(&[][..], |(_, middle)| middle);
    parts.len() >= 3
        && first.len() == 2
        && first.bytes().all(|b| b.is_ascii_lowercase())
        && middle
            .iter()
            .all(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_lowercase()))
        && last.bytes().all(|b| b.is_ascii_digit())
        && !last.is_empty()
}

/// The name a service signs with, where its endpoint prefix differs.
fn signing_name(endpoint: &str) -> String {
    let endpoint = endpoint.strip_suffix("-fips").unwrap_or(endpoint);
    match endpoint {
        "s3-external-1" | "s3-accesspoint" | "s3-control" => "s3",
        "email" => "ses",
        "lambda-url" => "lambda",
        "bedrock-runtime" | "bedrock-agent" | "bedrock-agent-runtime" => "bedrock",
        other => other,
    }
    .to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn host(h: &str) -> Option<(Option<String>, String)> {
        from_host(h)
    }

    fn aws(region: Option<&str>, service: &str) -> Option<(Option<String>, String)> {
        Some((region.map(str::to_owned), service.to_owned()))
    }

    // Expected values are AWS's documented endpoint patterns and signing names.
    #[test]
    fn infers_region_and_service_from_aws_hosts() {
        assert_eq!(
            host("s3.eu-west-1.amazonaws.com"),
            aws(Some("eu-west-1"), "s3")
        );
        assert_eq!(host("bucket.s3.amazonaws.com"), aws(None, "s3"));
        assert_eq!(host("s3.amazonaws.com"), aws(None, "s3"));
        assert_eq!(
            host("bucket.s3.eu-central-1.amazonaws.com"),
            aws(Some("eu-central-1"), "s3")
        );
        assert_eq!(
            host("s3-eu-west-1.amazonaws.com"),
            aws(Some("eu-west-1"), "s3")
        );
        assert_eq!(
            host("b.s3.dualstack.ap-south-1.amazonaws.com"),
            aws(Some("ap-south-1"), "s3")
        );
        assert_eq!(
            host("abc123.execute-api.eu-west-2.amazonaws.com"),
            aws(Some("eu-west-2"), "execute-api")
        );
        assert_eq!(
            host("sqs.eu-west-1.amazonaws.com"),
            aws(Some("eu-west-1"), "sqs")
        );
        assert_eq!(
            host("dynamodb.us-west-2.amazonaws.com"),
            aws(Some("us-west-2"), "dynamodb")
        );
        assert_eq!(host("iam.amazonaws.com"), aws(None, "iam"));
        assert_eq!(host("STS.AMAZONAWS.COM."), aws(None, "sts"));
        assert_eq!(
            host("email.us-east-1.amazonaws.com"),
            aws(Some("us-east-1"), "ses")
        );
        assert_eq!(
            host("bedrock-runtime.us-east-1.amazonaws.com"),
            aws(Some("us-east-1"), "bedrock")
        );
        assert_eq!(
            host("runtime.sagemaker.eu-west-1.amazonaws.com"),
            aws(Some("eu-west-1"), "sagemaker")
        );
        assert_eq!(
            host("search-d.eu-west-1.es.amazonaws.com"),
            aws(Some("eu-west-1"), "es")
        );
        assert_eq!(
            host("xyz.lambda-url.us-east-2.on.aws"),
            aws(Some("us-east-2"), "lambda")
        );
        assert_eq!(
            host("s3.cn-north-1.amazonaws.com.cn"),
            aws(Some("cn-north-1"), "s3")
        );
        assert_eq!(
            host("sqs.us-gov-west-1.amazonaws.com"),
            aws(Some("us-gov-west-1"), "sqs")
        );
        assert_eq!(
            host("sqs-fips.us-east-1.amazonaws.com"),
            aws(Some("us-east-1"), "sqs")
        );
        assert_eq!(host("example.com"), None);
        assert_eq!(host("amazonaws.com.evil.net"), None);
    }

    #[test]
    fn reads_a_client_credential_scope() {
        let authz = "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/eu-west-3/sqs/aws4_request, \
                     SignedHeaders=host;x-amz-date, Signature=00";
        assert_eq!(
            from_authorization(authz),
            Some(("eu-west-3".into(), "sqs".into()))
        );
        assert_eq!(from_authorization("Bearer x"), None);
        assert_eq!(from_credential("AK/20150830/us-east-1/s3/other"), None);
    }

    fn sign_with(config: &str, headers: &[(&str, &str)]) -> http::request::Parts {
        let signer = super::super::AwsV4::new(toml::from_str(config).unwrap()).unwrap();
        let mut b = http::Request::post("https://queue.example.internal/")
            .header("host", "queue.example.internal");
        for (n, v) in headers {
            b = b.header(*n, *v);
        }
        let mut parts = b.body(()).unwrap().into_parts().0;
        assert_eq!(
            signer.body_need(&parts),
            crate::auth::context::BodyNeed::Required
        );
        let now = std::time::SystemTime::UNIX_EPOCH + std::time::Duration::from_secs(1_440_938_160);
        let cx = crate::auth::context::SignContext {
            now,
            fixed_nonce: None,
            entropy: &crate::auth::context::OsEntropy,
        };
        signer
            .sign(
                &mut parts,
                Some(&mut bytes::Bytes::from_static(b"Action=ListQueues")),
                &cx,
            )
            .unwrap();
        parts
    }

    #[test]
    fn re_signs_with_the_clients_scope_and_drops_its_credentials() {
        let keys = "access_key = \"AKIDREAL\"\nsecret_key = \"real-secret\"\n";
        let client = "AWS4-HMAC-SHA256 Credential=PLACEHOLDER/20990101/eu-west-3/sqs/aws4_request, \
                      SignedHeaders=host;x-amz-date, Signature=0000";
        let parts = sign_with(
            keys,
            &[
                ("authorization", client),
                ("x-amz-date", "20990101T000000Z"),
                ("x-amz-security-token", "placeholder-token"),
                ("user-agent", "aws-cli/2"),
            ],
        );
        let authz: Vec<_> = parts.headers.get_all("authorization").iter().collect();
        assert_eq!(authz.len(), 1);
        let expected = "AWS4-HMAC-SHA256 Credential=AKIDREAL/20150830/eu-west-3/sqs/aws4_request, \
                        SignedHeaders=host;x-amz-date, Signature=";
        assert!(
            authz[0].to_str().unwrap().starts_with(expected),
            "{authz:?}"
        );
        assert_eq!(parts.headers["x-amz-date"], "20150830T123600Z");
        assert!(parts.headers.get("x-amz-security-token").is_none());

        // Explicit config keys win over the client's scope.
        let config = format!("{keys}region = \"ap-south-1\"\nservice = \"execute-api\"");
        let parts = sign_with(&config, &[("authorization", client)]);
        let authz = parts.headers["authorization"].to_str().unwrap();
        assert!(
            authz.contains("/20150830/ap-south-1/execute-api/aws4_request,"),
            "{authz}"
        );
    }
}
