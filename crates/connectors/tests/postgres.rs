//! The PostgreSQL connector against a real PostgreSQL (writ-testkit): the
//! connector contract, then what is particular to PostgreSQL.
//!
//! Writ connects as `writ_admin`, a non-superuser `LOGIN CREATEROLE` role
//! authenticated by password (`scram-sha-256` for that role in `pg_hba.conf`;
//! the rest of the test server stays `trust`). Fixtures are made with `psql`
//! as the `postgres` superuser.

mod contract;

use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::Arc;

use chrono::{DateTime, Utc};
use writ_app::ports::{Account, Applied, Connector, ConnectorError};
use writ_connectors::postgres::{PostgresConfig, PostgresConnector};
use writ_connectors::secret::SecretSource;
use writ_core::identity::IdentityKind;
use writ_core::ids::TargetId;
use writ_testkit::{pg_binary, process, PgServer};

/// Memberships other than the built-in ones among `pg_*` roles.
const MEMBERSHIPS: &str = "SELECT count(*) FROM pg_auth_members m JOIN pg_roles r ON r.oid = m.roleid WHERE NOT starts_with(r.rolname::text, 'pg_')";

const ADMIN_PASSWORD: &str = "adm1n-Pa55word-for-tests";

struct Pg {
    server: PgServer,
    password_file: PathBuf,
}

impl Pg {
    fn start() -> Pg {
        let server = PgServer::start().expect("start postgres");
        let pg = Pg { password_file: server.dir().join("writ_admin.password"), server };
        std::fs::write(&pg.password_file, format!("{ADMIN_PASSWORD}\n")).unwrap();
        pg.psql_ok(&format!("CREATE ROLE writ_admin LOGIN CREATEROLE PASSWORD '{ADMIN_PASSWORD}'"), &[]);
        // Password authentication for Writ's role; everything else stays trust.
        let hba = pg.server.dir().join("data/pg_hba.conf");
        let old = std::fs::read_to_string(&hba).unwrap();
        std::fs::write(&hba, format!("host all writ_admin 127.0.0.1/32 scram-sha-256\n{old}")).unwrap();
        pg.psql_ok("SELECT pg_reload_conf()", &[]);
        pg
    }

    fn config(&self) -> PostgresConfig {
        let mut c = PostgresConfig::new(format!("postgres://writ_admin@127.0.0.1:{}/postgres", self.server.port()));
        c.password = SecretSource { env: None, file: Some(self.password_file.clone()) };
        c.connect_timeout_secs = 2;
        c.statement_timeout_secs = 10;
        c
    }

    fn connector(&self) -> Arc<PostgresConnector> {
        Arc::new(PostgresConnector::new(&TargetId::parse("pg-test").unwrap(), &self.config()).unwrap())
    }

    /// `psql` as the superuser, SQL on stdin so that `:"var"` / `:'var'`
    /// interpolation quotes names; `Err` with psql's message on failure.
    fn psql(&self, sql: &str, vars: &[(&str, &str)]) -> Result<String, String> {
        let mut cmd = Command::new(pg_binary("psql").unwrap());
        cmd.args(["-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1", "-h", "127.0.0.1", "-U", "postgres", "-d", "postgres", "-p"])
            .arg(self.server.port().to_string());
        for (k, v) in vars {
            cmd.arg("-v").arg(format!("{k}={v}"));
        }
        let mut child = cmd.stdin(Stdio::piped()).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().map_err(|e| e.to_string())?;
        use std::io::Write;
        child.stdin.take().unwrap().write_all(sql.as_bytes()).map_err(|e| e.to_string())?;
        let out = child.wait_with_output().map_err(|e| e.to_string())?;
        if out.status.success() {
            Ok(String::from_utf8_lossy(&out.stdout).trim_end().to_owned())
        } else {
            Err(String::from_utf8_lossy(&out.stderr).into_owned())
        }
    }

    fn psql_ok(&self, sql: &str, vars: &[(&str, &str)]) -> String {
        self.psql(sql, vars).unwrap_or_else(|e| panic!("psql {sql}: {e}"))
    }

    /// Creates role `name` (if absent) and says whether exactly that name now
    /// exists (and can log in, for `login`). Names psql cannot pass (NUL) or
    /// PostgreSQL truncates come back false.
    fn make_role(&self, name: &str, login: bool) -> bool {
        if name.contains('\0') {
            return false;
        }
        let create = if login { "CREATE ROLE :\"name\" LOGIN" } else { "CREATE ROLE :\"name\"" };
        let _ = self.psql(create, &[("name", name)]);
        let check = if login {
            "SELECT count(*) FROM pg_roles WHERE rolname::text = :'name' AND rolcanlogin"
        } else {
            "SELECT count(*) FROM pg_roles WHERE rolname::text = :'name'"
        };
        self.psql(check, &[("name", name)]).is_ok_and(|n| n == "1")
    }

    fn pg_ctl(&self, args: &[&str]) {
        let user = process::server_user("postgres").unwrap();
        let out = process::command_as(&pg_binary("pg_ctl").unwrap(), user)
            .arg("-D")
            .arg(self.server.dir().join("data"))
            .args(args)
            .current_dir(self.server.dir())
            .stdin(Stdio::null())
            .output()
            .unwrap();
        assert!(out.status.success(), "pg_ctl {args:?}: {}", String::from_utf8_lossy(&[out.stdout, out.stderr].concat()));
    }

    /// Stops the server for real (`pg_ctl stop -m fast`), keeping its data dir.
    fn stop(&self) {
        self.pg_ctl(&["stop", "-w", "-m", "fast"]);
    }

    /// Starts it again on the same port with the same settings as the
    /// testkit's (which has no restart for PostgreSQL yet).
    fn start_again(&self) {
        let log = self.server.dir().join("postgres-restarted.log");
        let opts = format!(
            "-p {} -k {} -c listen_addresses=127.0.0.1 -c fsync=off -c synchronous_commit=off -c full_page_writes=off",
            self.server.port(),
            self.server.dir().join("sock").display()
        );
        self.pg_ctl(&["start", "-w", "-t", "30", "-l", log.to_str().unwrap(), "-o", &opts]);
    }
}

impl Drop for Pg {
    fn drop(&mut self) {
        // A server started by `start_again` is not the testkit's child: stop it
        // before the testkit deletes its dir (if it runs; errors ignored).
        let user = process::server_user("postgres").ok().flatten();
        if self.server.dir().join("data/postmaster.pid").exists() {
            if let Ok(pg_ctl) = pg_binary("pg_ctl") {
                let _ = process::command_as(&pg_ctl, user)
                    .arg("-D")
                    .arg(self.server.dir().join("data"))
                    .args(["stop", "-w", "-m", "immediate"])
                    .stdout(Stdio::null())
                    .stderr(Stdio::null())
                    .status();
            }
        }
    }
}

fn person(name: &str) -> Account {
    Account { name: name.into(), kind: IdentityKind::Person }
}

fn at(secs: i64) -> DateTime<Utc> {
    DateTime::from_timestamp(secs, 0).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_connector_contract_holds_on_a_real_postgres() {
    let pg = Pg::start();
    pg.psql_ok("CREATE ROLE contract_person LOGIN; CREATE ROLE contract_read; CREATE ROLE contract_write;", &[]);
    let c = pg.connector();
    contract::run(contract::Fixture {
        connector: c.clone(),
        person: "contract_person".into(),
        resource: "contract_read".into(),
        other_resource: "contract_write".into(),
        service_account: Some("contract-svc".into()),
        make_resource: Box::new(|name| pg.make_role(name, false)),
        make_person: Box::new(|name| pg.make_role(name, true)),
        stop: Box::new(|| pg.stop()),
        start: Box::new(|| pg.start_again()),
    })
    .await;
    // Back after the restart: the pool drops its dead connections and reconnects.
    let again = c.read_account(&person("contract_person")).await.expect("reads again once the server is back");
    assert!(again.exists);
    let o = contract::order("pg-test", "contract_person", IdentityKind::Person, "contract_read");
    assert_eq!(c.grant(&o).await.unwrap(), Applied::Changed);
    assert_eq!(c.revoke(&o).await.unwrap(), Applied::Changed);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_service_account_gets_a_login_role_valid_until_its_latest_expiry() {
    let pg = Pg::start();
    pg.psql_ok("CREATE ROLE app_read; CREATE ROLE app_write; CREATE ROLE app_admin;", &[]);
    let c = pg.connector();
    let svc = Account { name: "billing-bot".into(), kind: IdentityKind::ServiceAccount };
    let order = |role: &str, expires: Option<DateTime<Utc>>| {
        let mut o = contract::order("pg-test", "billing-bot", IdentityKind::ServiceAccount, role);
        o.expires_at = expires;
        o
    };
    let catalog = |sql: &str| pg.psql_ok(sql, &[]);
    let valid_until = || catalog("SELECT rolcanlogin, extract(epoch FROM rolvaliduntil)::int8 FROM pg_roles WHERE rolname = 'billing-bot'");

    // First grant: the login role is created, VALID UNTIL = the grant's expiry.
    let t1 = at(4_102_444_800); // 2100-01-01
    assert_eq!(c.grant(&order("app_read", Some(t1))).await.unwrap(), Applied::Changed);
    assert_eq!(valid_until(), "t|4102444800");
    let state = c.read_account(&svc).await.unwrap();
    assert_eq!(state.attributes["valid_until"], "2100-01-01T00:00:00Z");
    assert_eq!((state.attributes["login"].as_str(), state.attributes["enabled"].as_str()), ("true", "true"));
    assert_eq!(catalog("SELECT rolpassword IS NULL FROM pg_authid WHERE rolname = 'billing-bot'"), "t", "created without a password");

    // A later grant moves it to the latest expiry; an earlier one does not shorten it.
    let t2 = at(4_133_980_800); // 2101-01-01
    assert_eq!(c.grant(&order("app_write", Some(t2))).await.unwrap(), Applied::Changed);
    assert_eq!(valid_until(), "t|4133980800");
    assert_eq!(c.grant(&order("app_admin", Some(t1))).await.unwrap(), Applied::Changed);
    assert_eq!(valid_until(), "t|4133980800");
    // Re-granting with a later expiry is a change of the role, not a no-op.
    let t3 = at(4_165_516_800); // 2102-01-01
    assert_eq!(c.grant(&order("app_admin", Some(t3))).await.unwrap(), Applied::Changed);
    assert_eq!(valid_until(), "t|4165516800");
    assert_eq!(c.grant(&order("app_admin", Some(t3))).await.unwrap(), Applied::AlreadyPresent);

    // Revoking all but one keeps it able to log in; the last one disables it.
    for role in ["app_read", "app_write"] {
        assert_eq!(c.revoke(&order(role, None)).await.unwrap(), Applied::Changed);
        assert_eq!(catalog("SELECT rolcanlogin FROM pg_roles WHERE rolname = 'billing-bot'"), "t");
    }
    assert_eq!(c.revoke(&order("app_admin", None)).await.unwrap(), Applied::Changed);
    let gone = c.read_account(&svc).await.unwrap();
    assert!(gone.exists && gone.entitlements.is_empty(), "{gone:?}");
    assert_eq!((gone.attributes["login"].as_str(), gone.attributes["enabled"].as_str()), ("false", "false"));

    // A new grant after that starts from its own expiry, not the old latest.
    assert_eq!(c.grant(&order("app_read", Some(t1))).await.unwrap(), Applied::Changed);
    assert_eq!(valid_until(), "t|4102444800");
    // No expiry at all: VALID UNTIL infinity.
    assert_eq!(c.grant(&order("app_write", None)).await.unwrap(), Applied::Changed);
    assert_eq!(catalog("SELECT rolvaliduntil = 'infinity' FROM pg_roles WHERE rolname = 'billing-bot'"), "t");
    assert_eq!(c.read_account(&svc).await.unwrap().attributes["valid_until"], "infinity");

    // A login role an operator made, without VALID UNTIL (never expires) and
    // already holding a role: a grant of it is a no-op, a new one only adds
    // the membership (the latest expiry is already "never").
    pg.psql_ok("CREATE ROLE \"etl-bot\" LOGIN IN ROLE app_read", &[]);
    let etl = |role: &str| {
        let mut o = contract::order("pg-test", "etl-bot", IdentityKind::ServiceAccount, role);
        o.expires_at = Some(t1);
        o
    };
    assert_eq!(c.grant(&etl("app_read")).await.unwrap(), Applied::AlreadyPresent);
    assert_eq!(c.grant(&etl("app_write")).await.unwrap(), Applied::Changed);
    assert_eq!(catalog("SELECT rolvaliduntil IS NULL FROM pg_roles WHERE rolname = 'etl-bot'"), "t");
}

/// Changes asked for at once are applied a batch per transaction (see
/// `postgres/batch.rs`): each still gets its own answer, a change the target
/// refuses fails alone, and two changes to one account see each other.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn changes_asked_at_once_share_transactions_and_each_gets_its_own_answer() {
    let pg = Pg::start();
    const PEOPLE: usize = 60;
    let mut setup = String::from("CREATE ROLE batch_read; CREATE ROLE batch_write; CREATE ROLE loop_person LOGIN; CREATE ROLE loop_role;");
    // loop_role is a member of loop_person: granting loop_role to loop_person
    // would make a cycle, which PostgreSQL refuses only when the GRANT runs.
    setup.push_str("GRANT loop_person TO loop_role;");
    for i in 0..PEOPLE {
        setup.push_str(&format!("CREATE ROLE batch_p{i} LOGIN;"));
    }
    pg.psql_ok(&setup, &[]);
    let c = pg.connector();
    let svc = |role: &str| contract::order("pg-test", "batch-bot", IdentityKind::ServiceAccount, role);
    let people: Vec<_> = (0..PEOPLE).map(|i| contract::order("pg-test", &format!("batch_p{i}"), IdentityKind::Person, "batch_read")).collect();
    let cycle = contract::order("pg-test", "loop_person", IdentityKind::Person, "loop_role");
    let missing = contract::order("pg-test", "batch_p0", IdentityKind::Person, "no_such_role");

    let grant_all = |orders: Vec<writ_app::ports::Order>, revoke: bool| {
        let mut set = tokio::task::JoinSet::new();
        for (i, o) in orders.into_iter().enumerate() {
            let c = c.clone();
            set.spawn(async move { (i, if revoke { c.revoke(&o).await } else { c.grant(&o).await }) });
        }
        async move {
            let mut answers: Vec<_> = set.join_all().await;
            answers.sort_by_key(|(i, _)| *i);
            answers.into_iter().map(|(_, a)| a).collect::<Vec<_>>()
        }
    };

    // A second role for one of the people, asked in the same breath.
    let second_role = contract::order("pg-test", "batch_p1", IdentityKind::Person, "batch_write");
    let mut orders = people.clone();
    orders.extend([cycle.clone(), missing.clone(), svc("batch_read"), svc("batch_write"), second_role.clone()]);
    let answers = grant_all(orders, false).await;
    for (i, a) in answers[..PEOPLE].iter().enumerate() {
        assert_eq!(a, &Ok(Applied::Changed), "batch_p{i}");
    }
    match &answers[PEOPLE] {
        Err(ConnectorError::Permanent { detail, .. }) => assert!(detail.contains("loop_"), "the target's own refusal: {detail}"),
        other => panic!("the cyclic grant must fail alone, permanently: {other:?}"),
    }
    match &answers[PEOPLE + 1] {
        Err(ConnectorError::Permanent { detail, .. }) => assert!(detail.contains("no role `no_such_role`"), "{detail}"),
        other => panic!("a grant of a missing role is refused: {other:?}"),
    }
    assert_eq!(
        answers[PEOPLE + 2..],
        [Ok(Applied::Changed), Ok(Applied::Changed), Ok(Applied::Changed)],
        "both grants to one new service account, and a person's second role"
    );
    assert_eq!(pg.psql_ok("SELECT count(*) FROM pg_auth_members m JOIN pg_roles u ON u.oid = m.member WHERE u.rolname = 'batch_p1'", &[]), "2");
    assert_eq!(
        pg.psql_ok("SELECT count(*) FROM pg_auth_members m JOIN pg_roles r ON r.oid = m.roleid WHERE r.rolname = 'batch_read'", &[]),
        (PEOPLE + 1).to_string()
    );
    assert_eq!(
        pg.psql_ok("SELECT count(*) FROM pg_auth_members m JOIN pg_roles r ON r.oid = m.member WHERE r.rolname = 'loop_person'", &[]),
        "0",
        "the refused cycle left nothing"
    );
    assert_eq!(pg.psql_ok("SELECT rolcanlogin FROM pg_roles WHERE rolname = 'batch-bot'", &[]), "t");
    // Each membership row carries the id of the transaction that made it: the
    // people's grants shared a few, rather than one each.
    let transactions: usize = pg
        .psql_ok("SELECT count(DISTINCT m.xmin::text) FROM pg_auth_members m JOIN pg_roles r ON r.oid = m.member WHERE r.rolname LIKE 'batch\\_p%'", &[])
        .parse()
        .unwrap();
    assert!(transactions < PEOPLE / 2, "{PEOPLE} grants asked at once took {transactions} transactions");

    // Revoking at once: the service account's last revoke sees the first one
    // (it ends NOLOGIN), and a revoke of what is gone is still AlreadyAbsent.
    let mut orders = people.clone();
    orders.extend([svc("batch_read"), svc("batch_write"), second_role, missing.clone()]);
    let answers = grant_all(orders, true).await;
    assert!(answers[..PEOPLE + 3].iter().all(|a| a == &Ok(Applied::Changed)), "{answers:?}");
    assert_eq!(answers[PEOPLE + 3], Ok(Applied::AlreadyAbsent));
    assert_eq!(pg.psql_ok(MEMBERSHIPS, &[]), "1", "only loop_role's membership in loop_person is left");
    assert_eq!(pg.psql_ok("SELECT rolcanlogin FROM pg_roles WHERE rolname = 'batch-bot'", &[]), "f");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_name_longer_than_63_bytes_is_refused_and_nothing_is_granted() {
    let pg = Pg::start();
    let prefix = "r".repeat(63);
    let long = format!("{prefix}-and-more"); // PostgreSQL would read this as `prefix`
                                             // psql's CREATE ROLE truncates (with a NOTICE): the truncated roles exist.
    pg.psql_ok(
        "CREATE ROLE :\"long\"; CREATE ROLE :\"longlogin\" LOGIN; CREATE ROLE ok_role; CREATE ROLE ok_person LOGIN;",
        &[("long", &long), ("longlogin", &format!("{}-x", "p".repeat(63)))],
    );
    assert_eq!(pg.psql_ok("SELECT count(*) FROM pg_roles WHERE rolname IN (:'r', :'p')", &[("r", &prefix), ("p", &"p".repeat(63))]), "2");
    let c = pg.connector();
    let before = contract::scan_all(&*c).await;

    let as_role = contract::order("pg-test", "ok_person", IdentityKind::Person, &long);
    let as_person = contract::order("pg-test", &format!("{}-x", "p".repeat(63)), IdentityKind::Person, "ok_role");
    let as_service = contract::order("pg-test", &"s".repeat(64), IdentityKind::ServiceAccount, "ok_role");
    for o in [&as_role, &as_person, &as_service] {
        for result in [c.grant(o).await, c.revoke(o).await] {
            match result {
                Err(ConnectorError::Permanent { detail, .. }) => {
                    assert!(detail.contains("63 bytes") && detail.contains("truncate"), "says why: {detail}");
                }
                other => panic!("a name over 63 bytes must be refused, got {other:?}"),
            }
        }
    }
    assert!(c.read_account(&as_person.account).await.unwrap_err().to_string().contains("63 bytes"));
    assert_eq!(contract::scan_all(&*c).await, before, "nothing changed on the target");
    assert_eq!(pg.psql_ok(MEMBERSHIPS, &[]), "0", "no membership anywhere");
    assert_eq!(pg.psql_ok("SELECT count(*) FROM pg_roles WHERE rolname LIKE 'sss%'", &[]), "0", "no service role created");
    // Exactly 63 bytes is fine.
    let exact = contract::order("pg-test", "ok_person", IdentityKind::Person, &prefix);
    assert_eq!(c.grant(&exact).await.unwrap(), Applied::Changed);
    assert!(c.read_account(&person("ok_person")).await.unwrap().holds(&prefix));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn secrets_never_appear_in_errors_debug_or_info() {
    let pg = Pg::start();
    pg.psql_ok("CREATE ROLE someone LOGIN; CREATE ROLE some_role;", &[]);
    let wrong = "Wr0ng-pa55word-that-must-not-leak";
    let file = pg.server.dir().join("wrong.password");
    std::fs::write(&file, wrong).unwrap();
    let mut cfg = pg.config();
    cfg.password.file = Some(file);
    let c = PostgresConnector::new(&TargetId::parse("pg-test").unwrap(), &cfg).unwrap();
    let o = contract::order("pg-test", "someone", IdentityKind::Person, "some_role");
    let e = c.grant(&o).await.unwrap_err();
    let text = format!("{e} {e:?}");
    assert!(!e.is_transient() && text.contains("password authentication failed"), "{text}");
    for shown in [text, format!("{c:?}"), format!("{:?}", c.info())] {
        assert!(!shown.contains(wrong) && !shown.contains(ADMIN_PASSWORD), "{shown}");
    }

    // The right password, then the server goes away: transient, still no secret.
    let good = pg.connector();
    assert_eq!(good.grant(&o).await.unwrap(), Applied::Changed);
    pg.stop();
    let e = good.read_account(&o.account).await.unwrap_err();
    assert!(e.is_transient(), "{e}");
    assert!(!format!("{e} {e:?} {good:?}").contains(ADMIN_PASSWORD));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn accounts_and_roles_writ_must_not_touch_are_refused() {
    let pg = Pg::start();
    pg.psql_ok(
        "CREATE ROLE team; CREATE ROLE member_of_team LOGIN IN ROLE team; CREATE ROLE no_login; CREATE ROLE some_role; \
         CREATE ROLE root_like LOGIN SUPERUSER;",
        &[],
    );
    let c = pg.connector();
    let refused = |r: Result<Applied, ConnectorError>, needle: &str| match r {
        Err(ConnectorError::Permanent { detail, .. }) => assert!(detail.contains(needle), "{detail} should say {needle:?}"),
        other => panic!("expected a permanent refusal mentioning {needle:?}, got {other:?}"),
    };
    let person = |a: &str, r: &str| contract::order("pg-test", a, IdentityKind::Person, r);
    let service = |a: &str, r: &str| contract::order("pg-test", a, IdentityKind::ServiceAccount, r);
    refused(c.grant(&person("nobody", "some_role")).await, "no login role `nobody` on target `pg-test`");
    refused(c.grant(&person("no_login", "some_role")).await, "cannot log in");
    refused(c.grant(&person("member_of_team", "no_such_role")).await, "no role `no_such_role`");
    refused(c.grant(&person("member_of_team", "pg_monitor")).await, "built-in");
    refused(c.grant(&person("writ_admin", "some_role")).await, "Writ connects as");
    refused(c.grant(&service("team", "some_role")).await, "group role");
    refused(c.grant(&service("root_like", "some_role")).await, "superuser");
    // Permission denied by PostgreSQL itself (a CREATEROLE role cannot grant a superuser role).
    refused(c.grant(&person("member_of_team", "root_like")).await, "SQLSTATE 42501");
    // Revoking what nobody holds, or on roles that do not exist, is already done.
    assert_eq!(c.revoke(&person("nobody", "some_role")).await.unwrap(), Applied::AlreadyAbsent);
    assert_eq!(c.revoke(&person("member_of_team", "no_such_role")).await.unwrap(), Applied::AlreadyAbsent);
    assert_eq!(pg.psql_ok(MEMBERSHIPS, &[]), "1", "only team's own membership");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn read_and_scan_show_direct_memberships_without_builtins_or_writs_own() {
    let pg = Pg::start();
    pg.psql_ok(
        "CREATE ROLE readers; CREATE ROLE writers; CREATE ROLE carol LOGIN IN ROLE readers; \
         GRANT writers TO carol WITH ADMIN OPTION; GRANT pg_monitor TO carol; GRANT readers TO writ_admin; \
         CREATE ROLE dave LOGIN VALID UNTIL '2100-01-01 00:00:00+00' IN ROLE writers;",
        &[],
    );
    let c = pg.connector();
    let carol = c.read_account(&person("carol")).await.unwrap();
    let held: Vec<(&str, &str)> = carol.entitlements.iter().map(|e| (e.resource.as_str(), e.detail["admin_option"].as_str())).collect();
    assert_eq!(held, [("readers", "false"), ("writers", "true")], "no pg_monitor: {carol:?}");
    assert!(!carol.attributes.contains_key("valid_until"));
    let dave = c.read_account(&person("dave")).await.unwrap();
    assert_eq!(dave.attributes["valid_until"], "2100-01-01T00:00:00Z");
    assert!(!c.read_account(&person("nobody")).await.unwrap().exists);

    let all = contract::scan_all(&*c).await;
    let pairs: Vec<(&str, &str)> = all.iter().map(|e| (e.account.as_str(), e.resource.as_str())).collect();
    assert_eq!(pairs, [("carol", "readers"), ("carol", "writers"), ("dave", "writers")], "no pg_*, no writ_admin's own");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_hostile_name_postgres_can_hold_is_granted_exactly() {
    let pg = Pg::start();
    pg.psql_ok("CREATE ROLE plain_person LOGIN; CREATE ROLE plain_role;", &[]);
    let c = pg.connector();
    let mut exact = 0;
    for name in contract::hostile_names() {
        let fits = !name.contains('\0') && name.len() <= 63 && name != "public";
        // As a login role granted `plain_role`, and as a role granted to `plain_person`.
        for (account, role, login) in [(name.as_str(), "plain_role", true), ("plain_person", name.as_str(), false)] {
            let made = pg.make_role(&name, login);
            assert_eq!(made, fits, "{name:?}: psql holds exactly the names the connector accepts");
            let o = contract::order("pg-test", account, IdentityKind::Person, role);
            let result = c.grant(&o).await;
            if !fits {
                assert!(matches!(result, Err(ConnectorError::Permanent { .. })), "{name:?}: {result:?}");
                continue;
            }
            if name == "postgres" && !login {
                // A superuser role: only a superuser may grant it.
                assert!(result.unwrap_err().to_string().contains("42501"));
                continue;
            }
            assert_eq!(result.unwrap_or_else(|e| panic!("{name:?}: {e}")), Applied::Changed, "{name:?}");
            let held = pg.psql_ok(
                "SELECT count(*) FROM pg_auth_members m JOIN pg_roles a ON a.oid = m.member JOIN pg_roles r ON r.oid = m.roleid \
                 WHERE a.rolname::text = :'a' AND r.rolname::text = :'r'",
                &[("a", account), ("r", role)],
            );
            assert_eq!(held, "1", "{name:?}: psql sees exactly that membership");
            assert!(c.read_account(&o.account).await.unwrap().holds(role));
            assert_eq!(c.revoke(&o).await.unwrap(), Applied::Changed);
            exact += 1;
        }
    }
    assert_eq!(pg.psql_ok(MEMBERSHIPS, &[]), "0");
    assert_eq!(exact, 2 * (contract::hostile_names().len() - 3) - 1, "all but NUL, 10 KiB, `public` (and `postgres` as a role)");
}
