//! Sign-in with the organisation's OpenID Connect provider: `[oidc]` in
//! `writ.toml`, and the check of the ID tokens `writ login` brings.
//!
//! Writ is a relying party that never talks to the provider's token
//! endpoint: the CLI (a public native client, RFC 8252, PKCE) gets the ID
//! token, and Writ verifies it against the provider's published keys —
//! signature, issuer, audience (= Writ's client id), expiry, issue time, and
//! the nonce when the client sent it — then maps one claim to a Writ person.
//! Discovery and the JWKS are fetched on first use and cached; the JWKS is
//! fetched again when a token names a key id it does not hold (key rotation),
//! at most once per [`REFETCH_AFTER`].

use std::collections::HashMap;
use std::time::{Duration, Instant};

use jsonwebtoken::jwk::JwkSet;
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde::Deserialize;
use tokio::sync::Mutex;
use writ_connectors::secret::{Secret, SecretSource};
use writ_core::duration::AccessDuration;

/// Clock skew allowed between Writ and the provider.
const LEEWAY_SECS: i64 = 60;
/// The longest a sign-in's Writ token may last (`session_lifetime`).
const MAX_SESSION_SECS: i64 = 7 * 86_400;
/// A token with an unknown key id refetches the JWKS at most this often.
const REFETCH_AFTER: Duration = Duration::from_secs(5);
/// The scopes `writ login` asks for.
pub const SCOPES: &str = "openid profile email";

/// `[oidc]`: sign-in with the organisation's OpenID provider.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OidcConfig {
    /// The provider's issuer URL, exactly as its ID tokens' `iss` says it,
    /// e.g. `https://login.example.com/realms/staff`. https, except on loopback.
    pub issuer: String,
    /// Writ's client id at the provider (a public client: `writ login` uses
    /// PKCE and no secret); ID tokens for another client are refused.
    pub client_id: String,
    /// The claim that holds the Writ identity id: `preferred_username`
    /// (default), `email`, `sub`, or another string claim.
    #[serde(default = "default_claim")]
    pub identity_claim: String,
    /// How long the Writ token of a sign-in lasts (default `8h`, at most `7d`).
    #[serde(default = "default_session")]
    pub session_lifetime: String,
    /// Writ's client secret, for a confidential client (the web portal's
    /// code exchange): the name of an environment variable holding it…
    #[serde(default)]
    pub client_secret_env: Option<String>,
    /// …or a file holding it (one of the two). `writ login` needs neither.
    #[serde(default)]
    pub client_secret_file: Option<std::path::PathBuf>,
    /// Where the provider sends a browser back after signing in to the
    /// portal, e.g. `https://writ.example.com/portal/callback` (register it
    /// at the provider). Absent: `http://<listen>/portal/callback` when Writ
    /// listens on loopback (development), else the portal cannot sign in.
    #[serde(default)]
    pub portal_redirect_uri: Option<String>,
}

fn default_claim() -> String {
    "preferred_username".into()
}

fn default_session() -> String {
    "8h".into()
}

/// Why `[oidc]` cannot be used.
#[derive(Debug, thiserror::Error)]
#[error("`[oidc] {key}`: {reason}")]
pub struct OidcConfigError {
    pub key: &'static str,
    pub reason: String,
}

/// Why an ID token is refused. Each says what to do; none repeats the token.
#[derive(Debug, thiserror::Error)]
pub enum SignInError {
    #[error("the ID token is not a well-formed JWT (three base64url parts; standard claims of their standard types): pass the `id_token` the provider returned, unchanged")]
    Malformed,
    #[error("the ID token was issued by `{0}`, but this server trusts only `{1}`: sign in with that provider (`writ login`)")]
    UnknownIssuer(String, String),
    #[error("the ID token's signature does not verify with the provider's published keys: it was altered or not signed by the provider; sign in again")]
    BadSignature,
    #[error(
        "the ID token is signed with `{0:?}`, which this server does not take: configure the provider to sign ID tokens with RS256, PS256, ES256 or EdDSA"
    )]
    Algorithm(Algorithm),
    #[error("the ID token is for client `{0}`, not for Writ (`{1}`): sign in through `writ login`, which asks for a token for Writ")]
    WrongAudience(String, String),
    #[error("the ID token has expired: sign in again (`writ login`)")]
    Expired,
    #[error("the ID token is dated in the future (`iat`/`nbf`): check the clocks of this server and the provider, then sign in again")]
    NotYetValid,
    #[error("the ID token's nonce is not the one of this sign-in: it belongs to another sign-in; sign in again")]
    Nonce,
    #[error("the ID token has no `{0}`, which every ID token carries: tell Writ's operator; the provider does not follow OpenID Connect")]
    MissingClaim(String),
    #[error("the ID token has no string claim `{0}` (`[oidc] identity_claim`): ask the provider's administrator to release it to Writ, or Writ's operator to change the setting")]
    MissingIdentityClaim(String),
    #[error("the provider `{0}` cannot be reached or answered badly ({1}): try again later, or tell Writ's operator")]
    Provider(String, String),
    #[error("the provider refused to redeem this sign-in (`{0}`): it expired or was used already; sign in again")]
    CodeRefused(String),
}

/// The verified facts of an ID token.
#[derive(Debug, Clone)]
pub struct Verified {
    /// `sub`: the provider's id for the person.
    pub subject: String,
    /// The value of `identity_claim`: the Writ identity id.
    pub identity: String,
}

/// The relying party: configuration, and the provider's keys once fetched.
pub struct Oidc {
    /// Where the provider sends the portal's browser back, if known.
    portal_redirect: Option<String>,
    issuer: String,
    client_id: String,
    claim: String,
    session: AccessDuration,
    client_secret: Option<Secret>,
    http: reqwest::Client,
    keys: Mutex<Keys>,
}

#[derive(Default)]
struct Keys {
    jwks_uri: Option<String>,
    endpoints: Option<Endpoints>,
    by_kid: HashMap<String, DecodingKey>,
    fetched: Option<Instant>,
}

#[derive(Deserialize)]
struct Discovery {
    issuer: String,
    jwks_uri: String,
    #[serde(default)]
    authorization_endpoint: Option<String>,
    #[serde(default)]
    token_endpoint: Option<String>,
}

/// Where a browser signs in, and where Writ redeems the code (the portal's
/// authorization code flow).
#[derive(Debug, Clone)]
pub struct Endpoints {
    pub authorization: String,
    pub token: String,
}

/// The claims Writ reads itself (the others are checked by `jsonwebtoken`).
#[derive(Deserialize)]
struct Claims {
    sub: String,
    #[serde(default)]
    iat: Option<i64>,
    #[serde(default)]
    nonce: Option<String>,
    #[serde(flatten)]
    rest: HashMap<String, serde_json::Value>,
}

#[derive(Deserialize)]
struct Unverified {
    #[serde(default)]
    iss: Option<String>,
    #[serde(default)]
    aud: Option<serde_json::Value>,
}

impl OidcConfig {
    /// Checks every key; the issuer must be https unless on loopback.
    pub fn resolve(&self) -> Result<Oidc, OidcConfigError> {
        let bad = |key, reason: String| OidcConfigError { key, reason };
        let url = reqwest::Url::parse(self.issuer.trim()).map_err(|e| bad("issuer", format!("not a URL ({e}): write e.g. `https://login.example.com`")))?;
        let loopback = url.host_str().and_then(|h| h.trim_matches(['[', ']']).parse::<std::net::IpAddr>().ok()).is_some_and(|a| a.is_loopback());
        match url.scheme() {
            "https" => {}
            "http" if loopback => {}
            other => return Err(bad("issuer", format!("scheme `{other}`: the provider's keys must come over https (http only on 127.0.0.1/::1)"))),
        }
        if self.client_id.trim().is_empty() {
            return Err(bad("client_id", "empty: give Writ's client id at the provider".into()));
        }
        if self.identity_claim.trim().is_empty() {
            return Err(bad("identity_claim", "empty: e.g. `preferred_username` or `email`".into()));
        }
        let session = AccessDuration::parse(&self.session_lifetime).map_err(|e| bad("session_lifetime", e.to_string()))?;
        if session.secs() > MAX_SESSION_SECS {
            return Err(bad(
                "session_lifetime",
                format!("`{}` is longer than 7d: a sign-in's token is short-lived; use `writ token create` for long ones", self.session_lifetime),
            ));
        }
        let source = SecretSource { env: self.client_secret_env.clone(), file: self.client_secret_file.clone() };
        let client_secret = source.load("oidc").map_err(|e| bad("client_secret_env/client_secret_file", e.to_string()))?;
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(10))
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(|e| bad("issuer", format!("cannot build an HTTP client: {e}")))?;
        let portal_redirect = match self.portal_redirect_uri.as_deref().map(str::trim).filter(|u| !u.is_empty()) {
            None => None,
            Some(u) => {
                let url = reqwest::Url::parse(u)
                    .map_err(|e| bad("portal_redirect_uri", format!("not a URL ({e}): write e.g. `https://writ.example.com/portal/callback`")))?;
                let loopback = url.host_str().and_then(|h| h.trim_matches(['[', ']']).parse::<std::net::IpAddr>().ok()).is_some_and(|a| a.is_loopback());
                if url.scheme() != "https" && !(url.scheme() == "http" && loopback) {
                    return Err(bad("portal_redirect_uri", "must be https (http only on 127.0.0.1/::1): the sign-in's code travels in it".into()));
                }
                if url.path() != "/portal/callback" {
                    return Err(bad("portal_redirect_uri", format!("its path must be `/portal/callback`, not `{}`", url.path())));
                }
                Some(u.to_owned())
            }
        };
        Ok(Oidc {
            portal_redirect,
            issuer: self.issuer.trim().to_string(),
            client_id: self.client_id.trim().to_string(),
            claim: self.identity_claim.trim().to_string(),
            session,
            client_secret,
            http,
            keys: Mutex::new(Keys::default()),
        })
    }
}

impl Oidc {
    /// Derives the portal's redirect URI from the address Writ listens on,
    /// when none was configured and that address is loopback.
    pub fn with_listen(mut self, listen: std::net::SocketAddr) -> Self {
        if self.portal_redirect.is_none() && listen.ip().is_loopback() {
            self.portal_redirect = Some(format!("http://{listen}/portal/callback"));
        }
        self
    }

    /// Where the provider sends the portal's browser back, if known.
    pub fn portal_redirect(&self) -> Option<&str> {
        self.portal_redirect.as_deref()
    }

    pub fn issuer(&self) -> &str {
        &self.issuer
    }

    pub fn client_id(&self) -> &str {
        &self.client_id
    }

    /// Writ's client secret at the provider, if configured: for a
    /// confidential client's code exchange (the CLI is a public client).
    pub fn client_secret(&self) -> Option<&Secret> {
        self.client_secret.as_ref()
    }

    /// How long a sign-in's Writ token lasts.
    pub fn session_lifetime(&self) -> AccessDuration {
        self.session
    }

    /// Verifies `id_token` (and `nonce`, if given) and reads the identity claim.
    pub async fn verify(&self, id_token: &str, nonce: Option<&str>, now: i64) -> Result<Verified, SignInError> {
        let header = jsonwebtoken::decode_header(id_token).map_err(|_| SignInError::Malformed)?;
        let unverified = unverified_claims(id_token)?;
        // The issuer first: a token of another provider is named as such,
        // not reported as a bad signature.
        let iss = unverified.iss.unwrap_or_default();
        if iss != self.issuer {
            return Err(SignInError::UnknownIssuer(iss, self.issuer.clone()));
        }
        if !matches!(
            header.alg,
            Algorithm::RS256
                | Algorithm::RS384
                | Algorithm::RS512
                | Algorithm::PS256
                | Algorithm::PS384
                | Algorithm::PS512
                | Algorithm::ES256
                | Algorithm::ES384
                | Algorithm::EdDSA
        ) {
            return Err(SignInError::Algorithm(header.alg));
        }
        let key = self.key(header.kid.as_deref()).await?;
        let mut validation = Validation::new(header.alg);
        validation.set_issuer(&[&self.issuer]);
        validation.set_audience(&[&self.client_id]);
        validation.set_required_spec_claims(&["exp", "iss", "aud", "sub"]);
        validation.leeway = LEEWAY_SECS as u64;
        validation.validate_nbf = true;
        let data = jsonwebtoken::decode::<Claims>(id_token, &key, &validation).map_err(|e| {
            use jsonwebtoken::errors::ErrorKind as K;
            match e.kind() {
                K::ExpiredSignature => SignInError::Expired,
                K::ImmatureSignature => SignInError::NotYetValid,
                K::InvalidAudience => SignInError::WrongAudience(audience_text(unverified.aud.as_ref()), self.client_id.clone()),
                K::InvalidIssuer => SignInError::UnknownIssuer(iss.clone(), self.issuer.clone()),
                K::MissingRequiredClaim(c) => SignInError::MissingClaim(c.clone()),
                K::InvalidAlgorithm => SignInError::Algorithm(header.alg),
                K::Json(_) => SignInError::Malformed,
                _ => SignInError::BadSignature,
            }
        })?;
        let claims = data.claims;
        // OpenID Connect Core 2: every ID token says when it was issued.
        let iat = claims.iat.ok_or_else(|| SignInError::MissingClaim("iat".into()))?;
        if iat > now + LEEWAY_SECS {
            return Err(SignInError::NotYetValid);
        }
        if let Some(expected) = nonce {
            if claims.nonce.as_deref() != Some(expected) {
                return Err(SignInError::Nonce);
            }
        }
        let identity = if self.claim == "sub" { Some(claims.sub.clone()) } else { claims.rest.get(&self.claim).and_then(|v| v.as_str()).map(str::to_owned) };
        let identity = identity.filter(|s| !s.is_empty()).ok_or_else(|| SignInError::MissingIdentityClaim(self.claim.clone()))?;
        Ok(Verified { subject: claims.sub, identity })
    }

    /// The provider's key `kid` (the only key when the token names none),
    /// fetching discovery and the JWKS when needed.
    async fn key(&self, kid: Option<&str>) -> Result<DecodingKey, SignInError> {
        let mut keys = self.keys.lock().await;
        let stale = keys.fetched.is_none_or(|at| at.elapsed() >= REFETCH_AFTER);
        let found = |keys: &Keys| match kid {
            Some(kid) => keys.by_kid.get(kid).cloned(),
            None if keys.by_kid.len() == 1 => keys.by_kid.values().next().cloned(),
            None => None,
        };
        if let Some(key) = found(&keys) {
            return Ok(key);
        }
        if !stale {
            return Err(SignInError::BadSignature);
        }
        self.fetch(&mut keys).await?;
        found(&keys).ok_or(SignInError::BadSignature)
    }

    async fn fetch(&self, keys: &mut Keys) -> Result<(), SignInError> {
        let fail = |what: String| SignInError::Provider(self.issuer.clone(), what);
        keys.fetched = Some(Instant::now());
        let jwks_uri = match &keys.jwks_uri {
            Some(u) => u.clone(),
            None => {
                let url = format!("{}/.well-known/openid-configuration", self.issuer.trim_end_matches('/'));
                let d: Discovery = self.get_json(&url).await.map_err(|e| fail(format!("discovery: {e}")))?;
                if d.issuer != self.issuer {
                    return Err(fail(format!(
                        "its discovery document names issuer `{}`, not `{}` (`[oidc] issuer` must be exactly the provider's)",
                        d.issuer, self.issuer
                    )));
                }
                keys.jwks_uri = Some(d.jwks_uri.clone());
                if let (Some(authorization), Some(token)) = (d.authorization_endpoint, d.token_endpoint) {
                    keys.endpoints = Some(Endpoints { authorization, token });
                }
                d.jwks_uri
            }
        };
        let set: JwkSet = self.get_json(&jwks_uri).await.map_err(|e| fail(format!("JWKS: {e}")))?;
        keys.by_kid = set
            .keys
            .iter()
            .filter(|k| k.common.public_key_use.as_ref().is_none_or(|u| *u == jsonwebtoken::jwk::PublicKeyUse::Signature))
            .filter_map(|k| Some((k.common.key_id.clone().unwrap_or_default(), DecodingKey::from_jwk(k).ok()?)))
            .collect();
        tracing::info!(issuer = %self.issuer, keys = keys.by_kid.len(), "fetched the OpenID provider's signing keys");
        Ok(())
    }

    /// The provider's authorization and token endpoints, from its discovery
    /// document (fetched with its keys).
    pub async fn endpoints(&self) -> Result<Endpoints, SignInError> {
        let mut keys = self.keys.lock().await;
        if keys.endpoints.is_none() {
            keys.jwks_uri = None;
            self.fetch(&mut keys).await?;
        }
        keys.endpoints
            .clone()
            .ok_or_else(|| SignInError::Provider(self.issuer.clone(), "its discovery document names no authorization or token endpoint".into()))
    }

    /// Redeems an authorization `code` (with its PKCE `verifier`) at the
    /// provider's token endpoint; returns the ID token, still to be verified.
    pub async fn redeem(&self, code: &str, verifier: &str, redirect_uri: &str) -> Result<String, SignInError> {
        let fail = |what: String| SignInError::Provider(self.issuer.clone(), what);
        let token_endpoint = self.endpoints().await?.token;
        let mut form = vec![
            ("grant_type", "authorization_code"),
            ("code", code),
            ("redirect_uri", redirect_uri),
            ("client_id", self.client_id.as_str()),
            ("code_verifier", verifier),
        ];
        if let Some(secret) = &self.client_secret {
            form.push(("client_secret", secret.expose()));
        }
        let answer = self.http.post(&token_endpoint).form(&form).send().await.map_err(|e| fail(format!("token endpoint: {}", e.without_url())))?;
        let status = answer.status();
        #[derive(Deserialize)]
        struct TokenAnswer {
            #[serde(default)]
            id_token: Option<String>,
            #[serde(default)]
            error: Option<String>,
        }
        let body: TokenAnswer = answer.json().await.map_err(|e| fail(format!("token endpoint answered {status} without JSON: {}", e.without_url())))?;
        match (body.id_token, body.error) {
            (Some(t), _) if status.is_success() => Ok(t),
            (_, Some(error)) => Err(SignInError::CodeRefused(error)),
            _ => Err(fail(format!("token endpoint answered {status} without an ID token"))),
        }
    }

    async fn get_json<T: serde::de::DeserializeOwned>(&self, url: &str) -> Result<T, String> {
        let answer = self.http.get(url).send().await.map_err(|e| e.without_url().to_string())?;
        if !answer.status().is_success() {
            return Err(format!("HTTP {}", answer.status()));
        }
        answer.json().await.map_err(|e| e.without_url().to_string())
    }
}

/// The payload, read without verifying: only to name the issuer and audience
/// in errors (never trusted for anything else).
fn unverified_claims(jwt: &str) -> Result<Unverified, SignInError> {
    let mut read_only = Validation::new(Algorithm::RS256);
    read_only.insecure_disable_signature_validation();
    read_only.validate_exp = false;
    read_only.validate_aud = false;
    read_only.required_spec_claims.clear();
    read_only.algorithms = vec![jsonwebtoken::decode_header(jwt).map_err(|_| SignInError::Malformed)?.alg];
    jsonwebtoken::decode::<Unverified>(jwt, &DecodingKey::from_secret(&[]), &read_only).map(|d| d.claims).map_err(|_| SignInError::Malformed)
}

fn audience_text(aud: Option<&serde_json::Value>) -> String {
    match aud {
        Some(serde_json::Value::String(s)) => s.clone(),
        Some(serde_json::Value::Array(a)) => a.iter().filter_map(|v| v.as_str()).collect::<Vec<_>>().join(", "),
        _ => String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(issuer: &str) -> OidcConfig {
        OidcConfig {
            issuer: issuer.into(),
            client_id: "writ".into(),
            identity_claim: default_claim(),
            session_lifetime: default_session(),
            client_secret_env: None,
            client_secret_file: None,
            portal_redirect_uri: None,
        }
    }

    #[test]
    fn the_portals_redirect_is_configured_https_or_derived_on_loopback_only() {
        let with = |u: &str| OidcConfig { portal_redirect_uri: Some(u.into()), ..config("https://login.example.com") }.resolve();
        assert_eq!(with("https://writ.example.com/portal/callback").unwrap().portal_redirect(), Some("https://writ.example.com/portal/callback"));
        assert!(with("http://writ.example.com/portal/callback").err().unwrap().to_string().contains("https"));
        assert!(with("https://writ.example.com/callback").err().unwrap().to_string().contains("/portal/callback"));
        let listen: std::net::SocketAddr = "127.0.0.1:7878".parse().unwrap();
        assert_eq!(config("https://login.example.com").resolve().unwrap().with_listen(listen).portal_redirect(), Some("http://127.0.0.1:7878/portal/callback"));
        let public: std::net::SocketAddr = "0.0.0.0:7878".parse().unwrap();
        assert_eq!(config("https://login.example.com").resolve().unwrap().with_listen(public).portal_redirect(), None, "never guessed off loopback");
    }

    #[test]
    fn the_issuer_is_https_except_on_loopback() {
        assert!(config("https://login.example.com").resolve().is_ok());
        assert!(config("http://127.0.0.1:8080").resolve().is_ok());
        let e = config("http://login.example.com").resolve().err().unwrap().to_string();
        assert!(e.contains("issuer") && e.contains("https"), "{e}");
    }

    #[test]
    fn a_session_is_short() {
        let mut c = config("https://login.example.com");
        c.session_lifetime = "30d".into();
        let e = c.resolve().err().unwrap().to_string();
        assert!(e.contains("session_lifetime") && e.contains("7d"), "{e}");
    }

    #[test]
    fn the_client_secret_comes_from_a_file_and_never_prints() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("secret");
        std::fs::write(&file, "s3cret-value\n").unwrap();
        let mut c = config("https://login.example.com");
        c.client_secret_file = Some(file);
        let oidc = c.resolve().unwrap();
        assert_eq!(oidc.client_secret().unwrap().expose(), "s3cret-value");
        assert!(!format!("{:?}", oidc.client_secret()).contains("s3cret"));
        c.client_secret_file = Some(dir.path().join("missing"));
        let e = c.resolve().err().unwrap().to_string();
        assert!(e.contains("client_secret") && e.contains("missing"), "{e}");
    }

    #[test]
    fn garbage_is_malformed() {
        assert!(matches!(unverified_claims("abc"), Err(SignInError::Malformed)));
    }
}
