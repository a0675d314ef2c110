//! `writ login` and `writ logout`: sign in with the organisation's OpenID
//! provider and keep the short-lived Writ token it earns in the user's
//! config directory, used when no `--token`/`WRIT_TOKEN`/`--token-file` is given.
//!
//! The CLI is a public native client (RFC 8252): authorization code with PKCE
//! and a loopback redirect (`http://127.0.0.1:<ephemeral>/callback`), or the
//! device authorization grant (`--device`) where no browser can reach this
//! machine. It learns the provider and its client id from the Writ server
//! (`GET /v1/auth/oidc`), so only `--server` is needed; it hands the ID token
//! to Writ (`POST /v1/auth/oidc/token`), which verifies it and mints the token.

use std::io::Write;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::PathBuf;
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, Context};
use base64::Engine;
use clap::Args;
use reqwest::Url;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use sha2::{Digest, Sha256};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::client::{parse_server, Client};
use crate::GlobalArgs;

/// How long `writ login` waits for the browser or the device approval.
const WAIT_FOR_USER: Duration = Duration::from_secs(600);

#[derive(Debug, Args)]
pub struct LoginArgs {
    /// Sign in on another device (a phone, a laptop): print a URL and a code
    /// to enter there, instead of a browser on this machine.
    #[arg(long)]
    pub device: bool,
    /// Do not try to open a browser: print the sign-in URL only.
    #[arg(long)]
    pub no_browser: bool,
}

/// The stored sign-in: the server it is for, and its token.
#[derive(Serialize, Deserialize)]
struct Session {
    server: String,
    token_id: String,
    secret: String,
    identity: String,
    expires_at: Option<String>,
}

/// `$XDG_CONFIG_HOME/writ/session.json`, else `~/.config/writ/session.json`.
pub fn session_path() -> anyhow::Result<PathBuf> {
    let base = match std::env::var_os("XDG_CONFIG_HOME").filter(|v| !v.is_empty()) {
        Some(dir) => PathBuf::from(dir),
        None => {
            PathBuf::from(std::env::var_os("HOME").ok_or_else(|| anyhow!("neither XDG_CONFIG_HOME nor HOME is set: cannot find where to keep the sign-in"))?)
                .join(".config")
        }
    };
    Ok(base.join("writ").join("session.json"))
}

fn read_session() -> anyhow::Result<Option<Session>> {
    let path = session_path()?;
    match std::fs::read_to_string(&path) {
        Ok(text) => Ok(Some(
            serde_json::from_str(&text).with_context(|| format!("`{}` is not a sign-in of `writ login`: delete it and sign in again", path.display()))?,
        )),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(anyhow!("cannot read `{}`: {e}", path.display())),
    }
}

/// The token of `writ login` for `server`, if there is one. A sign-in for
/// another server is never sent to this one.
pub fn stored_token(server: &Url) -> Option<String> {
    let session = read_session().ok()??;
    let same = parse_server(&session.server).is_ok_and(|s| s.as_str().trim_end_matches('/') == server.as_str().trim_end_matches('/'));
    same.then_some(session.secret)
}

/// Writes the session: the directory 0700, the file 0600 from its creation.
fn write_session(session: &Session) -> anyhow::Result<PathBuf> {
    let path = session_path()?;
    let dir = path.parent().expect("a file in a directory");
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create `{}`", dir.display()))?;
    std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700)).with_context(|| format!("cannot make `{}` private", dir.display()))?;
    let tmp = dir.join(".session.json.tmp");
    let _ = std::fs::remove_file(&tmp);
    let mut file =
        std::fs::OpenOptions::new().write(true).create_new(true).mode(0o600).open(&tmp).with_context(|| format!("cannot write `{}`", tmp.display()))?;
    file.write_all(serde_json::to_string_pretty(session)?.as_bytes())?;
    file.sync_all()?;
    std::fs::rename(&tmp, &path).with_context(|| format!("cannot write `{}`", path.display()))?;
    Ok(path)
}

/// What the Writ server says about its provider, and what discovery adds.
struct Provider {
    client_id: String,
    scopes: String,
    authorization_endpoint: String,
    token_endpoint: String,
    device_endpoint: Option<String>,
}

async fn provider(http: &reqwest::Client, writ: &Client) -> anyhow::Result<Provider> {
    let info = writ.get(&["v1", "auth", "oidc"], &[]).await?;
    let issuer = info["issuer"].as_str().ok_or_else(|| anyhow!("the server did not name its OpenID provider"))?;
    let client_id = info["client_id"].as_str().unwrap_or_default().to_owned();
    let scopes = info["scopes"].as_str().unwrap_or("openid").to_owned();
    let url = format!("{}/.well-known/openid-configuration", issuer.trim_end_matches('/'));
    let doc: Value = http
        .get(&url)
        .send()
        .await
        .and_then(|r| r.error_for_status())
        .with_context(|| format!("cannot read the provider's discovery document at {url}"))?
        .json()
        .await
        .with_context(|| format!("{url} is not an OpenID discovery document"))?;
    let field = |name: &str| doc[name].as_str().map(str::to_owned);
    Ok(Provider {
        client_id,
        scopes,
        authorization_endpoint: field("authorization_endpoint").ok_or_else(|| anyhow!("{url} names no authorization_endpoint"))?,
        token_endpoint: field("token_endpoint").ok_or_else(|| anyhow!("{url} names no token_endpoint"))?,
        device_endpoint: field("device_authorization_endpoint"),
    })
}

pub async fn login(global: &GlobalArgs, args: &LoginArgs) -> anyhow::Result<()> {
    let base = parse_server(&global.server)?;
    // The public endpoints need no token.
    let writ = Client::new(base.clone(), String::new())?;
    let http = reqwest::Client::builder().timeout(Duration::from_secs(30)).build()?;
    let op = provider(&http, &writ).await?;
    let (id_token, nonce) = if args.device { (device_flow(&http, &op).await?, None) } else { browser_flow(&http, &op, args.no_browser).await? };
    let body = json!({ "id_token": id_token, "nonce": nonce, "name": format!("writ login ({})", hostname()) });
    let created = writ.post(&["v1", "auth", "oidc", "token"], &body).await?;
    let token = &created["token"];
    let session = Session {
        server: base.as_str().trim_end_matches('/').to_owned(),
        token_id: token["id"].as_str().unwrap_or_default().to_owned(),
        secret: created["secret"].as_str().ok_or_else(|| anyhow!("the server's answer holds no token"))?.to_owned(),
        identity: token["identity"].as_str().unwrap_or_default().to_owned(),
        expires_at: token["expires_at"].as_str().map(str::to_owned),
    };
    let path = write_session(&session)?;
    if global.json {
        println!("{}", serde_json::to_string_pretty(&json!({ "identity": session.identity, "token": token, "stored_in": path }))?);
    } else {
        println!(
            "Signed in to {} as {} until {} (token {}, kept in {}).",
            session.server,
            session.identity,
            session.expires_at.as_deref().unwrap_or("it is revoked"),
            session.token_id,
            path.display()
        );
    }
    Ok(())
}

pub async fn logout() -> anyhow::Result<()> {
    let path = session_path()?;
    let Some(session) = read_session()? else {
        println!("Not signed in ({} does not exist).", path.display());
        return Ok(());
    };
    let writ = Client::new(parse_server(&session.server)?, session.secret.clone())?;
    let revoked = writ.post(&["v1", "tokens", &session.token_id, "revoke"], &json!({ "reason": "writ logout" })).await;
    std::fs::remove_file(&path).with_context(|| format!("cannot delete `{}`", path.display()))?;
    match revoked {
        Ok(_) => println!("Signed out of {}: token {} revoked, {} deleted.", session.server, session.token_id, path.display()),
        // Expired or already revoked: nothing left to end.
        Err(e) if e.downcast_ref::<crate::client::ApiError>().is_some_and(|a| a.status == 401 || a.status == 409) => {
            println!("Signed out of {}: the token had already ended; {} deleted.", session.server, path.display())
        }
        Err(e) => {
            return Err(e.context(format!(
                "{} deleted, but the token {} could not be revoked: revoke it with `writ token revoke {}`",
                path.display(),
                session.token_id,
                session.token_id
            )))
        }
    }
    Ok(())
}

/// Device authorization grant (RFC 8628): the user approves elsewhere.
async fn device_flow(http: &reqwest::Client, op: &Provider) -> anyhow::Result<String> {
    let endpoint = op.device_endpoint.as_deref().ok_or_else(|| anyhow!("the provider does not offer the device flow: run `writ login` without `--device`"))?;
    let start: Value = form_post(http, endpoint, &[("client_id", &op.client_id), ("scope", &op.scopes)]).await?;
    let code = start["device_code"].as_str().ok_or_else(|| anyhow!("the provider's device answer has no device_code"))?;
    let uri = start["verification_uri"].as_str().unwrap_or_default();
    let user_code = start["user_code"].as_str().unwrap_or_default();
    eprintln!("To sign in, open {uri} and enter the code {user_code}");
    if let Some(complete) = start["verification_uri_complete"].as_str() {
        eprintln!("or open {complete}");
    }
    let mut interval = Duration::from_secs(start["interval"].as_u64().unwrap_or(5).max(1));
    let deadline = Instant::now() + WAIT_FOR_USER;
    loop {
        tokio::time::sleep(interval).await;
        let answer = token_request(
            http,
            &op.token_endpoint,
            &[("grant_type", "urn:ietf:params:oauth:grant-type:device_code"), ("device_code", code), ("client_id", &op.client_id)],
        )
        .await?;
        match answer {
            Ok(id_token) => return Ok(id_token),
            Err(e) if e == "authorization_pending" && Instant::now() < deadline => {}
            Err(e) if e == "slow_down" => interval += Duration::from_secs(5),
            Err(e) if e == "access_denied" => bail!("the sign-in was refused at the provider"),
            Err(e) if e == "expired_token" || e == "authorization_pending" => bail!("the code expired before it was approved: run `writ login --device` again"),
            Err(e) => bail!("the provider refused the sign-in: {e}"),
        }
    }
}

/// Authorization code with PKCE and a loopback redirect (RFC 8252).
async fn browser_flow(http: &reqwest::Client, op: &Provider, no_browser: bool) -> anyhow::Result<(String, Option<String>)> {
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", 0)).await.context("cannot listen on 127.0.0.1 for the provider's answer")?;
    let redirect = format!("http://127.0.0.1:{}/callback", listener.local_addr()?.port());
    let verifier = random_text();
    let challenge = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()));
    let (state, nonce) = (random_text(), random_text());
    let mut url = Url::parse(&op.authorization_endpoint).context("the provider's authorization_endpoint is not a URL")?;
    url.query_pairs_mut()
        .append_pair("client_id", &op.client_id)
        .append_pair("response_type", "code")
        .append_pair("redirect_uri", &redirect)
        .append_pair("scope", &op.scopes)
        .append_pair("state", &state)
        .append_pair("nonce", &nonce)
        .append_pair("code_challenge", &challenge)
        .append_pair("code_challenge_method", "S256");
    eprintln!("To sign in, open this URL in a browser on this machine:\n{url}");
    if !no_browser {
        open_browser(url.as_str());
    }
    let code = tokio::time::timeout(WAIT_FOR_USER, callback(&listener, &state))
        .await
        .map_err(|_| anyhow!("no answer from the browser within {} minutes: run `writ login` again", WAIT_FOR_USER.as_secs() / 60))??;
    let answer = token_request(
        http,
        &op.token_endpoint,
        &[("grant_type", "authorization_code"), ("code", &code), ("redirect_uri", &redirect), ("code_verifier", &verifier), ("client_id", &op.client_id)],
    )
    .await?;
    let id_token = answer.map_err(|e| anyhow!("the provider refused the code: {e}"))?;
    Ok((id_token, Some(nonce)))
}

/// Waits for the browser's `GET /callback?code=…&state=…`, answers it, and
/// returns the code. Other requests (a favicon) are answered 404 and ignored.
async fn callback(listener: &tokio::net::TcpListener, state: &str) -> anyhow::Result<String> {
    loop {
        let (mut stream, _) = listener.accept().await?;
        let mut buf = vec![0u8; 8192];
        let n = stream.read(&mut buf).await.unwrap_or(0);
        let request = String::from_utf8_lossy(&buf[..n]);
        let target = request.split_whitespace().nth(1).unwrap_or("/");
        let Ok(url) = Url::parse(&format!("http://127.0.0.1{target}")) else { continue };
        if url.path() != "/callback" {
            let _ = stream.write_all(b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n").await;
            continue;
        }
        let param = |name: &str| url.query_pairs().find(|(k, _)| k == name).map(|(_, v)| v.into_owned());
        let (page, outcome) = match (param("error"), param("state"), param("code")) {
            (Some(e), _, _) => {
                ("Writ sign-in failed: see the terminal.", Err(anyhow!("the provider refused: {e} {}", param("error_description").unwrap_or_default())))
            }
            (None, Some(s), Some(code)) if s == state => ("Signed in to Writ: you can close this tab.", Ok(code)),
            _ => (
                "Writ sign-in failed: see the terminal.",
                Err(anyhow!("the provider's answer does not belong to this sign-in (state): run `writ login` again")),
            ),
        };
        let body = format!("<!doctype html><title>Writ</title><p>{page}</p>");
        let _ = stream
            .write_all(
                format!("HTTP/1.1 200 OK\r\nContent-Type: text/html; charset=utf-8\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}", body.len())
                    .as_bytes(),
            )
            .await;
        return outcome;
    }
}

/// A token endpoint request: the ID token, or the OAuth error code.
async fn token_request(http: &reqwest::Client, endpoint: &str, form: &[(&str, &str)]) -> anyhow::Result<Result<String, String>> {
    let resp = http.post(endpoint).form(form).send().await.with_context(|| format!("cannot reach the provider's token endpoint {endpoint}"))?;
    let status = resp.status();
    let body: Value = resp.json().await.unwrap_or(Value::Null);
    if status.is_success() {
        return body["id_token"]
            .as_str()
            .map(|t| Ok(t.to_owned()))
            .ok_or_else(|| anyhow!("the provider's answer has no id_token: is `openid` among the scopes?"));
    }
    Ok(Err(body["error"].as_str().map_or_else(|| format!("HTTP {status}"), str::to_owned)))
}

async fn form_post(http: &reqwest::Client, endpoint: &str, form: &[(&str, &str)]) -> anyhow::Result<Value> {
    let resp = http.post(endpoint).form(form).send().await.with_context(|| format!("cannot reach {endpoint}"))?;
    let status = resp.status();
    let body: Value = resp.json().await.unwrap_or(Value::Null);
    if !status.is_success() {
        bail!("the provider answered {status} at {endpoint}: {}", body["error_description"].as_str().or(body["error"].as_str()).unwrap_or(""));
    }
    Ok(body)
}

/// 32 random bytes, base64url: a PKCE verifier, a state, a nonce.
fn random_text() -> String {
    let mut bytes = [0u8; 32];
    // The kernel's CSPRNG; failing to read it is not survivable for a secret.
    std::fs::File::open("/dev/urandom").and_then(|mut f| std::io::Read::read_exact(&mut f, &mut bytes)).expect("/dev/urandom must be readable");
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

fn hostname() -> String {
    std::fs::read_to_string("/etc/hostname").ok().map(|h| h.trim().to_owned()).filter(|h| !h.is_empty()).unwrap_or_else(|| "this machine".into())
}

/// Best effort: the terminal already shows the URL.
fn open_browser(url: &str) {
    let opener = if cfg!(target_os = "macos") { "open" } else { "xdg-open" };
    let _ = std::process::Command::new(opener)
        .arg(url)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn();
}
