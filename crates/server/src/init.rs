//! `writ init`: writes a demo configuration (config, catalog, policies), seeds the
//! demo identities into the database and issues them API tokens.

use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::Context;

use crate::catalog_file;
use crate::config::Config;

pub const DEMO_CONFIG: &str = include_str!("../demo/writ.toml");
pub const DEMO_CATALOG: &str = include_str!("../demo/catalog.toml");
pub const DEMO_IDENTITIES: &str = include_str!("../demo/identities.toml");
pub const TOKENS_FILE: &str = "demo-tokens.env";
/// The name of the tokens `init` issues; `init --force` revokes those it replaces.
pub const DEMO_TOKEN_NAME: &str = "writ init demo";

/// What `init` made.
pub struct InitReport {
    pub dir: PathBuf,
    pub config: PathBuf,
    pub tokens_file: PathBuf,
    /// (identity, token) for every demo person.
    pub tokens: Vec<(String, String)>,
}

fn write_private(path: &Path, text: &str) -> std::io::Result<()> {
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(0o600);
    }
    opts.open(path)?.write_all(text.as_bytes())
}

/// Creates the demo in `dir`. Refuses to overwrite an existing configuration
/// unless `force` (the database and its audit log are kept either way).
pub async fn init(dir: &Path, force: bool) -> anyhow::Result<InitReport> {
    let config = dir.join("writ.toml");
    if config.exists() && !force {
        anyhow::bail!(
            "`{}` already exists: Writ is initialised there. Run `writ serve --config {}`, or pass --force to rewrite the demo files (the database is kept)",
            config.display(),
            config.display()
        );
    }
    let policies = dir.join("policies");
    std::fs::create_dir_all(&policies).with_context(|| format!("cannot create `{}`", policies.display()))?;
    std::fs::write(&config, DEMO_CONFIG)?;
    std::fs::write(dir.join("catalog.toml"), DEMO_CATALOG)?;
    std::fs::write(dir.join("identities.toml"), DEMO_IDENTITIES)?;
    std::fs::write(policies.join("writ.cedarschema"), writ_policy::demo::SCHEMA)?;
    for (name, text) in writ_policy::demo::POLICIES {
        std::fs::write(policies.join(name), text)?;
    }

    let cfg = Config::load(&config)?;
    let r = cfg.resolve()?;
    let catalog = catalog_file::load_catalog(&r.catalog)?;
    let policy = writ_policy::PolicyEngine::load_dir(&r.policies)?;
    let store = std::sync::Arc::new(writ_store::SqlStore::open(&r.database_url).await?);
    let writ = writ_app::Writ::new(
        store.clone(),
        std::sync::Arc::new(policy),
        std::sync::Arc::new(catalog),
        std::sync::Arc::new(crate::clock::SystemClock),
        writ_app::Settings { tokens: r.tokens, ..writ_app::Settings::default() },
    );
    let identities = catalog_file::load_identities(&dir.join("identities.toml"))?;
    writ.upsert_identities(None, identities.clone()).await?;
    crate::signing::load_or_create(&r.data_dir)?;

    let mut tokens = Vec::new();
    let mut env = String::from("# API tokens of the demo identities. Secrets: keep this file private.\n");
    for i in identities.iter().filter(|i| i.kind.is_human()) {
        // `--force` on a database that has the demo already: the tokens
        // written before are replaced, so they stop working.
        writ.revoke_tokens_named(&i.id, DEMO_TOKEN_NAME, "replaced by `writ init --force`").await?;
        let draft = writ_core::token::TokenDraft { name: DEMO_TOKEN_NAME.into(), lifetime: None, scope: None };
        let (_, token) = writ.issue_token_as_operator(&i.id, draft).await?;
        env.push_str(&format!("WRIT_TOKEN_{}={token}\n", i.id.as_str().to_uppercase().replace(['-', '.', '@', '+'], "_")));
        tokens.push((i.id.to_string(), token));
    }
    let tokens_file = dir.join(TOKENS_FILE);
    write_private(&tokens_file, &env)?;
    store.close().await;
    Ok(InitReport { dir: dir.to_owned(), config, tokens_file, tokens })
}

/// The "what to do next" text printed after `init`.
pub fn next_steps(r: &InitReport, server: &str) -> String {
    let token = |who: &str| r.tokens.iter().find(|(i, _)| i == who).map_or("", |(_, t)| t.as_str()).to_owned();
    format!(
        "Writ demo initialised in {dir}\n\
         \n\
         Tokens of the demo people are in {tokens} (shown once; keep it private), e.g.\n  \
           alice (engineer):  {alice}\n  \
           olivia (owner):    {olivia}\n  \
           sam (security):    {sam}\n  \
           dana (dba):        {dana}\n\
         \n\
         Try a first request, in another terminal:\n  \
           set -a; . {tokens}; set +a\n  \
           WRIT_TOKEN=$WRIT_TOKEN_ALICE writ request create --entitlement pg-prod/payments_readonly \\\n      \
             --duration 4h --justification \"investigate INC-1234\"\n  \
           WRIT_TOKEN=$WRIT_TOKEN_OLIVIA writ request approve <id>      # stage 1: an owner\n  \
           WRIT_TOKEN=$WRIT_TOKEN_SAM writ request approve <id>         # stage 2: 2 of 3 security\n  \
           WRIT_TOKEN=$WRIT_TOKEN_SUE writ request approve <id>\n  \
           WRIT_TOKEN=$WRIT_TOKEN_DANA writ task list                   # the DBA fulfils it\n  \
           WRIT_TOKEN=$WRIT_TOKEN_ALICE writ request show <id>          # the evidence chain\n\
         \n\
         Emergency access, reviewed afterwards by the entitlement's owner:\n  \
           WRIT_TOKEN=$WRIT_TOKEN_BOB writ break-glass use -e pg-prod/analytics_read -d 1h --reason \"INC-1234: dashboards down\"\n  \
           WRIT_TOKEN=$WRIT_TOKEN_OSCAR writ break-glass review <id> --accept --note \"INC-1234 was real\"\n\
         \n\
         Compare a target's live state with the grants (pg-demo needs the PostgreSQL\n\
         described in writ.toml):\n  \
           WRIT_TOKEN=$WRIT_TOKEN_SAM writ reconcile --target pg-demo\n\
         \n\
         The server is {server}; `writ --help` lists every command.\n",
        dir = r.dir.display(),
        tokens = r.tokens_file.display(),
        alice = token("alice"),
        olivia = token("olivia"),
        sam = token("sam"),
        dana = token("dana"),
    )
}
