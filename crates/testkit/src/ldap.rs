//! Throwaway OpenLDAP (`slapd`) servers.

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use crate::process::{self, Launch, Supervised};
use crate::tls::{TestCa, TlsFiles};
use crate::TestkitError;

const STARTUP_TIMEOUT: Duration = Duration::from_secs(30);
/// Readiness probes give up after this (a port held by a process that never
/// answers must not hang the start).
const PROBE_TIMEOUT: Duration = Duration::from_secs(2);
const SCHEMA_DIR: &str = "/etc/ldap/schema";
const SCHEMAS: [&str; 3] = ["core", "cosine", "inetorgperson"];
const MODULE_DIR: &str = "/usr/lib/ldap";

/// The suffix of every [`LdapServer`].
pub const BASE_DN: &str = "dc=writ,dc=test";
/// The root DN (`rootdn`: no entry, bypasses access control).
pub const ADMIN_DN: &str = "cn=admin,dc=writ,dc=test";
/// The root DN's password (`rootpw`, plain text).
pub const ADMIN_PASSWORD: &str = "writ-ldap-admin";

/// The tree every server starts from: the base entry and three OUs.
const BASE_LDIF: &str = "\
dn: dc=writ,dc=test
objectClass: dcObject
objectClass: organization
dc: writ
o: Writ test

dn: ou=people,dc=writ,dc=test
objectClass: organizationalUnit
ou: people

dn: ou=groups,dc=writ,dc=test
objectClass: organizationalUnit
ou: groups

dn: ou=services,dc=writ,dc=test
objectClass: organizationalUnit
ou: services
";

/// An OpenLDAP binary: `slapd`/`slapadd` (package `slapd`, in `/usr/sbin`) or
/// an `ldap-utils` client (`ldapsearch`, `ldapmodify`, `ldapadd`, ...).
pub fn ldap_binary(name: &str) -> Result<PathBuf, TestkitError> {
    let package = if name.starts_with("slap") { "slapd" } else { "ldap-utils" };
    process::find_binary(name, package, &["/usr/sbin"])
}

/// A throwaway OpenLDAP 2.5 server on `ldap://127.0.0.1:PORT/` (a free port),
/// from a plain generated `slapd.conf` in a temp dir; stopped and deleted on drop.
///
/// - Suffix [`BASE_DN`] (`dc=writ,dc=test`) on an `mdb` database, with
///   `ou=people`, `ou=groups` and `ou=services` under it.
/// - Schemas `core`, `cosine`, `inetorgperson` (so `inetOrgPerson`,
///   `groupOfNames`/`member`, `organizationalUnit`, `account`).
/// - Equality indexes on `objectClass`, `member`, `uid`, `cn`.
/// - Root DN [`ADMIN_DN`] / [`ADMIN_PASSWORD`]; no access directives, so
///   slapd's default applies (everyone, anonymous included, may read).
/// - `slapd` runs as the current user (root included; it needs no user switch).
///
/// [`LdapServer::stop`] and [`LdapServer::start_again`] take it down and bring
/// it back on the same port with the same data (the database is on disk).
///
/// The temp dir holds `slapd.conf`, `data/` and `slapd.log` (slapd's errors;
/// every start appends to it).
pub struct LdapServer {
    spec: Spec,
    proc: Supervised,
}

/// How a TLS [`LdapServer`] speaks TLS ([`LdapServer::start_tls`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LdapTls {
    /// Only an `ldaps://` listener: TLS from the first byte.
    Ldaps,
    /// Only an `ldap://` listener, and `security tls=1`: every operation but
    /// the StartTLS request itself is refused (`confidentialityRequired`)
    /// until the client has started TLS on the connection.
    StartTls,
}

/// What it takes to (re)launch slapd.
struct Spec {
    slapd: PathBuf,
    ldapsearch: PathBuf,
    conf: PathBuf,
    /// The mode and the CA file clients trust (a copy in the server's dir).
    tls: Option<(LdapTls, PathBuf)>,
}

impl Spec {
    fn command(&self, port: u16) -> Command {
        let mut cmd = Command::new(&self.slapd);
        // `-d none`: stay in the foreground (any -d does) and log only errors
        // (`-d 0` would silence even those).
        cmd.arg("-f").arg(&self.conf).arg("-h").arg(self.url(port)).args(["-d", "none"]);
        cmd
    }

    fn url(&self, port: u16) -> String {
        match self.tls {
            Some((LdapTls::Ldaps, _)) => format!("ldaps://127.0.0.1:{port}/"),
            _ => format!("ldap://127.0.0.1:{port}/"),
        }
    }

    /// An OpenLDAP client tool on `port`, speaking TLS as the server wants
    /// (`-ZZ`: StartTLS, failing if it cannot) and trusting only our CA.
    fn client(&self, tool: &Path, port: u16) -> Command {
        let mut cmd = Command::new(tool);
        cmd.arg("-H").arg(self.url(port)).env_remove("LDAPTLS_CACERTDIR");
        if let Some((mode, ca)) = &self.tls {
            cmd.env("LDAPTLS_CACERT", ca).env("LDAPTLS_REQCERT", "demand");
            if *mode == LdapTls::StartTls {
                cmd.arg("-ZZ");
            }
        }
        cmd
    }

    /// Our slapd says it started (so it holds the port: it logs that only
    /// after binding), and the root DN can bind and read the base entry.
    fn ready(&self, launch: &Launch) -> bool {
        let port = launch.port;
        launch.log_since_start().contains("slapd starting")
            && process::output_within(
                self.client(&self.ldapsearch, port)
                    .args(["-x", "-LLL", "-o", "nettimeout=1", "-l", "1"])
                    .args(["-D", ADMIN_DN, "-w", ADMIN_PASSWORD, "-b", BASE_DN])
                    .args(["-s", "base", "1.1"]),
                PROBE_TIMEOUT,
            )
            .is_some_and(|(status, _)| status.success())
    }
}

impl LdapServer {
    /// Starts a server with the base tree and waits until the root DN can bind
    /// (well under a second).
    pub fn start() -> Result<LdapServer, TestkitError> {
        Self::start_with_ldif("")
    }

    /// Like [`LdapServer::start`], and loads `ldif` (entries in LDIF, parents
    /// first, without `changetype`) after the base tree with `slapadd` before
    /// the server starts: the fast way to seed many entries.
    pub fn start_with_ldif(ldif: &str) -> Result<LdapServer, TestkitError> {
        Self::start_inner(ldif, None)
    }

    /// Like [`LdapServer::start`], speaking only TLS in `mode` with a
    /// certificate `ca` signed for 127.0.0.1/localhost: a plaintext client
    /// cannot bind. [`LdapServer::url`] is `ldaps://…` for
    /// [`LdapTls::Ldaps`]; the helpers ([`LdapServer::ldapsearch`], ...)
    /// speak TLS too.
    pub fn start_tls(ca: &TestCa, mode: LdapTls) -> Result<LdapServer, TestkitError> {
        Self::start_inner("", Some((ca, mode)))
    }

    fn start_inner(ldif: &str, tls: Option<(&TestCa, LdapTls)>) -> Result<LdapServer, TestkitError> {
        let slapd = ldap_binary("slapd")?;
        let slapadd = ldap_binary("slapadd")?;
        let ldapsearch = ldap_binary("ldapsearch")?;
        for schema in SCHEMAS {
            let file = format!("{SCHEMA_DIR}/{schema}.schema");
            if !Path::new(&file).is_file() {
                return Err(TestkitError::MissingBinary { binary: file, package: "slapd".into() });
            }
        }
        if !Path::new(MODULE_DIR).join("back_mdb.so").exists() {
            return Err(TestkitError::MissingBinary { binary: format!("{MODULE_DIR}/back_mdb.so"), package: "slapd".into() });
        }

        let dir = process::server_dir("writ-ldap-", None)?;
        let data = dir.path().join("data");
        fs::create_dir(&data)?;
        let conf = dir.path().join("slapd.conf");
        let tls = match tls {
            None => None,
            Some((ca, mode)) => Some((mode, ca.files().install(dir.path(), None)?)),
        };
        fs::write(&conf, slapd_conf(dir.path(), &data, tls.as_ref()))?;

        let seed = dir.path().join("seed.ldif");
        fs::write(&seed, format!("{BASE_LDIF}\n{ldif}"))?;
        let out = Command::new(&slapadd).arg("-q").arg("-f").arg(&conf).arg("-l").arg(&seed).current_dir(dir.path()).stdin(Stdio::null()).output()?;
        if !out.status.success() {
            return Err(TestkitError::Command {
                what: format!("slapadd ({})", out.status),
                output: String::from_utf8_lossy(&[&out.stderr[..], &out.stdout[..]].concat()).into_owned(),
            });
        }
        let _ = fs::remove_file(&seed);

        let mut server = LdapServer {
            spec: Spec { slapd, ldapsearch, conf, tls: tls.map(|(mode, files)| (mode, files.ca)) },
            proc: Supervised::new(dir, "slapd", "TERM", STARTUP_TIMEOUT),
        };
        let spec = &server.spec;
        server.proc.start_on_free_port(|port| spec.command(port), |l| spec.ready(l))?;
        Ok(server)
    }

    /// `ldap://127.0.0.1:PORT/` (`ldaps://` for [`LdapTls::Ldaps`]).
    pub fn url(&self) -> String {
        self.spec.url(self.proc.port())
    }

    pub fn port(&self) -> u16 {
        self.proc.port()
    }

    /// `dc=writ,dc=test`
    pub fn base_dn(&self) -> &str {
        BASE_DN
    }

    /// `ou=people,dc=writ,dc=test`
    pub fn people_dn(&self) -> String {
        format!("ou=people,{BASE_DN}")
    }

    /// `ou=groups,dc=writ,dc=test`
    pub fn groups_dn(&self) -> String {
        format!("ou=groups,{BASE_DN}")
    }

    /// `ou=services,dc=writ,dc=test`
    pub fn services_dn(&self) -> String {
        format!("ou=services,{BASE_DN}")
    }

    /// The root DN, `cn=admin,dc=writ,dc=test`.
    pub fn admin_dn(&self) -> &str {
        ADMIN_DN
    }

    pub fn admin_password(&self) -> &str {
        ADMIN_PASSWORD
    }

    /// The temp dir (`slapd.conf`, `data/`, `slapd.log`); gone after drop.
    pub fn dir(&self) -> &Path {
        self.proc.path()
    }

    /// slapd's log (errors only), appended to by every start.
    pub fn log_path(&self) -> &Path {
        self.proc.log()
    }

    /// Applies `ldif` with `ldapmodify -a` bound as the root DN: records with a
    /// `changetype` do what they say, records without one are added.
    pub fn ldapmodify(&self, ldif: &str) -> Result<(), TestkitError> {
        let mut child = self
            .spec
            .client(&ldap_binary("ldapmodify")?, self.port())
            .args(["-x", "-a"])
            .args(["-D", ADMIN_DN, "-w", ADMIN_PASSWORD])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()?;
        // Fed from another thread: ldapmodify prints a line per entry, and
        // would block on a full stdout pipe while we block on its full stdin.
        let stdin = child.stdin.take();
        let out = std::thread::scope(|s| {
            let feeder = s.spawn(move || match stdin {
                Some(mut stdin) => stdin.write_all(ldif.as_bytes()),
                None => Ok(()),
            });
            let out = child.wait_with_output();
            // A write error (ldapmodify quit early) shows in its own output.
            let _ = feeder.join();
            out
        })?;
        if !out.status.success() {
            return Err(TestkitError::Command {
                what: format!("ldapmodify ({})", out.status),
                output: String::from_utf8_lossy(&[&out.stderr[..], &out.stdout[..]].concat()).into_owned(),
            });
        }
        Ok(())
    }

    /// `ldapsearch -LLL` bound as the root DN under `base` (subtree) with
    /// `filter`, asking for `attrs` (all user attributes if empty); returns the
    /// LDIF it prints (lines not wrapped).
    pub fn ldapsearch(&self, base: &str, filter: &str, attrs: &[&str]) -> Result<String, TestkitError> {
        let out = self
            .spec
            .client(&ldap_binary("ldapsearch")?, self.port())
            .args(["-x", "-LLL", "-o", "ldif-wrap=no"])
            .args(["-D", ADMIN_DN, "-w", ADMIN_PASSWORD, "-b", base, filter])
            .args(attrs)
            .stdin(Stdio::null())
            .output()?;
        if !out.status.success() {
            return Err(TestkitError::Command {
                what: format!("ldapsearch -b {base} {filter} ({})", out.status),
                output: String::from_utf8_lossy(&[&out.stderr[..], &out.stdout[..]].concat()).into_owned(),
            });
        }
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    }

    /// Whether slapd is running (false after [`LdapServer::stop`] or if it died).
    pub fn is_running(&mut self) -> bool {
        self.proc.is_running()
    }

    /// slapd's pid while it runs.
    pub fn pid(&self) -> Option<u32> {
        self.proc.pid()
    }

    /// Stops slapd (SIGTERM, SIGKILL after 10 s) and keeps its port, data and
    /// dir, so [`LdapServer::start_again`] can bring it back. Idempotent.
    pub fn stop(&mut self) {
        self.proc.stop();
    }

    /// Starts slapd again on the same port with the same data, after
    /// [`LdapServer::stop`] (no-op while it runs). Fails if another process
    /// holds the port for more than 5 s.
    pub fn start_again(&mut self) -> Result<(), TestkitError> {
        let spec = &self.spec;
        self.proc.restart(|port| spec.command(port), |l| spec.ready(l))
    }
}

fn slapd_conf(dir: &Path, data: &Path, tls: Option<&(LdapTls, TlsFiles)>) -> String {
    let includes: String = SCHEMAS.iter().map(|s| format!("include {SCHEMA_DIR}/{s}.schema\n")).collect();
    let tls = match tls {
        None => String::new(),
        Some((mode, files)) => {
            // `security tls=1` (global): no operation without TLS. An ldaps-only
            // server needs none: it has no plaintext listener at all.
            let security = if *mode == LdapTls::StartTls { "security tls=1\n" } else { "" };
            format!(
                "TLSCACertificateFile \"{}\"\nTLSCertificateFile \"{}\"\nTLSCertificateKeyFile \"{}\"\n{security}",
                files.ca.display(),
                files.cert.display(),
                files.key.display()
            )
        }
    };
    format!(
        "# Generated by writ-testkit: a throwaway test server.
{includes}
{tls}
pidfile \"{pid}\"
argsfile \"{args}\"
modulepath {MODULE_DIR}
moduleload back_mdb

database mdb
maxsize 1073741824
dbnosync
suffix \"{BASE_DN}\"
rootdn \"{ADMIN_DN}\"
rootpw {ADMIN_PASSWORD}
directory \"{data}\"
index objectClass eq
index member eq
index uid eq
index cn eq
",
        pid = dir.join("slapd.pid").display(),
        args = dir.join("slapd.args").display(),
        data = data.display(),
    )
}
