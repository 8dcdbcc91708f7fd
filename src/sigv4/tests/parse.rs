//! Exact errors of `SignedRequest::parse` and `verify` for HMAC SigV4.

use time::macros::datetime;

use crate::sigv4::*;

const SIG: &str = "5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31";
const CRED: &str = "AKIDEXAMPLE/20150830/us-east-1/sts/aws4_request";

fn parse_header(auth: &str, date: Option<&str>) -> Result<SignedRequest, SigV4Error> {
    let mut headers = vec![("Host", "sts.example.com"), ("Authorization", auth)];
    if let Some(d) = date {
        headers.push(("X-Amz-Date", d));
    }
    parse_request("POST", &headers)
}

/// A `method` request for `/` with `headers`, parsed.
fn parse_request(method: &str, headers: &[(&str, &str)]) -> Result<SignedRequest, SigV4Error> {
    SignedRequest::parse(&HttpRequest {
        method,
        path: "/",
        query: "",
        headers,
    })
}

fn parse_query(query: &str) -> Result<SignedRequest, SigV4Error> {
    SignedRequest::parse(&HttpRequest {
        method: "GET",
        path: "/",
        query,
        headers: &[("Host", "sts.example.com")],
    })
}

#[test]
fn parses_header_form() {
    let auth = format!("AWS4-HMAC-SHA256 Credential={CRED},SignedHeaders=Host;x-amz-date,Signature={SIG}");
    let headers = [
        ("host", "sts.example.com"),
        ("authorization", auth.as_str()),
        ("x-amz-date", "20150830T123600Z"),
        ("X-Amz-Security-Token", "tok"),
        ("X-Amz-Content-SHA256", UNSIGNED_PAYLOAD),
    ];
    let parsed = SignedRequest::parse(&HttpRequest {
        method: "POST",
        path: "/",
        query: "",
        headers: &headers,
    })
    .unwrap();
    assert_eq!(
        parsed,
        SignedRequest {
            algorithm: "AWS4-HMAC-SHA256".into(),
            credential: Credential {
                access_key_id: "AKIDEXAMPLE".into(),
                date: "20150830".into(),
                region: "us-east-1".into(),
                service: "sts".into(),
            },
            signed_headers: vec!["host".into(), "x-amz-date".into()],
            signature: hex::decode(SIG).unwrap(),
            amz_date: "20150830T123600Z".into(),
            expires: None,
            security_token: Some("tok".into()),
            location: AuthLocation::Header,
            payload_hash: Some(UNSIGNED_PAYLOAD.into()),
        }
    );
}

#[test]
fn header_form_errors() {
    let date = Some("20150830T123600Z");
    let full = |cred: &str, sh: &str, sig: &str| {
        format!("AWS4-HMAC-SHA256 Credential={cred}, SignedHeaders={sh}, Signature={sig}")
    };
    let malformed = |m: &str| Err(SigV4Error::MalformedAuthorization(m.into()));
    let cases: Vec<(String, Option<&str>, Result<SignedRequest, SigV4Error>)> = vec![
        (
            "AWS4-HMAC-SHA256".into(),
            date,
            malformed("Authorization header requires 'Credential', 'SignedHeaders' and 'Signature' parameters."),
        ),
        (
            format!("AWS4-HMAC-SHA256 Credential={CRED}, SignedHeaders=host"),
            date,
            malformed("Authorization header requires 'Signature' parameter."),
        ),
        (
            "AWS4-HMAC-SHA256 Signature=00".into(),
            date,
            malformed(
                "Authorization header requires 'Credential' parameter. Authorization header requires 'SignedHeaders' parameter.",
            ),
        ),
        (
            format!("AWS4-HMAC-SHA256 Credential={CRED}, Credential={CRED}"),
            date,
            malformed("Authorization header parameter 'Credential' must appear only once."),
        ),
        (
            format!("AWS4-HMAC-SHA256 Credential={CRED}, Foo=bar"),
            date,
            malformed("Authorization header has an unknown parameter 'Foo'."),
        ),
        (
            format!("AWS4-HMAC-SHA256 Credential={CRED}, SignedHeaders"),
            date,
            malformed("Authorization header parameter 'SignedHeaders' must have the form key=value."),
        ),
        (
            full(CRED, "host;;x-amz-date", SIG),
            date,
            malformed("SignedHeaders 'host;;x-amz-date' must be a ';'-separated list of header names."),
        ),
        (
            // Listed twice (in any case), a header's values would be signed twice: refused.
            full(CRED, "a;host;x-amz-date;A", SIG),
            date,
            malformed("SignedHeaders lists 'a' more than once; list each signed header once."),
        ),
        (
            full(CRED, "host", SIG).replace("HMAC-SHA256", "HMAC-SHA512"),
            date,
            Err(SigV4Error::UnsupportedAlgorithm {
                algorithm: "AWS4-HMAC-SHA512".into(),
                supported: HMAC_ALGORITHMS,
            }),
        ),
        (
            full(CRED, "host", &SIG[..62]),
            date,
            Err(SigV4Error::BadSignatureEncoding),
        ),
        (
            full(CRED, "host", &SIG.replace('f', "g")),
            date,
            Err(SigV4Error::BadSignatureEncoding),
        ),
        (
            full(CRED, "host", &format!("0x{}", &SIG[..62])),
            date,
            Err(SigV4Error::BadSignatureEncoding),
        ),
        (
            full("AKID/20150830/us-east-1/sts", "host", SIG),
            date,
            Err(SigV4Error::MalformedCredential("…/20150830/us-east-1/sts".into())),
        ),
        (
            full(
                "ASIAEXAMPLEEXAMPLE12/20150830/us-east-1/sts/aws4_request/x",
                "host",
                SIG,
            ),
            date,
            Err(SigV4Error::MalformedCredential(
                "ASIAEXAMPLEEXAMPLE12/20150830/us-east-1/sts/aws4_request/x".into(),
            )),
        ),
        // Secrets sent where they do not belong are never repeated: a secret access key in
        // the key id's place, a bearer token, a token with base64 padding ('=').
        (
            full("wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY/x", "host", SIG),
            date,
            Err(SigV4Error::MalformedCredential("…/…/…/x".into())),
        ),
        (
            "Bearer eyJhbGciOiJIUzI1NiJ9.e30.c2VjcmV0".into(),
            date,
            malformed("Authorization header parameters must have the form key=value."),
        ),
        (
            "Bearer rg1.k1.c2VjcmV0c2VjcmV0=".into(),
            date,
            malformed("Authorization header has an unknown parameter."),
        ),
        (
            "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY".into(),
            date,
            malformed("Authorization header requires 'Credential', 'SignedHeaders' and 'Signature' parameters."),
        ),
        (
            full("AKID/20150830/us-east-1/sts/aws5_request", "host", SIG),
            date,
            Err(SigV4Error::CredentialTerminator("aws5_request".into())),
        ),
        (
            full("AKID/2015-08-30/us-east-1/sts/aws4_request", "host", SIG),
            date,
            Err(SigV4Error::BadDate("2015-08-30".into())),
        ),
        (full(CRED, "host", SIG), None, Err(SigV4Error::MissingDate)),
    ];
    for (auth, date, want) in cases {
        assert_eq!(parse_header(&auth, date), want, "{auth}");
    }
    let missing = SignedRequest::parse(&HttpRequest {
        method: "GET",
        path: "/",
        query: "a=b",
        headers: &[("Host", "h")],
    });
    assert_eq!(missing, Err(SigV4Error::MissingAuthorization));
    // An S3 URL presigned with Signature Version 2 is told so, not "missing".
    let v2 = SignedRequest::parse(&HttpRequest {
        method: "GET",
        path: "/bucket/key",
        query: "AWSAccessKeyId=ASIAEXAMPLE&Signature=abc%3D&Expires=1700000000&x-amz-security-token=t",
        headers: &[("Host", "h")],
    });
    match v2 {
        Err(SigV4Error::MalformedAuthorization(m)) => {
            assert!(m.starts_with("Signature Version 2 (the AWSAccessKeyId and Signature query parameters) is not supported: sign with Signature Version 4"), "{m}")
        }
        other => panic!("{other:?}"),
    }
    let twice = SignedRequest::parse(&HttpRequest {
        method: "GET",
        path: "/",
        query: "",
        headers: &[("Authorization", "a"), ("authorization", "b")],
    });
    assert_eq!(
        twice,
        Err(SigV4Error::MalformedAuthorization(
            "The request has more than one Authorization header; send it once.".into()
        ))
    );
    assert_eq!(
        SigV4Error::MissingAuthorization.to_string(),
        "Request is missing Authentication Token"
    );
}

#[test]
fn query_form_errors() {
    let base = format!(
        "X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential={}&X-Amz-Date=20150830T123600Z&X-Amz-SignedHeaders=host",
        CRED.replace('/', "%2F")
    );
    let ok = parse_query(&format!(
        "{base}&X-Amz-Expires=900&X-Amz-Signature={SIG}&X-Amz-Security-Token=a%2Bb"
    ))
    .unwrap();
    assert_eq!(ok.expires, Some(900));
    assert_eq!(ok.location, AuthLocation::Query);
    assert_eq!(ok.security_token.as_deref(), Some("a+b"));
    assert_eq!(ok.credential.service, "sts");

    for (query, want) in [
        (
            base.clone(),
            SigV4Error::MalformedAuthorization(
                "AWS query-string parameters must include X-Amz-Signature. Re-examine the query-string parameters.".into(),
            ),
        ),
        (
            "X-Amz-Algorithm=AWS4-HMAC-SHA256".to_owned(),
            SigV4Error::MalformedAuthorization(
                "AWS query-string parameters must include X-Amz-Credential, X-Amz-SignedHeaders, X-Amz-Signature, X-Amz-Date. Re-examine the query-string parameters.".into(),
            ),
        ),
        (
            format!("{base}&X-Amz-Signature={SIG}&X-Amz-Signature={SIG}"),
            SigV4Error::MalformedAuthorization("The query parameter 'X-Amz-Signature' must appear only once.".into()),
        ),
        (format!("{base}&X-Amz-Signature={SIG}&X-Amz-Expires=0"), SigV4Error::InvalidExpires("0".into())),
        (
            format!("{base}&X-Amz-Signature={SIG}&X-Amz-Expires=604801"),
            SigV4Error::InvalidExpires("604801".into()),
        ),
        (format!("{base}&X-Amz-Signature={SIG}&X-Amz-Expires=%2B5"), SigV4Error::InvalidExpires("+5".into())),
        (
            format!("{}&X-Amz-Signature={SIG}", base.replace("AWS4-HMAC-SHA256", "AWS4-X509-RSA-SHA256")),
            SigV4Error::UnsupportedAlgorithm {
                algorithm: "AWS4-X509-RSA-SHA256".into(),
                supported: HMAC_ALGORITHMS,
            },
        ),
    ] {
        assert_eq!(parse_query(&query), Err(want), "{query}");
    }
}

/// A request signed by `sign_hmac` at `signed_at`, verified at `now`.
fn sign_and_verify(
    service: &str,
    region: &str,
    signed_at: time::OffsetDateTime,
    now: time::OffsetDateTime,
    tweak: impl FnOnce(&mut SignedRequest),
) -> Result<(), SigV4Error> {
    let base = [
        ("Host", "sts.example.com"),
        ("Content-Type", "application/x-www-form-urlencoded"),
    ];
    let body_hash = sha256_hex(b"Action=GetCallerIdentity&Version=2011-06-15");
    let base_req = HttpRequest {
        method: "POST",
        path: "/",
        query: "",
        headers: &base,
    };
    let added = sign_hmac(
        &base_req,
        &body_hash,
        "ASIAEXAMPLE",
        "secret",
        Some("tok"),
        region,
        service,
        signed_at,
    );
    let mut headers: Vec<(&str, &str)> = base.to_vec();
    headers.extend(added.iter().map(|(n, v)| (n.as_str(), v.as_str())));
    let req = HttpRequest {
        headers: &headers,
        ..base_req
    };
    let mut signed = SignedRequest::parse(&req)?;
    assert_eq!(signed.security_token.as_deref(), Some("tok"));
    tweak(&mut signed);
    let key = derive_signing_key(
        "secret",
        &signed.credential.date,
        &signed.credential.region,
        &signed.credential.service,
    );
    let exp = Expectations {
        service: "sts",
        region: "us-east-1",
        now,
        max_skew: time::Duration::minutes(5),
        hosts: crate::sigv4::ServerNames::anywhere(),
    };
    verify(&signed, &req, &body_hash, &key, &exp)
}

#[test]
fn verify_errors() {
    let t = datetime!(2015-08-30 12:36:00 UTC);
    let no_tweak = |_: &mut SignedRequest| {};
    assert_eq!(sign_and_verify("sts", "us-east-1", t, t, no_tweak), Ok(()));
    assert_eq!(
        sign_and_verify("iam", "us-east-1", t, t, no_tweak),
        Err(SigV4Error::CredentialService("sts".into()))
    );
    assert_eq!(
        sign_and_verify("sts", "eu-west-1", t, t, no_tweak)
            .unwrap_err()
            .to_string(),
        "Credential should be scoped to a valid region, not 'eu-west-1': this endpoint's region is 'us-east-1'."
    );
    let expired = sign_and_verify("sts", "us-east-1", t, t + time::Duration::minutes(6), no_tweak);
    assert_eq!(
        expired.unwrap_err().to_string(),
        "Signature expired: 20150830T123600Z is now earlier than 20150830T123700Z (20150830T124200Z - 5 min.)"
    );
    let future = sign_and_verify("sts", "us-east-1", t, t - time::Duration::minutes(6), no_tweak);
    assert_eq!(
        future.unwrap_err().to_string(),
        "Signature not yet current: 20150830T123600Z is still later than 20150830T123500Z (20150830T123000Z + 5 min.)"
    );
    assert_eq!(
        sign_and_verify("sts", "us-east-1", t, t, |s| s.signed_headers.retain(|h| h != "host")),
        Err(SigV4Error::HostNotSigned)
    );
    assert_eq!(
        sign_and_verify("sts", "us-east-1", t, t, |s| s
            .signed_headers
            .retain(|h| h != "x-amz-date")),
        Err(SigV4Error::DateNotSigned)
    );
    assert_eq!(
        sign_and_verify("sts", "us-east-1", t, t, |s| s.amz_date = "20150831T123600Z".into()),
        Err(SigV4Error::CredentialDate {
            scope_date: "20150830".into(),
            amz_date_day: "20150831".into(),
            amz_date: "20150831T123600Z".into(),
        })
    );
    assert_eq!(
        sign_and_verify("sts", "us-east-1", t, t, |s| s.amz_date = "20150830T1236Z".into()),
        Err(SigV4Error::BadDate("20150830T1236Z".into()))
    );
    assert_eq!(
        sign_and_verify("sts", "us-east-1", t, t, |s| s.signed_headers.push("x-missing".into())),
        Err(SigV4Error::SignedHeaderAbsent("x-missing".into()))
    );
    assert_eq!(
        sign_and_verify("sts", "us-east-1", t, t, |s| s.signature[0] ^= 1),
        Err(SigV4Error::SignatureMismatch)
    );
    assert_eq!(
        SigV4Error::SignatureMismatch.to_string(),
        "The request signature we calculated does not match the signature you provided. Check your AWS Secret Access Key and signing method. Consult the service documentation for details."
    );
}

#[test]
fn presigned_time_window() {
    let exp_at = |now| Expectations {
        service: "execute-api",
        region: "us-east-1",
        now,
        max_skew: time::Duration::minutes(5),
        hosts: crate::sigv4::ServerNames::anywhere(),
    };
    let t = datetime!(2015-08-30 12:36:00 UTC);
    assert_eq!(
        check_time("20150830T123600Z", Some(3600), &exp_at(t + time::Duration::minutes(60))),
        Ok(())
    );
    assert_eq!(
        check_time("20150830T123600Z", Some(3600), &exp_at(t + time::Duration::minutes(61))),
        Err(SigV4Error::RequestExpired {
            expired_at: "20150830T133600Z".into(),
            now: "20150830T133700Z".into(),
        })
    );
    assert!(matches!(
        check_time("20150830T123600Z", Some(3600), &exp_at(t - time::Duration::minutes(6))),
        Err(SigV4Error::SignatureNotYetCurrent { .. })
    ));
}

#[test]
fn payload_hash_and_redacted_debug() {
    let empty = sha256_hex(b"");
    let signed = |declared: Option<&str>| {
        let mut s = parse_query(&format!(
            "X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential={CRED}&X-Amz-Date=20150830T123600Z&X-Amz-SignedHeaders=host&X-Amz-Signature={SIG}&X-Amz-Security-Token=secret-token"
        ))
        .unwrap();
        s.payload_hash = declared.map(str::to_owned);
        s
    };
    assert_eq!(signed(None).payload_hash_for(b"", false), Ok(empty.clone()));
    assert_eq!(signed(Some(&empty)).payload_hash_for(b"", false), Ok(empty.clone()));
    assert_eq!(
        signed(Some(&empty)).payload_hash_for(b"x", false),
        Err(SigV4Error::PayloadHashMismatch)
    );
    assert_eq!(
        signed(Some(UNSIGNED_PAYLOAD)).payload_hash_for(b"x", true),
        Ok(UNSIGNED_PAYLOAD.to_owned())
    );
    assert_eq!(
        signed(Some(UNSIGNED_PAYLOAD)).payload_hash_for(b"x", false),
        Err(SigV4Error::UnsignedPayloadNotAllowed)
    );
    let debug = format!("{:?}", signed(None));
    assert!(
        debug.contains("<redacted>") && !debug.contains("secret-token"),
        "{debug}"
    );
    let req = HttpRequest {
        method: "GET",
        path: "/",
        query: "",
        headers: &[
            ("Authorization", "AWS4 secret"),
            ("X-Amz-Security-Token", "secret-token"),
        ],
    };
    let debug = format!("{req:?}");
    assert!(!debug.contains("secret"), "{debug}");
}

/// What the signature is read from is sent once: one of each credential header, one
/// mechanism (header or query), one security token.
#[test]
fn credentials_are_read_from_one_place() {
    let auth = format!("AWS4-HMAC-SHA256 Credential={CRED},SignedHeaders=host;x-amz-date,Signature={SIG}");
    let presigned = format!(
        "X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential={}&X-Amz-Date=20150830T123600Z&X-Amz-SignedHeaders=host&X-Amz-Signature={SIG}",
        CRED.replace('/', "%2F")
    );
    let parse = |query: &str, headers: &[(&str, &str)]| {
        SignedRequest::parse(&HttpRequest {
            method: "GET",
            path: "/",
            query,
            headers,
        })
    };
    let malformed = |m: &str| Err(SigV4Error::MalformedAuthorization(m.to_owned()));
    for (name, spelled) in [
        ("x-amz-date", "X-Amz-Date"),
        ("X-AMZ-SECURITY-TOKEN", "X-Amz-Security-Token"),
        ("x-amz-content-sha256", "X-Amz-Content-Sha256"),
    ] {
        let headers = [
            ("authorization", auth.as_str()),
            ("x-amz-date", "20150830T123600Z"),
            ("X-Amz-Security-Token", "tok"),
            ("x-amz-content-sha256", UNSIGNED_PAYLOAD),
            (name, "second"),
        ];
        assert_eq!(
            parse("", &headers),
            malformed(&format!(
                "The request has more than one {spelled} header; send it once."
            )),
            "{name}"
        );
    }
    let both = [("authorization", auth.as_str()), ("x-amz-date", "20150830T123600Z")];
    assert_eq!(
        parse(&presigned, &both),
        malformed(
            "Only one auth mechanism allowed; only the X-Amz-Algorithm query parameter, Signature query string parameter or the Authorization header should be specified."
        )
    );
    // A presigned token (even spelled with escapes) beside a token header.
    let with_token = format!("{presigned}&X%2DAmz-Security-Token=query-token");
    let token = parse(&with_token, &[]).map(|s| s.security_token);
    assert_eq!(token, Ok(Some("query-token".to_owned())));
    assert_eq!(
        parse(&with_token, &[("X-Amz-Security-Token", "header-token")]),
        malformed("The request has an X-Amz-Security-Token query parameter and header; send the token once.")
    );
    // A presigned request's token sent as a header is its token.
    let token = parse(&presigned, &[("X-Amz-Security-Token", "header-token")]).map(|s| s.security_token);
    assert_eq!(token, Ok(Some("header-token".to_owned())));
}

/// What a verifying service may give as the payload hash: the body's own, agreeing with a
/// declared `x-amz-content-sha256`; an unsigned marker only for the S3 family, and in the
/// header form only when the request declares it.
#[test]
fn payload_hash_given_by_a_verifying_service() {
    let auth = format!("AWS4-HMAC-SHA256 Credential={CRED},SignedHeaders=host;x-amz-date,Signature={SIG}");
    let body_hash = sha256_hex(b"body");
    let signed = |declared: Option<&str>| {
        let mut headers = vec![
            ("host", "sts.example.com"),
            ("authorization", auth.as_str()),
            ("x-amz-date", "20150830T123600Z"),
        ];
        if let Some(d) = declared {
            headers.push(("x-amz-content-sha256", d));
        }
        parse_request("PUT", &headers).unwrap()
    };
    assert_eq!(
        signed(None).payload_hash_given(&body_hash, "sts"),
        Ok(body_hash.clone())
    );
    // The client signed its declaration as it wrote it: upper-case hex stays upper-case.
    assert_eq!(
        signed(Some(&body_hash.to_uppercase())).payload_hash_given(&body_hash, "sts"),
        Ok(body_hash.to_uppercase())
    );
    assert_eq!(
        signed(Some(&sha256_hex(b"other"))).payload_hash_given(&body_hash, "s3"),
        Err(SigV4Error::PayloadHashMismatch)
    );
    assert_eq!(
        signed(Some(UNSIGNED_PAYLOAD)).payload_hash_given(UNSIGNED_PAYLOAD, "s3"),
        Ok(UNSIGNED_PAYLOAD.to_owned())
    );
    assert_eq!(
        signed(None).payload_hash_given(UNSIGNED_PAYLOAD, "s3"),
        Err(SigV4Error::UnsignedPayloadUndeclared(UNSIGNED_PAYLOAD))
    );
    // A header-signed S3 request that declares an unsigned payload did not sign its body: a
    // verifier that gave the body's hash expects it checked, and is told to give the marker.
    // Outside the S3 family, where no marker is taken, it is a mismatch.
    for marker in [UNSIGNED_PAYLOAD, STREAMING_UNSIGNED_PAYLOAD_TRAILER] {
        assert_eq!(
            signed(Some(marker)).payload_hash_given(&body_hash, "s3"),
            Err(SigV4Error::UnsignedPayloadDeclared(marker))
        );
        assert_eq!(
            signed(Some(marker)).payload_hash_given(marker, "s3"),
            Ok(marker.to_owned())
        );
        assert_eq!(
            signed(Some(marker)).payload_hash_given(&body_hash, "execute-api"),
            Err(SigV4Error::PayloadHashMismatch)
        );
    }
    assert_eq!(
        signed(Some(STREAMING_UNSIGNED_PAYLOAD_TRAILER)).payload_hash_given(STREAMING_UNSIGNED_PAYLOAD_TRAILER, "sts"),
        Err(SigV4Error::UnsignedPayloadOutsideS3 {
            marker: STREAMING_UNSIGNED_PAYLOAD_TRAILER,
            service: "sts".into()
        })
    );
    // A presigned URL's payload is unsigned by definition.
    let presigned = parse_query(&format!(
        "X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential={}&X-Amz-Date=20150830T123600Z&X-Amz-Expires=60&X-Amz-SignedHeaders=host&X-Amz-Signature={SIG}",
        CRED.replace('/', "%2F")
    ))
    .unwrap();
    assert_eq!(
        presigned.payload_hash_given(UNSIGNED_PAYLOAD, "s3"),
        Ok(UNSIGNED_PAYLOAD.to_owned())
    );
    // An S3 presigned URL signs UNSIGNED-PAYLOAD whatever the body whose hash the verifier
    // computed; another service's presigned request signs the body's hash (as aws-sdk-go does).
    assert_eq!(
        presigned.payload_hash_given(&body_hash, "s3"),
        Ok(UNSIGNED_PAYLOAD.to_owned())
    );
    assert_eq!(presigned.payload_hash_given(&body_hash, "sts"), Ok(body_hash.clone()));
    // ...also when the uploader adds an x-amz-content-sha256 header the URL did not sign (an
    // integrity check of its own); one the URL signed must agree.
    let presigned_with = |signed_headers: &str| {
        let query = format!(
            "X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential={}&X-Amz-Date=20150830T123600Z&X-Amz-Expires=60&X-Amz-SignedHeaders={signed_headers}&X-Amz-Signature={SIG}",
            CRED.replace('/', "%2F")
        );
        SignedRequest::parse(&HttpRequest {
            method: "PUT",
            path: "/",
            query: &query,
            headers: &[("Host", "sts.example.com"), ("x-amz-content-sha256", &body_hash)],
        })
        .unwrap()
    };
    assert_eq!(
        presigned_with("host").payload_hash_given(UNSIGNED_PAYLOAD, "s3"),
        Ok(UNSIGNED_PAYLOAD.to_owned())
    );
    assert_eq!(
        presigned_with("host%3Bx-amz-content-sha256").payload_hash_given(UNSIGNED_PAYLOAD, "s3"),
        Err(SigV4Error::PayloadHashMismatch)
    );
    // A presigned S3 URL that signed `x-amz-content-sha256: UNSIGNED-PAYLOAD` signed the marker,
    // whatever body hash the verifier gives; outside the S3 family, the declaration must match.
    let query = format!(
        "X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential={}&X-Amz-Date=20150830T123600Z&X-Amz-Expires=60&X-Amz-SignedHeaders=host%3Bx-amz-content-sha256&X-Amz-Signature={SIG}",
        CRED.replace('/', "%2F")
    );
    let declared_unsigned = SignedRequest::parse(&HttpRequest {
        method: "PUT",
        path: "/",
        query: &query,
        headers: &[("Host", "sts.example.com"), ("x-amz-content-sha256", UNSIGNED_PAYLOAD)],
    })
    .unwrap();
    assert_eq!(
        declared_unsigned.payload_hash_given(&body_hash, "s3"),
        Ok(UNSIGNED_PAYLOAD.to_owned())
    );
    assert_eq!(
        declared_unsigned.payload_hash_given(&body_hash, "sts"),
        Err(SigV4Error::PayloadHashMismatch)
    );
}

/// Without `X-Amz-Date`, a `Date` header in the ISO 8601 basic format gives the time (SigV4:
/// "If AWS can't find a value for x-amz-date, it looks for the date header"); it must be
/// signed then, as `X-Amz-Date` must.
#[test]
fn a_date_header_gives_the_time_without_x_amz_date() {
    let t = datetime!(2015-08-30 12:36:00 UTC);
    let key = derive_signing_key("secret", "20150830", "us-east-1", "sts");
    let exp = Expectations {
        service: "sts",
        region: "us-east-1",
        now: t,
        max_skew: time::Duration::minutes(5),
        hosts: crate::sigv4::ServerNames::anywhere(),
    };
    let body_hash = sha256_hex(b"");
    let signed_with = |signed_headers: &str| {
        let unsigned = format!("AWS4-HMAC-SHA256 Credential={CRED}, SignedHeaders={signed_headers}, Signature={SIG}");
        let headers = [
            ("Host", "sts.example.com"),
            ("Date", "20150830T123600Z"),
            ("Authorization", unsigned.as_str()),
        ];
        let req = HttpRequest {
            method: "POST",
            path: "/",
            query: "",
            headers: &headers,
        };
        let parsed = SignedRequest::parse(&req).unwrap();
        assert_eq!(parsed.amz_date, "20150830T123600Z");
        let signature = hex::encode(compute_signature(&parsed, &req, &body_hash, &key).unwrap());
        let auth = unsigned.replace(SIG, &signature);
        let headers = [
            ("Host", "sts.example.com"),
            ("Date", "20150830T123600Z"),
            ("Authorization", auth.as_str()),
        ];
        let req = HttpRequest {
            method: "POST",
            path: "/",
            query: "",
            headers: &headers,
        };
        verify(&SignedRequest::parse(&req).unwrap(), &req, &body_hash, &key, &exp)
    };
    assert_eq!(signed_with("date;host"), Ok(()));
    assert_eq!(signed_with("host"), Err(SigV4Error::DateHeaderNotSigned));
    // An HTTP date (RFC 9110's IMF-fixdate) is no SigV4 time.
    let auth = format!("AWS4-HMAC-SHA256 Credential={CRED}, SignedHeaders=date;host, Signature={SIG}");
    let parsed = parse_request(
        "POST",
        &[
            ("Host", "sts.example.com"),
            ("Date", "Sun, 30 Aug 2015 12:36:00 GMT"),
            ("Authorization", &auth),
        ],
    )
    .unwrap();
    assert_eq!(
        check_time(&parsed.amz_date, None, &exp).unwrap_err().to_string(),
        "X-Amz-Date must be in the ISO8601 Long Format \"yyyyMMdd'T'HHmmss'Z'\", not '…'."
    );
    assert_eq!(
        SigV4Error::MissingDate.to_string(),
        "Authorization header requires existence of either a 'X-Amz-Date' or a 'Date' header."
    );
}

/// The access key id a request claims, for the audit event and the rate limit before it is
/// authenticated, is read as the verifier reads it: no other parameter of the header passes
/// for `Credential`, and a value that is no access key id is never taken for one.
#[test]
fn the_claimed_access_key_id_is_the_verifiers_credential() {
    use crate::sigv4::claimed_access_key_id;
    let cases = [
        (
            "AWS4-HMAC-SHA256 Credential=ASIAEXAMPLEEXAMPLE1/20250101/us-east-1/sts/aws4_request, SignedHeaders=host, Signature=ab",
            Some("ASIAEXAMPLEEXAMPLE1"),
        ),
        // White space after `=`, which the SigV4 parser skips too.
        (
            "AWS4-HMAC-SHA256 Credential= ASIAEXAMPLEEXAMPLE1/20250101/us-east-1/sts/aws4_request, Signature=ab",
            Some("ASIAEXAMPLEEXAMPLE1"),
        ),
        // Another parameter whose name ends in "Credential": the verifier refuses the header,
        // so it claims no one's key.
        (
            "AWS4-HMAC-SHA256 Signature=ab, XCredential=ASIAEXAMPLEVICTIM001/20250101/us-east-1/sts/aws4_request",
            None,
        ),
        // A secret key where the key id belongs is never taken for one (nor logged).
        (
            "AWS4-HMAC-SHA256 Credential=wJalrXUtnFEMIK7MDENGbPxRfiCYEXAMPLEKEY/20250101",
            None,
        ),
        ("AWS4-HMAC-SHA256 Credential=/20250101/us-east-1/sts/aws4_request", None),
        ("AWS4-HMAC-SHA256 SignedHeaders=host", None),
        ("AWS4-HMAC-SHA256 Credential=AK\"x/2025", None),
    ];
    for (header, want) in cases {
        assert_eq!(
            claimed_access_key_id(Some(header), ""),
            want.map(str::to_owned),
            "{header}"
        );
    }
    // Presigned: the query's X-Amz-Credential, percent-decoded; the header wins when both are
    // sent (the verifier refuses that request, whose claim is the header's).
    let query =
        "Action=GetCallerIdentity&X-Amz-Credential=ASIAEXAMPLEEXAMPLE2%2F20250101%2Fus-east-1%2Fsts%2Faws4_request";
    assert_eq!(
        claimed_access_key_id(None, query).as_deref(),
        Some("ASIAEXAMPLEEXAMPLE2")
    );
    assert_eq!(claimed_access_key_id(None, "Action=GetCallerIdentity"), None);
}
