//! A test certificate authority, made at run time, and the files a server
//! needs to speak TLS with a certificate it signed.
//!
//! Nothing is checked in: every [`TestCa`] has a fresh key, so a test that
//! uses two of them has a "wrong CA" for free (a client trusting one must
//! refuse a server whose certificate the other signed).

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use rcgen::{BasicConstraints, CertificateParams, CertifiedIssuer, DnType, ExtendedKeyUsagePurpose, IsCa, KeyPair, KeyUsagePurpose};
use tempfile::TempDir;

use crate::process;
use crate::TestkitError;

/// The names every server certificate of a [`TestCa`] is valid for.
pub const SERVER_NAMES: [&str; 3] = ["127.0.0.1", "::1", "localhost"];

/// A CA (self-signed, fresh key) and one server certificate it signed for
/// [`SERVER_NAMES`], as PEM files in a temp dir (deleted on drop):
/// `ca.pem`, `server.pem` (the server's certificate, then the CA's) and
/// `server.key` (PKCS#8, mode 0600).
///
/// Servers copy the files they need into their own dir when they start (see
/// [`TlsFiles::install`]), so a server may outlive the `TestCa`.
pub struct TestCa {
    files: TlsFiles,
    _dir: TempDir,
}

/// Where a server's TLS files are.
#[derive(Debug, Clone)]
pub struct TlsFiles {
    /// The CA's certificate (what clients trust).
    pub ca: PathBuf,
    /// The server's certificate chain.
    pub cert: PathBuf,
    /// The server's private key.
    pub key: PathBuf,
}

impl TestCa {
    /// A new CA named `Writ test CA <name>` and its server certificate.
    pub fn new(name: &str) -> Result<TestCa, TestkitError> {
        let fail = |what: &str, e: rcgen::Error| TestkitError::Command { what: format!("making the test CA `{name}`: {what}"), output: e.to_string() };
        let mut ca_params = CertificateParams::new(Vec::<String>::new()).map_err(|e| fail("CA parameters", e))?;
        ca_params.distinguished_name.push(DnType::CommonName, format!("Writ test CA {name}"));
        ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        ca_params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign, KeyUsagePurpose::DigitalSignature];
        let ca_key = KeyPair::generate().map_err(|e| fail("CA key", e))?;
        let ca = CertifiedIssuer::self_signed(ca_params, ca_key).map_err(|e| fail("CA certificate", e))?;

        let names: Vec<String> = SERVER_NAMES.iter().map(|s| s.to_string()).collect();
        let mut params = CertificateParams::new(names).map_err(|e| fail("server parameters", e))?;
        params.distinguished_name.push(DnType::CommonName, "localhost");
        params.key_usages = vec![KeyUsagePurpose::DigitalSignature, KeyUsagePurpose::KeyEncipherment];
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
        let key = KeyPair::generate().map_err(|e| fail("server key", e))?;
        let cert = params.signed_by(&key, &ca).map_err(|e| fail("server certificate", e))?;

        let dir = process::server_dir("writ-ca-", None)?;
        let files = TlsFiles { ca: dir.path().join("ca.pem"), cert: dir.path().join("server.pem"), key: dir.path().join("server.key") };
        fs::write(&files.ca, ca.pem())?;
        fs::write(&files.cert, format!("{}{}", cert.pem(), ca.pem()))?;
        write_key(&files.key, &key.serialize_pem())?;
        Ok(TestCa { files, _dir: dir })
    }

    /// `ca.pem`: the file a client is given as its CA.
    pub fn ca_file(&self) -> &Path {
        &self.files.ca
    }

    pub fn files(&self) -> &TlsFiles {
        &self.files
    }
}

impl TlsFiles {
    /// Copies the three files into `dir/tls/` (owned by `owner` if given: a
    /// server that drops root reads its key as itself, and PostgreSQL refuses
    /// a key others can read), and returns where they are now.
    pub fn install(&self, dir: &Path, owner: Option<(u32, u32)>) -> Result<TlsFiles, TestkitError> {
        let tls = dir.join("tls");
        fs::create_dir_all(&tls)?;
        process::chown_to(&tls, owner)?;
        let copy = TlsFiles { ca: tls.join("ca.pem"), cert: tls.join("server.pem"), key: tls.join("server.key") };
        fs::copy(&self.ca, &copy.ca)?;
        fs::copy(&self.cert, &copy.cert)?;
        write_key(&copy.key, &fs::read_to_string(&self.key)?)?;
        for f in [&copy.ca, &copy.cert, &copy.key] {
            process::chown_to(f, owner)?;
        }
        Ok(copy)
    }
}

fn write_key(path: &Path, pem: &str) -> Result<(), TestkitError> {
    fs::write(path, pem)?;
    fs::set_permissions(path, fs::Permissions::from_mode(0o600))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn two_test_cas_have_different_keys_and_the_key_is_private() {
        let a = TestCa::new("a").unwrap();
        let b = TestCa::new("b").unwrap();
        let pem = |p: &Path| fs::read_to_string(p).unwrap();
        assert!(pem(a.ca_file()).starts_with("-----BEGIN CERTIFICATE-----"));
        assert_ne!(pem(a.ca_file()), pem(b.ca_file()));
        // The chain ends with the CA, so a server sending it is complete.
        assert!(pem(&a.files().cert).ends_with(&pem(a.ca_file())));
        assert_eq!(fs::metadata(&a.files().key).unwrap().permissions().mode() & 0o777, 0o600);
    }
}
