use std::process::{Command, Output};
use std::time::Instant;

use writ_testkit::process::tcp_accepts;
use writ_testkit::{ldap_binary, LdapServer};

/// Plain `ldapsearch` (ldap-utils), bound as `dn`/`pw`, subtree under `base`.
fn ldapsearch(url: &str, dn: &str, pw: &str, base: &str, filter: &str, attrs: &[&str]) -> Output {
    Command::new(ldap_binary("ldapsearch").unwrap())
        .args(["-x", "-LLL", "-o", "ldif-wrap=no", "-o", "nettimeout=2"])
        .args(["-H", url, "-D", dn, "-w", pw, "-b", base, filter])
        .args(attrs)
        .output()
        .unwrap()
}

fn stdout_ok(out: Output) -> String {
    assert!(out.status.success(), "ldapsearch failed ({}): {}", out.status, String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).unwrap()
}

fn dns(ldif: &str) -> Vec<String> {
    let mut dns: Vec<String> = ldif.lines().filter_map(|l| l.strip_prefix("dn: ")).map(str::to_string).collect();
    dns.sort();
    dns
}

#[test]
fn ldap_serves_the_base_tree_and_comes_back_with_its_data_after_a_stop() {
    let t = Instant::now();
    let mut ldap = LdapServer::start().unwrap();
    eprintln!("slapd started in {:?} on port {}", t.elapsed(), ldap.port());
    let url = ldap.url();
    assert_eq!(url, format!("ldap://127.0.0.1:{}/", ldap.port()));
    assert_eq!(ldap.base_dn(), "dc=writ,dc=test");
    assert_eq!(ldap.admin_dn(), "cn=admin,dc=writ,dc=test");
    let (admin, pw) = (ldap.admin_dn().to_string(), ldap.admin_password().to_string());

    // The seeded tree, read with the plain client.
    let ous = stdout_ok(ldapsearch(&url, &admin, &pw, ldap.base_dn(), "(objectClass=organizationalUnit)", &["ou"]));
    assert_eq!(dns(&ous), ["ou=groups,dc=writ,dc=test", "ou=people,dc=writ,dc=test", "ou=services,dc=writ,dc=test"]);
    assert_eq!(ldap.people_dn(), "ou=people,dc=writ,dc=test");
    assert_eq!(ldap.groups_dn(), "ou=groups,dc=writ,dc=test");
    assert_eq!(ldap.services_dn(), "ou=services,dc=writ,dc=test");

    // A wrong password is refused: the server checks credentials.
    let wrong = ldapsearch(&url, &admin, "wrong", ldap.base_dn(), "(objectClass=*)", &["1.1"]);
    assert_eq!(wrong.status.code(), Some(49), "invalid credentials");

    // Writes as the admin: a person and a group holding her.
    ldap.ldapmodify(
        "dn: uid=alice,ou=people,dc=writ,dc=test
objectClass: inetOrgPerson
uid: alice
cn: Alice
sn: Liddell
mail: alice@writ.test

dn: cn=payments-readonly,ou=groups,dc=writ,dc=test
objectClass: groupOfNames
cn: payments-readonly
member: uid=alice,ou=people,dc=writ,dc=test
",
    )
    .unwrap();
    let by_member = |ldap: &LdapServer| dns(&ldap.ldapsearch(&ldap.groups_dn(), "(member=uid=alice,ou=people,dc=writ,dc=test)", &["cn"]).unwrap());
    assert_eq!(by_member(&ldap), ["cn=payments-readonly,ou=groups,dc=writ,dc=test"]);
    // Adding the same entry again is an error, reported with ldapmodify's message.
    let again = ldap.ldapmodify("dn: uid=alice,ou=people,dc=writ,dc=test\nobjectClass: inetOrgPerson\nuid: alice\ncn: A\nsn: L\n").unwrap_err();
    assert!(again.to_string().contains("Already exists"), "{again}");

    // Down: the client cannot reach it (exit 255, "Can't contact LDAP server").
    let pid = ldap.pid().unwrap();
    let t = Instant::now();
    ldap.stop();
    eprintln!("slapd stopped in {:?}", t.elapsed());
    assert!(!ldap.is_running());
    assert!(ldap.pid().is_none());
    assert!(
        !std::path::Path::new(&format!("/proc/{pid}")).exists() || {
            let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
            status.contains("zombie")
        }
    );
    let down = ldapsearch(&url, &admin, &pw, ldap.base_dn(), "(objectClass=*)", &["1.1"]);
    assert_eq!(down.status.code(), Some(255), "{}", String::from_utf8_lossy(&down.stderr));
    assert!(String::from_utf8_lossy(&down.stderr).contains("Can't contact LDAP server"));
    ldap.stop(); // idempotent

    // Back on the same URL, with the data written before.
    let t = Instant::now();
    ldap.start_again().unwrap();
    eprintln!("slapd started again in {:?}", t.elapsed());
    assert!(ldap.is_running());
    assert_eq!(ldap.url(), url);
    assert_eq!(by_member(&ldap), ["cn=payments-readonly,ou=groups,dc=writ,dc=test"]);
    let alice = stdout_ok(ldapsearch(&url, &admin, &pw, &ldap.people_dn(), "(uid=alice)", &["mail"]));
    assert!(alice.contains("mail: alice@writ.test"), "{alice}");
    ldap.start_again().unwrap(); // no-op while running

    // Drop: the server is gone and its dir deleted.
    let dir = ldap.dir().to_path_buf();
    let port = ldap.port();
    assert!(dir.join("slapd.conf").is_file() && dir.join("data").is_dir());
    drop(ldap);
    assert!(!dir.exists(), "{} still exists", dir.display());
    assert!(!tcp_accepts(port));
}

#[test]
fn ldap_starts_seeded_with_ldif_loaded_offline() {
    let mut ldif = String::new();
    for i in 0..500 {
        ldif.push_str(&format!("dn: uid=user{i},ou=people,dc=writ,dc=test\nobjectClass: inetOrgPerson\nuid: user{i}\ncn: User {i}\nsn: {i}\n\n"));
    }
    ldif.push_str("dn: cn=everyone,ou=groups,dc=writ,dc=test\nobjectClass: groupOfNames\ncn: everyone\n");
    for i in 0..500 {
        ldif.push_str(&format!("member: uid=user{i},ou=people,dc=writ,dc=test\n"));
    }
    let t = Instant::now();
    let ldap = LdapServer::start_with_ldif(&ldif).unwrap();
    eprintln!("slapd seeded with 501 entries and started in {:?}", t.elapsed());
    let people = ldap.ldapsearch(&ldap.people_dn(), "(objectClass=inetOrgPerson)", &["1.1"]).unwrap();
    assert_eq!(dns(&people).len(), 500);
    let group = ldap.ldapsearch(&ldap.groups_dn(), "(cn=everyone)", &["member"]).unwrap();
    assert_eq!(group.lines().filter(|l| l.starts_with("member: ")).count(), 500);
    let user42 = ldap.ldapsearch(&ldap.groups_dn(), "(member=uid=user42,ou=people,dc=writ,dc=test)", &["1.1"]).unwrap();
    assert_eq!(dns(&user42), ["cn=everyone,ou=groups,dc=writ,dc=test"]);

    // Online writes too, more than a pipe's worth of ldapmodify output.
    let mut more = String::new();
    for i in 0..3000 {
        more.push_str(&format!("dn: uid=svc{i},ou=services,dc=writ,dc=test\nobjectClass: account\nuid: svc{i}\n\n"));
    }
    let t = Instant::now();
    ldap.ldapmodify(&more).unwrap();
    eprintln!("ldapmodify added 3000 entries in {:?}", t.elapsed());
    let services = ldap.ldapsearch(&ldap.services_dn(), "(objectClass=account)", &["1.1"]).unwrap();
    assert_eq!(dns(&services).len(), 3000);
}

#[test]
fn ldap_bad_seed_is_an_error_with_slapadds_message() {
    let err = LdapServer::start_with_ldif("dn: uid=x,ou=nowhere,dc=writ,dc=test\nobjectClass: inetOrgPerson\nuid: x\ncn: x\nsn: x\n")
        .err()
        .expect("a seed under a missing parent must fail");
    let msg = err.to_string();
    assert!(msg.starts_with("slapadd"), "{msg}");
}

#[test]
fn parallel_ldap_servers_are_independent() {
    let servers: Vec<LdapServer> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..3).map(|_| s.spawn(|| LdapServer::start().unwrap())).collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    let mut ports: Vec<u16> = servers.iter().map(|s| s.port()).collect();
    ports.sort();
    ports.dedup();
    assert_eq!(ports.len(), 3);
    servers[1].ldapmodify("dn: uid=bob,ou=people,dc=writ,dc=test\nobjectClass: account\nuid: bob\n").unwrap();
    let found: Vec<usize> = servers.iter().map(|s| dns(&s.ldapsearch(&s.people_dn(), "(uid=bob)", &["1.1"]).unwrap()).len()).collect();
    assert_eq!(found, [0, 1, 0]);
}
