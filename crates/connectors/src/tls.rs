//! Encrypted connections to targets and services: the CA a server's
//! certificate must chain to (`ca_file`, PEM), the clients built on it, errors
//! that say what to do when a certificate is refused, and the start-up check
//! that flags a plaintext connection to another machine.
//!
//! Certificate verification is never turned off: there is no option for it,
//! and a URL that asks for it (`rediss://…#insecure`) is refused.

use std::net::IpAddr;
use std::path::Path;
use std::sync::Arc;

use reqwest::Url;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::CertificateDer;

/// Why a CA file cannot be used; names the file and the key, never its content.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CaFileError {
    #[error("cannot read `ca_file` `{path}`: {reason}: give the path of the PEM file of the CA that signed the server's certificate")]
    Read { path: String, reason: String },
    #[error("`ca_file` `{path}` holds no PEM certificate (`-----BEGIN CERTIFICATE-----`): give the CA's certificate in PEM")]
    NoCertificate { path: String },
    #[error("`ca_file` `{path}`: {reason}")]
    Invalid { path: String, reason: String },
}

/// The certificates of a PEM file (a CA, or a bundle of them).
pub fn read_ca(path: &Path) -> Result<Vec<CertificateDer<'static>>, CaFileError> {
    load(path).map(|(_, certs)| certs)
}

/// The text of a PEM file holding at least one certificate (for clients that
/// take PEM, such as redis's).
pub fn read_ca_pem(path: &Path) -> Result<Vec<u8>, CaFileError> {
    load(path).map(|(pem, _)| pem)
}

fn load(path: &Path) -> Result<(Vec<u8>, Vec<CertificateDer<'static>>), CaFileError> {
    let shown = path.display().to_string();
    let pem = std::fs::read(path).map_err(|e| CaFileError::Read { path: shown.clone(), reason: e.kind().to_string() })?;
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_slice_iter(&pem)
        .collect::<Result<_, _>>()
        .map_err(|e| CaFileError::Invalid { path: shown.clone(), reason: format!("not valid PEM: {e}") })?;
    if certs.is_empty() {
        return Err(CaFileError::NoCertificate { path: shown });
    }
    Ok((pem, certs))
}

/// A rustls client config trusting only the CAs in `path` (for LDAP).
pub fn rustls_config(path: &Path) -> Result<Arc<rustls::ClientConfig>, CaFileError> {
    let mut roots = rustls::RootCertStore::empty();
    for cert in read_ca(path)? {
        roots.add(cert).map_err(|e| CaFileError::Invalid { path: path.display().to_string(), reason: format!("not a usable CA certificate: {e}") })?;
    }
    Ok(Arc::new(rustls::ClientConfig::builder().with_root_certificates(roots).with_no_client_auth()))
}

/// `builder` trusting only the CAs in `ca_file` when one is given (the
/// public web roots otherwise), for HTTPS to SCIM, webhooks and witnesses.
pub fn http_client(builder: reqwest::ClientBuilder, ca_file: Option<&Path>) -> Result<reqwest::ClientBuilder, CaFileError> {
    let Some(path) = ca_file else { return Ok(builder) };
    let mut builder = builder.tls_built_in_root_certs(false);
    for cert in read_ca(path)? {
        let cert = reqwest::Certificate::from_der(&cert)
            .map_err(|e| CaFileError::Invalid { path: path.display().to_string(), reason: format!("not a usable CA certificate: {e}") })?;
        builder = builder.add_root_certificate(cert);
    }
    Ok(builder)
}

/// What to do when a TLS handshake failed on the server's certificate, or
/// `None` when `detail` (an error's text) is not about one.
pub fn certificate_advice(detail: &str) -> Option<&'static str> {
    // rustls says "invalid peer certificate: UnknownIssuer" and the like; a
    // server refusing ours says "unknown ca" (an alert).
    const SIGNS: [&str; 4] = ["certificate", "UnknownIssuer", "NotValidForName", "unknown ca"];
    SIGNS.iter().any(|s| detail.contains(s)).then_some(
        "the server's TLS certificate was not accepted: set `ca_file` to the PEM file of the CA that signed it \
         (`sslrootcert` in a PostgreSQL URL, `audit_witness_ca_file` for the witness), and connect by a name the certificate holds",
    )
}

/// `detail` with [`certificate_advice`] appended when it applies.
pub fn with_advice(detail: String) -> String {
    match certificate_advice(&detail) {
        Some(advice) => format!("{detail}; {advice}"),
        None => detail,
    }
}

/// How a configured connection travels, as far as its URL and settings say.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Transport {
    /// TLS with the server's certificate verified.
    Verified,
    /// To this machine only (loopback address, `localhost`, a unix socket):
    /// nothing crosses the network.
    Local,
    /// Over the network to `host` without verified TLS; `why` says what is
    /// missing and `fix` what to write instead (the CA aside: that key
    /// depends on where the URL is configured, see [`plaintext_warning`]).
    Exposed { host: String, why: &'static str, fix: &'static str },
}

/// Whether `host` (as in a URL; IPv6 in brackets or not) is this machine.
pub fn is_loopback(host: &str) -> bool {
    let host = host.trim_start_matches('[').trim_end_matches(']');
    host.eq_ignore_ascii_case("localhost") || host.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback())
}

/// Classifies a connection URL: `postgres://`/`postgresql://` (TLS when
/// `sslmode` is `verify-full` or `verify-ca`), `ldap://`/`ldaps://`/`ldapi://`,
/// `redis://`/`rediss://`/`redis+unix://`, `http://`/`https://`, `sqlite:`.
/// `tls_configured` is what the settings beside the URL add: `starttls = true`
/// for LDAP, `ca_file` for PostgreSQL (which then defaults to `verify-full`).
/// A URL that cannot be parsed is `Local`: its own check reports it.
pub fn transport(url: &str, tls_configured: bool) -> Transport {
    let Ok(parsed) = Url::parse(url.trim()) else { return Transport::Local };
    let scheme = parsed.scheme().to_ascii_lowercase();
    let host = parsed.host_str().unwrap_or("").to_owned();
    // Unix sockets: ldapi://, redis+unix://, sqlite, and PostgreSQL's
    // `?host=/run/postgresql` or an empty host.
    let pg_socket = parsed.query_pairs().any(|(k, v)| k == "host" && v.starts_with('/'));
    if matches!(scheme.as_str(), "ldapi" | "redis+unix" | "unix" | "sqlite") || host.is_empty() || pg_socket {
        return Transport::Local;
    }
    let (verified, why, fix) = match scheme.as_str() {
        "postgres" | "postgresql" => {
            let mode = parsed.query_pairs().find(|(k, _)| k == "sslmode").map(|(_, v)| v.into_owned());
            let verified = match mode.as_deref() {
                Some("verify-full" | "verify-ca") => true,
                None => tls_configured,
                Some(_) => false,
            };
            (verified, "no `sslmode=verify-full` or `verify-ca`", "add `sslmode=verify-full` to the URL")
        }
        "ldaps" => (true, "", ""),
        "ldap" => (tls_configured, "ldap:// without StartTLS", "use `ldaps://`, or set `starttls = true`"),
        "rediss" => (true, "", ""),
        "redis" => (false, "redis://", "use `rediss://`"),
        "https" => (true, "", ""),
        "http" => (false, "http://", "use `https://`"),
        _ => return Transport::Local,
    };
    if verified {
        Transport::Verified
    } else if is_loopback(&host) {
        Transport::Local
    } else {
        Transport::Exposed { host, why, fix }
    }
}

/// The start-up warning for `what` (e.g. "target `pg-prod`") reached at
/// `url`, when it crosses the network without verified TLS. `ca_key` is the
/// key beside the URL that names a CA file (`ca_file`,
/// `audit_witness_ca_file`), if there is one; a PostgreSQL URL can always
/// carry `sslrootcert=`.
pub fn plaintext_warning(what: &str, url: &str, tls_configured: bool, ca_key: Option<&str>) -> Option<String> {
    let Transport::Exposed { host, why, fix } = transport(url, tls_configured) else { return None };
    let postgres = url.trim_start().starts_with("postgres");
    let ca = match (postgres, ca_key) {
        (true, Some(key)) => format!(" with `sslrootcert=<the CA's PEM file>`, or set `{key}`"),
        (true, None) => " with `sslrootcert=<the CA's PEM file>`".to_owned(),
        (false, Some(key)) => format!(", and `{key}` if a private CA signed its certificate"),
        (false, None) => String::new(),
    };
    Some(format!("{what} is reached at {host} without verified TLS ({why}): passwords and data would cross the network readable and alterable; {fix}{ca}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn exposed(url: &str, tls: bool) -> bool {
        matches!(transport(url, tls), Transport::Exposed { .. })
    }

    #[test]
    fn loopback_never_warns_whatever_the_scheme() {
        for url in [
            "postgres://writ@127.0.0.1:5432/writ",
            "postgres://writ@localhost/writ?sslmode=disable",
            "postgres://writ@[::1]:5432/writ",
            "postgres:///writ",
            "postgres://writ@/writ?host=/run/postgresql",
            "ldap://127.0.0.2:389/",
            "ldapi://%2Frun%2Fslapd%2Fldapi/",
            "redis://localhost:6379/",
            "redis+unix:///run/redis.sock",
            "http://127.0.0.1:8080/v2",
            "http://[::1]:8080/hook",
            "sqlite:///var/lib/writ/writ.db",
        ] {
            assert_eq!(transport(url, false), Transport::Local, "{url}");
        }
    }

    #[test]
    fn a_remote_host_without_verified_tls_warns() {
        assert!(exposed("postgres://writ@db.internal:5432/writ", false));
        assert!(exposed("postgres://writ@db.internal/writ?sslmode=require", false), "require encrypts but trusts any certificate");
        assert!(exposed("postgres://writ@db.internal/writ?sslmode=prefer", true), "an explicit weak sslmode wins over ca_file");
        assert!(exposed("ldap://ldap.corp.example:389/", false));
        assert!(exposed("redis://10.0.0.5:6379/", false));
        assert!(exposed("http://scim.example.com/v2", false));
        assert!(exposed("http://192.168.1.10/hook", false));
        let w = plaintext_warning("target `corp-ldap`", "ldap://ldap.corp.example/", false, Some("ca_file")).unwrap();
        assert!(w.contains("corp-ldap") && w.contains("ldap.corp.example") && w.contains("starttls = true") && w.contains("`ca_file`"), "{w}");
        let w = plaintext_warning("the database", "postgres://writ@db.internal/writ", false, None).unwrap();
        assert!(w.contains("sslmode=verify-full") && w.contains("sslrootcert") && !w.contains("ca_file"), "{w}");
    }

    #[test]
    fn verified_tls_does_not_warn() {
        for (url, tls) in [
            ("postgres://writ@db.internal/writ?sslmode=verify-full&sslrootcert=/etc/writ/ca.pem", false),
            ("postgresql://writ@db.internal/writ?sslmode=verify-ca", false),
            ("postgres://writ@db.internal/writ", true),
            ("ldaps://ldap.corp.example/", false),
            ("ldap://ldap.corp.example/", true),
            ("rediss://cache.internal:6380/", false),
            ("https://scim.example.com/v2", false),
        ] {
            assert_eq!(transport(url, tls), Transport::Verified, "{url}");
            assert_eq!(plaintext_warning("x", url, tls, None), None);
        }
    }

    #[test]
    fn certificate_failures_get_advice_and_other_errors_do_not() {
        let d = with_advice("invalid peer certificate: UnknownIssuer".into());
        assert!(d.contains("`ca_file`"), "{d}");
        assert_eq!(with_advice("connection refused".into()), "connection refused");
    }

    #[test]
    fn a_ca_file_must_hold_a_certificate() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("ca.pem");
        assert!(matches!(read_ca(&path), Err(CaFileError::Read { .. })));
        std::fs::write(&path, "not a certificate\n").unwrap();
        let e = read_ca(&path).unwrap_err().to_string();
        assert!(e.contains("no PEM certificate") && e.contains("ca.pem"), "{e}");
    }
}
