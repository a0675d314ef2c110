//! A throwaway OpenID Connect provider: the npm package `oidc-provider` (pinned
//! in `crates/testkit/oidc-provider/package-lock.json`), run by Node on 127.0.0.1.
//!
//! Its users sign in through the provider's own development pages (any login
//! name, any password); [`OidcProvider::id_token`], [`OidcProvider::approve`]
//! and [`OidcProvider::approve_device`] drive those pages over plain HTTP the
//! way a browser would (cookies, forms, redirects), so a test gets real tokens
//! from the real provider without a browser. [`OidcProvider::sign_in`] does
//! the same in a real one.

use std::collections::BTreeMap;
use std::io;
use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

use sha2::{Digest, Sha256};

use crate::browser::BrowserError;
use crate::process::{self, HttpResponse, Launch, Supervised};
use crate::TestkitError;

const STARTUP_TIMEOUT: Duration = Duration::from_secs(30);
/// Writ's client at the provider: public, native (any port on 127.0.0.1), PKCE.
pub const CLIENT_ID: &str = "writ";
/// Another client of the same provider: its ID tokens are not meant for Writ.
pub const OTHER_CLIENT_ID: &str = "other-app";
const READY: &str = "OIDC_PROVIDER_READY ";

/// The folder holding `provider.mjs` and its `node_modules` (`npm ci` by
/// `scripts/install-test-deps.sh`).
pub fn provider_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("oidc-provider")
}

/// A real OpenID provider on `http://127.0.0.1:PORT` (the issuer), with the
/// clients [`CLIENT_ID`] and [`OTHER_CLIENT_ID`], the authorization code (PKCE
/// required) and device authorization grants, and ID tokens carrying `sub` =
/// `preferred_username` = the login name, `email` = `LOGIN@example.test`,
/// `name` and `groups`. A fresh RSA key per start, served at `/jwks`.
/// Stopped (and its temp dir deleted) on drop.
pub struct OidcProvider {
    proc: Supervised,
    node: PathBuf,
}

fn command(node: &std::path::Path, port: u16) -> Command {
    let mut cmd = Command::new(node);
    cmd.arg(provider_dir().join("provider.mjs")).env("OP_PORT", port.to_string()).env("OP_TEST_SIGNING", "1");
    cmd
}

fn ready(l: &Launch) -> bool {
    l.log_since_start().contains(&format!("{READY}{{\"issuer\":\"http://127.0.0.1:{}\"", l.port))
}

impl OidcProvider {
    /// Starts a provider and waits for its ready line (about half a second).
    pub fn start() -> Result<OidcProvider, TestkitError> {
        let node = process::find_binary("node", "nodejs", &[])?;
        let dir = provider_dir();
        if !dir.join("node_modules/oidc-provider").is_dir() {
            return Err(TestkitError::Command {
                what: format!("the OIDC test provider in {}", dir.display()),
                output: "its node_modules are missing: run ./scripts/install-test-deps.sh (npm ci)".into(),
            });
        }
        let mut proc = Supervised::new(process::server_dir("writ-oidc-", None)?, "oidc-provider", "TERM", STARTUP_TIMEOUT);
        proc.start_on_free_port(|port| command(&node, port), ready)?;
        Ok(OidcProvider { proc, node })
    }

    /// Stops the provider and starts it again on the same port (same issuer)
    /// with a **new signing key** (and no sessions): a key rotation.
    pub fn restart_with_a_new_key(&mut self) -> Result<(), TestkitError> {
        self.proc.stop();
        let node = self.node.clone();
        self.proc.restart(|port| command(&node, port), ready)
    }

    /// `http://127.0.0.1:PORT`, exactly as the ID tokens' `iss` says it.
    pub fn issuer(&self) -> String {
        format!("http://127.0.0.1:{}", self.proc.port())
    }

    pub fn port(&self) -> u16 {
        self.proc.port()
    }

    /// The provider's output (stdout and stderr).
    pub fn log_tail(&self) -> String {
        process::log_tail(self.proc.log(), 30)
    }

    /// An ID token for `login`, issued to `client_id` through the whole
    /// authorization code flow with PKCE (dev login and consent pages driven
    /// over HTTP), with `nonce`.
    pub fn id_token(&self, client_id: &str, login: &str, nonce: &str) -> Result<String, TestkitError> {
        let redirect = "http://127.0.0.1:1/callback";
        let verifier = hex_sha256(&format!("{}{:?}{login}", std::process::id(), std::time::SystemTime::now()));
        let challenge = b64url(&Sha256::digest(verifier.as_bytes()));
        let query = form(&[
            ("client_id", client_id),
            ("response_type", "code"),
            ("redirect_uri", redirect),
            ("scope", "openid email profile groups"),
            ("state", "s"),
            ("nonce", nonce),
            ("code_challenge", &challenge),
            ("code_challenge_method", "S256"),
        ]);
        let back = self.approve(&format!("{}/auth?{query}", self.issuer()), login)?;
        let code = query_param(&back, "code").ok_or_else(|| fail(format!("no code in {back}")))?;
        let body =
            form(&[("grant_type", "authorization_code"), ("code", &code), ("redirect_uri", redirect), ("code_verifier", &verifier), ("client_id", client_id)]);
        let answer = self.request("POST", "/token", &[("Content-Type", "application/x-www-form-urlencoded")], Some(&body))?;
        let json: serde_json::Value = serde_json::from_str(&answer.body).map_err(|e| fail(format!("token answer {e}: {}", answer.body)))?;
        json["id_token"].as_str().map(str::to_owned).ok_or_else(|| fail(format!("no id_token: {}", answer.body)))
    }

    /// Signs `claims` with the provider's own key (RS256, its JWKS `kid`): for
    /// tokens an honest provider would not issue (expired, another audience).
    pub fn sign(&self, claims: &serde_json::Value) -> Result<String, TestkitError> {
        let answer = self.request("POST", "/test/sign", &[("Content-Type", "application/json")], Some(&claims.to_string()))?;
        if answer.status != 200 {
            return Err(fail(format!("/test/sign: {} {}", answer.status, answer.body)));
        }
        Ok(answer.body)
    }

    /// A browser at `auth_url` (an authorization request of this provider)
    /// where the user signs in as `login` and consents: returns the URL the
    /// provider sends the browser back to (`…/callback?code=…&state=…`),
    /// without visiting it.
    pub fn approve(&self, auth_url: &str, login: &str) -> Result<String, TestkitError> {
        let mut browser = Browser::new(self.port());
        browser.drive(auth_url, login, |url| !url.starts_with(&self.issuer()))?.ok_or_else(|| fail("the provider never redirected back".into()))
    }

    /// A person in a real browser (see [`crate::browser`]) who opens
    /// `auth_url` (an authorization request of this provider), signs in as
    /// `login` on the provider's login page (any password), consents, and is
    /// sent on by the provider: returns the URL the browser then shows, the
    /// client's redirect URI with the code (the page there has loaded).
    ///
    /// Saves the screenshots `provider-login` and `provider-consent`.
    pub fn sign_in(&self, browser: &crate::browser::Browser, auth_url: &str, login: &str) -> Result<String, BrowserError> {
        let issuer = self.issuer();
        let wait = crate::browser::DEFAULT_WAIT;
        browser.goto(auth_url)?;
        // The dev pages' forms tell the prompt they answer in a hidden input;
        // the fields and buttons are the ones a person sees.
        browser.wait_for("form input[name='prompt'][value='login']", wait)?;
        browser.screenshot("provider-login")?;
        browser.fill("input[name='login']", login)?;
        browser.fill("input[name='password']", "any password")?;
        browser.click_button("Sign-in")?;
        browser.wait_for("form input[name='prompt'][value='consent']", wait)?;
        browser.screenshot("provider-consent")?;
        browser.click_button("Continue")?;
        browser.wait_for_url(&format!("leaving the provider {issuer}"), wait, |url| !url.starts_with(&issuer))
    }

    /// A user at the device flow's `verification_uri_complete` who confirms
    /// the code, signs in as `login` and consents.
    pub fn approve_device(&self, verification_uri_complete: &str, login: &str) -> Result<(), TestkitError> {
        let mut browser = Browser::new(self.port());
        browser.drive(verification_uri_complete, login, |_| false)?;
        Ok(())
    }

    fn request(&self, method: &str, path: &str, headers: &[(&str, &str)], body: Option<&str>) -> Result<HttpResponse, TestkitError> {
        Ok(process::http_request(method, self.port(), path, headers, body)?)
    }
}

/// Enough of a browser for the provider's pages: a cookie jar (by name: the
/// provider scopes its cookies by path, and the newest of a name is always
/// the one that counts), redirects, and forms (every hidden input posted, plus
/// the credentials on the login page).
struct Browser {
    port: u16,
    cookies: BTreeMap<String, String>,
}

impl Browser {
    fn new(port: u16) -> Browser {
        Browser { port, cookies: BTreeMap::new() }
    }

    /// Follows `start` until `leaves(url)` says a redirect leaves the provider
    /// (returned), or a page has no form left (the end of a device flow: `None`).
    fn drive(&mut self, start: &str, login: &str, leaves: impl Fn(&str) -> bool) -> Result<Option<String>, TestkitError> {
        let origin = format!("http://127.0.0.1:{}", self.port);
        let path_of = |url: &str| url.strip_prefix(&origin).map(str::to_owned).ok_or_else(|| fail(format!("{url} is not on the provider {origin}")));
        let mut page = self.send("GET", &path_of(start)?, None)?;
        for _ in 0..30 {
            page = match page.status {
                300..=399 => {
                    let next = location(&page, &origin)?;
                    if leaves(&next) {
                        return Ok(Some(next));
                    }
                    self.send("GET", &path_of(&next)?, None)?
                }
                200 => {
                    let Some(action) = attr(&page.body, "<form", "action") else { return Ok(None) };
                    let mut fields = hidden_inputs(&page.body);
                    if fields.iter().any(|(k, v)| k == "prompt" && v == "login") {
                        fields.push(("login".into(), login.into()));
                        fields.push(("password".into(), "any".into()));
                    }
                    let pairs: Vec<(&str, &str)> = fields.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
                    let action = if action.starts_with('/') { format!("{origin}{action}") } else { action.replace("&amp;", "&") };
                    self.send("POST", &path_of(&action)?, Some(&form(&pairs)))?
                }
                s => return Err(fail(format!("{s} from the provider: {}", page.body))),
            };
        }
        Err(fail(format!("more than 30 pages from {start}")))
    }

    fn send(&mut self, method: &str, path: &str, body: Option<&str>) -> Result<HttpResponse, TestkitError> {
        let cookie = self.cookies.iter().map(|(k, v)| format!("{k}={v}")).collect::<Vec<_>>().join("; ");
        let mut headers = vec![("Cookie", cookie.as_str())];
        if body.is_some() {
            headers.push(("Content-Type", "application/x-www-form-urlencoded"));
        }
        let answer = process::http_request(method, self.port, path, &headers, body)?;
        for (name, value) in &answer.headers {
            if name.eq_ignore_ascii_case("set-cookie") {
                if let Some((k, v)) = value.split(';').next().and_then(|c| c.split_once('=')) {
                    self.cookies.insert(k.trim().to_string(), v.trim().to_string());
                }
            }
        }
        Ok(answer)
    }
}

fn location(answer: &HttpResponse, origin: &str) -> Result<String, TestkitError> {
    let to = answer.header("location").ok_or_else(|| fail(format!("a {} without Location", answer.status)))?;
    Ok(if to.starts_with('/') { format!("{origin}{to}") } else { to.to_string() })
}

fn fail(message: String) -> TestkitError {
    TestkitError::Io(io::Error::other(message))
}

fn attr(html: &str, after: &str, name: &str) -> Option<String> {
    let rest = &html[html.find(after)?..];
    let key = format!("{name}=\"");
    let i = rest.find(&key)? + key.len();
    let j = rest[i..].find('"')? + i;
    Some(rest[i..j].to_string())
}

fn hidden_inputs(html: &str) -> Vec<(String, String)> {
    html.match_indices("<input type=\"hidden\"")
        .filter_map(|(i, _)| {
            let tag = &html[i..i + html[i..].find('>')?];
            Some((attr(tag, "", "name")?, attr(tag, "", "value").unwrap_or_default()))
        })
        .collect()
}

/// `application/x-www-form-urlencoded` (also a query string).
pub fn form(pairs: &[(&str, &str)]) -> String {
    let enc = |s: &str| {
        s.bytes()
            .map(|b| match b {
                b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => (b as char).to_string(),
                _ => format!("%{b:02X}"),
            })
            .collect::<String>()
    };
    pairs.iter().map(|(k, v)| format!("{}={}", enc(k), enc(v))).collect::<Vec<_>>().join("&")
}

/// The value of `name` in `url`'s query (percent-decoded).
pub fn query_param(url: &str, name: &str) -> Option<String> {
    let query = url.split_once('?')?.1;
    query.split('&').filter_map(|p| p.split_once('=')).find(|(k, _)| *k == name).map(|(_, v)| percent_decode(v))
}

fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let escaped = (bytes[i] == b'%').then(|| bytes.get(i + 1..i + 3)).flatten().and_then(|h| u8::from_str_radix(std::str::from_utf8(h).ok()?, 16).ok());
        match (escaped, bytes[i]) {
            (Some(b), _) => {
                out.push(b);
                i += 3;
                continue;
            }
            (None, b'+') => out.push(b' '),
            (None, b) => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn hex_sha256(s: &str) -> String {
    Sha256::digest(s.as_bytes()).iter().map(|b| format!("{b:02x}")).collect()
}

/// Base64url without padding (RFC 7636's `BASE64URL-ENCODE`).
fn b64url(bytes: &[u8]) -> String {
    const ABC: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let mut out = String::new();
    for chunk in bytes.chunks(3) {
        let n = chunk.iter().enumerate().fold(0u32, |n, (i, b)| n | (u32::from(*b) << (16 - 8 * i)));
        for i in 0..=chunk.len() {
            out.push(ABC[(n >> (18 - 6 * i) & 63) as usize] as char);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64url_matches_rfc_7636_appendix_b() {
        let verifier = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
        assert_eq!(b64url(&Sha256::digest(verifier.as_bytes())), "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM");
    }

    #[test]
    fn query_params_are_decoded() {
        assert_eq!(query_param("http://x/cb?code=a%2Fb&state=s", "code").as_deref(), Some("a/b"));
        assert_eq!(form(&[("a b", "c/d")]), "a%20b=c%2Fd");
    }
}
