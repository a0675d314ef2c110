//! The HTTP client of Writ's JSON API, and how its failures read to a person.
//!
//! Every call returns the server's JSON as a [`serde_json::Value`], so `--json`
//! prints exactly what the server said; [`decode`] turns it into a wire type for
//! the human output.

use std::fmt;
use std::path::Path;
use std::time::Duration;

use anyhow::{anyhow, bail, Context};
use reqwest::{Method, StatusCode, Url};
use serde::de::DeserializeOwned;
use serde::Serialize;
use serde_json::Value;
use writ_api::ErrorBody;

use crate::GlobalArgs;

/// An error answer of the API. Its `Display` is the server's `message`, which
/// already says what to do, so the binary prints `error: <message>`.
#[derive(Debug, Clone)]
pub struct ApiError {
    pub status: u16,
    /// The machine-readable code, e.g. `forbidden`, `not_found`.
    pub code: String,
    pub message: String,
}

impl fmt::Display for ApiError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for ApiError {}

/// Builds the [`ApiError`] for a non-success answer from its status and body.
pub fn api_error(status: StatusCode, body: &str) -> ApiError {
    match serde_json::from_str::<ErrorBody>(body) {
        Ok(e) => ApiError { status: status.as_u16(), code: e.error, message: e.message },
        Err(_) => {
            let snippet: String = body.trim().chars().take(200).filter(|c| !c.is_control()).collect();
            let message = if snippet.is_empty() {
                format!("the server answered {status} without an error message")
            } else {
                format!("the server answered {status}: {snippet}")
            };
            ApiError { status: status.as_u16(), code: "http".into(), message }
        }
    }
}

/// The message for a missing token.
pub const NO_TOKEN: &str = "no API token: sign in with `writ login`, pass `--token TOKEN`, set `WRIT_TOKEN`, \
     or name a file holding it with `--token-file PATH` or `WRIT_TOKEN_FILE`";

/// Resolves the token from `--token` / `WRIT_TOKEN`, else `--token-file` /
/// `WRIT_TOKEN_FILE`. The token itself never appears in an error.
pub fn resolve_token(token: Option<&str>, token_file: Option<&Path>) -> anyhow::Result<String> {
    if let Some(t) = token.map(str::trim).filter(|t| !t.is_empty()) {
        return Ok(t.to_owned());
    }
    if let Some(path) = token_file {
        let text = std::fs::read_to_string(path).with_context(|| format!("cannot read the token file `{}`", path.display()))?;
        let t = text.trim();
        if t.is_empty() {
            bail!("the token file `{}` is empty: put the API token in it", path.display());
        }
        if t.chars().any(char::is_whitespace) {
            bail!("the token file `{}` holds more than one word: put only the API token in it", path.display());
        }
        return Ok(t.to_owned());
    }
    Err(anyhow!(NO_TOKEN))
}

/// A connection to one Writ server, authenticated by a bearer token.
pub struct Client {
    http: reqwest::Client,
    base: Url,
    token: String,
}

impl fmt::Debug for Client {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // INVARIANT: the token is never printed, not even in debug output.
        f.debug_struct("Client").field("base", &self.base.as_str()).field("token", &"<redacted>").finish()
    }
}

/// Parses the `--server` value, e.g. `http://127.0.0.1:7878`.
pub fn parse_server(server: &str) -> anyhow::Result<Url> {
    let url = Url::parse(server.trim()).map_err(|e| anyhow!("`{server}` is not a server URL ({e}): pass e.g. `--server http://127.0.0.1:7878`"))?;
    if !matches!(url.scheme(), "http" | "https") || url.cannot_be_a_base() {
        bail!("`{server}` is not an http:// or https:// URL: pass e.g. `--server http://127.0.0.1:7878`");
    }
    Ok(url)
}

impl Client {
    /// A client for the server and token named by the global flags.
    pub fn from_args(args: &GlobalArgs) -> anyhow::Result<Self> {
        let base = parse_server(&args.server)?;
        let token = match resolve_token(args.token.as_deref(), args.token_file.as_deref()) {
            // Nothing given: the token of `writ login` for this server, if any.
            Err(e) if args.token.as_deref().is_none_or(|t| t.trim().is_empty()) && args.token_file.is_none() => {
                crate::cmd::login::stored_token(&base).ok_or(e)?
            }
            other => other?,
        };
        Self::new(base, token)
    }

    pub fn new(base: Url, token: String) -> anyhow::Result<Self> {
        let http = reqwest::Client::builder()
            .user_agent(concat!("writ-cli/", env!("CARGO_PKG_VERSION")))
            .connect_timeout(Duration::from_secs(10))
            .timeout(Duration::from_secs(120))
            .build()
            .context("cannot set up the HTTP client")?;
        Ok(Self { http, base, token })
    }

    /// The server's base URL, as given.
    pub fn server(&self) -> &str {
        self.base.as_str().trim_end_matches('/')
    }

    /// The URL of an API path given as segments, each percent-encoded, so an id
    /// can never change which endpoint is called.
    pub fn url(&self, segments: &[&str]) -> anyhow::Result<Url> {
        if let Some(bad) = segments.iter().find(|s| s.is_empty() || **s == "." || **s == "..") {
            bail!("`{bad}` is not an id: copy the id from a `list` command");
        }
        let mut url = self.base.clone();
        {
            let mut path = url.path_segments_mut().expect("checked by parse_server: the URL can be a base");
            path.pop_if_empty();
            path.extend(segments);
        }
        Ok(url)
    }

    /// `GET` an API path with query parameters; the JSON answer.
    pub async fn get(&self, segments: &[&str], query: &[(&str, String)]) -> anyhow::Result<Value> {
        let answer = self.send(Method::GET, segments, query, None::<&()>).await?;
        answer.ok_or_else(|| anyhow!("the server answered GET {} with no content", segments.join("/")))
    }

    /// `GET` one page of a list with query parameters: its items, and the
    /// server's link to the next page (`Link: <…>; rel="next"`), if any.
    pub async fn get_list(&self, segments: &[&str], query: &[(&str, String)]) -> anyhow::Result<ListPage> {
        let mut req = self.http.get(self.url(segments)?).bearer_auth(&self.token);
        if !query.is_empty() {
            req = req.query(query);
        }
        self.list_page(req, &segments.join("/")).await
    }

    /// `GET` the page a [`ListPage::next`] link names.
    pub async fn get_list_at(&self, url: Url) -> anyhow::Result<ListPage> {
        let what = url.path().trim_start_matches('/').to_owned();
        self.list_page(self.http.get(url).bearer_auth(&self.token), &what).await
    }

    async fn list_page(&self, req: reqwest::RequestBuilder, what: &str) -> anyhow::Result<ListPage> {
        let resp = req.send().await.map_err(|e| self.unreachable(&e))?;
        let status = resp.status();
        let here = resp.url().clone();
        let link = resp.headers().get_all(reqwest::header::LINK).iter().filter_map(|v| v.to_str().ok()).find_map(next_link).map(str::to_owned);
        let text = resp.text().await.map_err(|e| self.unreachable(&e))?;
        if !status.is_success() {
            return Err(api_error(status, &text).into());
        }
        let items: Vec<Value> = serde_json::from_str(&text)
            .with_context(|| format!("the server's answer to GET /{what} is not a JSON list: is `{}` a Writ server of this version?", self.server()))?;
        let next = match link {
            None => None,
            Some(target) => {
                let url = here.join(&target).map_err(|e| anyhow!("the server's link to the next page, `{target}`, is not a URL: {e}"))?;
                // The token goes only to the server it was given for.
                if url.origin() != self.base.origin() {
                    bail!("the server's link to the next page points at another server ({}): not following it", url.origin().ascii_serialization());
                }
                Some(url)
            }
        };
        Ok(ListPage { items, next })
    }

    /// `POST` a JSON body; the JSON answer.
    pub async fn post<B: Serialize>(&self, segments: &[&str], body: &B) -> anyhow::Result<Value> {
        let answer = self.send(Method::POST, segments, &[], Some(body)).await?;
        answer.ok_or_else(|| anyhow!("the server answered POST {} with no content", segments.join("/")))
    }

    /// `POST` that may answer `204 No Content` (then `None`).
    pub async fn post_optional<B: Serialize>(&self, segments: &[&str], body: &B) -> anyhow::Result<Option<Value>> {
        self.send(Method::POST, segments, &[], Some(body)).await
    }

    async fn send<B: Serialize>(&self, method: Method, segments: &[&str], query: &[(&str, String)], body: Option<&B>) -> anyhow::Result<Option<Value>> {
        let url = self.url(segments)?;
        let mut req = self.http.request(method.clone(), url).bearer_auth(&self.token);
        if !query.is_empty() {
            req = req.query(query);
        }
        if let Some(body) = body {
            req = req.json(body);
        }
        let resp = req.send().await.map_err(|e| self.unreachable(&e))?;
        let status = resp.status();
        let text = resp.text().await.map_err(|e| self.unreachable(&e))?;
        if !status.is_success() {
            return Err(api_error(status, &text).into());
        }
        if status == StatusCode::NO_CONTENT || text.trim().is_empty() {
            return Ok(None);
        }
        let value = serde_json::from_str(&text)
            .with_context(|| format!("the server's answer to {method} /{} is not JSON: is `{}` a Writ server?", segments.join("/"), self.server()))?;
        Ok(Some(value))
    }

    fn unreachable(&self, e: &reqwest::Error) -> anyhow::Error {
        unreachable_error(self.server(), e)
    }
}

/// One page of a list as the server answered it.
#[derive(Debug, Clone)]
pub struct ListPage {
    pub items: Vec<Value>,
    /// The next page, when the server says there may be one.
    pub next: Option<Url>,
}

impl ListPage {
    /// The `cursor` the next page starts at, as the server wrote it.
    pub fn next_cursor(&self) -> Option<String> {
        self.next.as_ref()?.query_pairs().find(|(k, _)| k == "cursor").map(|(_, v)| v.into_owned())
    }
}

/// The target of the `rel="next"` link in one `Link` header value
/// (RFC 8288: `<target>; rel="next", <other>; rel="prev"`), if it has one.
pub fn next_link(header: &str) -> Option<&str> {
    let mut rest = header;
    loop {
        let start = rest.find('<')?;
        let end = start + rest[start..].find('>')?;
        let target = &rest[start + 1..end];
        // This link's parameters run to the next `<` outside quotes (a
        // target cannot hold `<`, and in this header a quoted value never does).
        let params_end = rest[end..].find('<').map_or(rest.len(), |i| end + i);
        let params = &rest[end + 1..params_end];
        let is_next = params.split(';').any(|p| {
            let Some((name, value)) = p.split_once('=') else { return false };
            name.trim().eq_ignore_ascii_case("rel")
                && value.trim().trim_end_matches(',').trim().trim_matches('"').split_whitespace().any(|r| r.eq_ignore_ascii_case("next"))
        });
        if is_next {
            return Some(target);
        }
        rest = &rest[params_end..];
    }
}

/// The error for a request that never got an answer.
pub fn unreachable_error(server: &str, e: &(dyn std::error::Error + 'static)) -> anyhow::Error {
    // reqwest's own message names the URL; the useful part is the root cause.
    let mut cause = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        cause = s.to_string();
        source = s.source();
    }
    anyhow!("cannot reach the Writ server at {server}: {cause} (is `writ serve` running? set --server or WRIT_SERVER)")
}

/// Turns the server's JSON into a wire type, with an error that points at a
/// client/server version mismatch.
pub fn decode<T: DeserializeOwned>(what: &str, value: Value) -> anyhow::Result<T> {
    serde_json::from_value(value)
        .with_context(|| format!("the server's {what} is not in the form this `writ` expects: are the client and server the same version?"))
}
