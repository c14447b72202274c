//! The mapping table: for each of Postman's auth types, its keys and signet's names for them
//! (Postman's field names in snake_case, from postman-runtime's authorizers and the app's
//! exports), and how each value is carried over.

/// How one Postman key becomes a signet key.
#[derive(Debug, Clone, Copy)]
pub(super) enum How {
    /// A setting written as its value.
    Str,
    /// A credential: written as `${NAME}`.
    Secret,
    /// A boolean.
    Bool,
    /// A boolean that says the opposite (`disableRetryRequest` → `retry`).
    NotBool,
    /// A whole number (JSON or a string of digits).
    Int,
    /// Postman's value → signet's.
    Choice(&'static [(&'static str, &'static str)]),
    /// A boolean that picks one of two strings: (true, false).
    Pick(&'static str, &'static str),
    /// A comma-separated string → a list.
    List,
    /// OAuth 2.0's extra parameter rows.
    Extra,
    /// Postman's UI state: nothing to carry over.
    Ignore,
}

/// (Postman's key, signet's key, how).
pub(super) struct Key(pub &'static str, pub &'static str, pub How);

/// One of Postman's types: its name (signet's is the same) and keys.
pub(super) struct Type {
    pub name: &'static str,
    pub keys: &'static [Key],
    /// signet keys written even when empty.
    pub required: &'static [&'static str],
}

pub(super) const SEND_AS: &[(&str, &str)] = &[
    ("request_body", "body"),
    ("request_url", "url"),
    ("request_header", "header"),
];

/// Keys of every type that only remember the state of Postman's form.
pub(super) const UI_STATE: &[&str] = &["saveHelperData", "showPassword"];

pub(super) const TYPES: &[Type] = &[
    Type {
        name: "apikey",
        keys: &[
            Key("key", "key", How::Str),
            Key("value", "value", How::Secret),
            Key(
                "in",
                "add_to",
                How::Choice(&[("header", "header"), ("query", "query")]),
            ),
        ],
        required: &["key", "value"],
    },
    Type {
        name: "bearer",
        keys: &[Key("token", "token", How::Secret)],
        required: &["token"],
    },
    Type {
        name: "basic",
        keys: &[
            Key("username", "username", How::Str),
            Key("password", "password", How::Secret),
            Key("showPassword", "", How::Ignore),
        ],
        required: &["username", "password"],
    },
    Type {
        name: "digest",
        keys: &[
            Key("username", "username", How::Str),
            Key("password", "password", How::Secret),
            Key("disableRetryRequest", "retry", How::NotBool),
            Key("realm", "realm", How::Str),
            Key("nonce", "nonce", How::Str),
            Key("algorithm", "algorithm", How::Str),
            Key("qop", "qop", How::Str),
            Key("nonceCount", "nonce_count", How::Str),
            Key("clientNonce", "client_nonce", How::Str),
            Key("opaque", "opaque", How::Str),
            Key("showPassword", "", How::Ignore),
        ],
        required: &["username", "password"],
    },
    Type {
        name: "ntlm",
        keys: &[
            Key("username", "username", How::Str),
            Key("password", "password", How::Secret),
            Key("domain", "domain", How::Str),
            Key("workstation", "workstation", How::Str),
            Key("disableRetryRequest", "retry", How::NotBool),
            Key("showPassword", "", How::Ignore),
        ],
        required: &["username", "password"],
    },
    Type {
        name: "oauth1",
        keys: &[
            Key("consumerKey", "consumer_key", How::Secret),
            Key("consumerSecret", "consumer_secret", How::Secret),
            Key("token", "token", How::Secret),
            Key("tokenSecret", "token_secret", How::Secret),
            Key("signatureMethod", "signature_method", How::Str),
            Key("privateKey", "private_key", How::Secret),
            Key(
                "addParamsToHeader",
                "add_to",
                How::Pick("header", "query_or_body"),
            ),
            Key("callback", "callback", How::Str),
            Key("verifier", "verifier", How::Secret),
            Key("timestamp", "timestamp", How::Str),
            Key("nonce", "nonce", How::Str),
            Key("version", "version", How::Str),
            Key("realm", "realm", How::Str),
            Key("includeBodyHash", "include_body_hash", How::Bool),
            Key("addEmptyParamsToSign", "add_empty_params", How::Bool),
            Key(
                "disableHeaderEncoding",
                "encode_header_params",
                How::NotBool,
            ),
        ],
        required: &["consumer_key"],
    },
    Type {
        name: "oauth2",
        keys: &[
            Key(
                "grant_type",
                "grant_type",
                How::Choice(&[
                    ("client_credentials", "client_credentials"),
                    ("password_credentials", "password"),
                    ("authorization_code", "authorization_code"),
                    ("authorization_code_with_pkce", "authorization_code_pkce"),
                    ("implicit", "implicit"),
                ]),
            ),
            Key("accessToken", "access_token", How::Secret),
            Key("accessTokenUrl", "access_token_url", How::Str),
            Key("authUrl", "auth_url", How::Str),
            Key("refreshTokenUrl", "refresh_token_url", How::Str),
            Key("redirect_uri", "callback_url", How::Str),
            Key("clientId", "client_id", How::Str),
            Key("clientSecret", "client_secret", How::Secret),
            Key(
                "client_authentication",
                "client_authentication",
                How::Choice(&[("header", "header"), ("body", "body")]),
            ),
            Key("scope", "scope", How::Str),
            Key("state", "state", How::Str),
            Key("audience", "audience", How::Str),
            Key("resource", "resource", How::Str),
            Key("username", "username", How::Str),
            Key("password", "password", How::Secret),
            Key("challengeAlgorithm", "code_challenge_method", How::Str),
            Key("code_verifier", "code_verifier", How::Secret),
            Key("headerPrefix", "header_prefix", How::Str),
            Key(
                "addTokenTo",
                "add_to",
                How::Choice(&[("header", "header"), ("queryParams", "query")]),
            ),
            Key("authRequestParams", "auth_request", How::Extra),
            Key("tokenRequestParams", "token_request", How::Extra),
            Key("refreshRequestParams", "refresh_request", How::Extra),
            Key("tokenName", "", How::Ignore),
            Key("tokenType", "", How::Ignore),
            Key("useBrowser", "", How::Ignore),
            Key("id", "", How::Ignore),
        ],
        required: &[],
    },
    Type {
        name: "hawk",
        keys: &[
            Key("authId", "auth_id", How::Str),
            Key("authKey", "auth_key", How::Secret),
            Key("algorithm", "algorithm", How::Str),
            Key("user", "user", How::Str),
            Key("nonce", "nonce", How::Str),
            Key("extraData", "ext", How::Str),
            Key("app", "app", How::Str),
            Key("delegation", "dlg", How::Str),
            Key("timestamp", "timestamp", How::Str),
            Key("includePayloadHash", "include_payload_hash", How::Bool),
        ],
        required: &["auth_id", "auth_key"],
    },
    Type {
        name: "awsv4",
        keys: &[
            Key("accessKey", "access_key", How::Secret),
            Key("secretKey", "secret_key", How::Secret),
            Key("sessionToken", "session_token", How::Secret),
            Key("region", "region", How::Str),
            Key("service", "service", How::Str),
            Key("addAuthDataToQuery", "add_to", How::Pick("query", "header")),
        ],
        required: &["access_key", "secret_key"],
    },
    Type {
        name: "edgegrid",
        keys: &[
            Key("accessToken", "access_token", How::Secret),
            Key("clientToken", "client_token", How::Secret),
            Key("clientSecret", "client_secret", How::Secret),
            Key("headersToSign", "headers_to_sign", How::List),
            Key("maxBodySize", "max_body", How::Int),
            Key("nonce", "nonce", How::Str),
            Key("timestamp", "timestamp", How::Str),
            // The host the rule is for already says where the credentials go.
            Key("baseURL", "", How::Ignore),
        ],
        required: &["access_token", "client_token", "client_secret"],
    },
    Type {
        name: "jwt",
        keys: &[
            Key("algorithm", "algorithm", How::Str),
            Key("secret", "secret", How::Secret),
            Key(
                "isSecretBase64Encoded",
                "is_secret_base64_encoded",
                How::Bool,
            ),
            Key("privateKey", "private_key", How::Secret),
            Key("payload", "payload", How::Str),
            Key("header", "header", How::Str),
            Key(
                "addTokenTo",
                "add_token_to",
                How::Choice(&[("header", "header"), ("queryParam", "query_param")]),
            ),
            Key("headerPrefix", "header_prefix", How::Str),
            Key("queryParamKey", "query_param_key", How::Str),
        ],
        required: &["algorithm"],
    },
    Type {
        name: "asap",
        keys: &[
            Key("alg", "alg", How::Str),
            Key("iss", "iss", How::Str),
            Key("aud", "aud", How::Str),
            Key("kid", "kid", How::Str),
            Key("sub", "sub", How::Str),
            Key("privateKey", "private_key", How::Secret),
            Key("claims", "claims", How::Str),
            Key("exp", "exp", How::Int),
        ],
        required: &["iss", "aud", "kid", "private_key"],
    },
];
