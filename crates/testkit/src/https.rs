//! A throwaway HTTPS receiver: the far end of webhooks and witness POSTs over
//! TLS. Python's `http.server` with its socket wrapped by `ssl` (OpenSSL): a
//! TLS stack independent of the rustls client under test.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use crate::process::{self, Launch, Supervised};
use crate::tls::{TestCa, TlsFiles};
use crate::TestkitError;

const STARTUP_TIMEOUT: Duration = Duration::from_secs(30);

/// Records every POST as one JSON line (`path`, `headers`, `body`) in the
/// file named by its 4th argument and answers `200`; every other method `405`.
const RECEIVER: &str = r#"import http.server, json, ssl, sys, threading

port, cert, key, out = int(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4]
lock = threading.Lock()

class Handler(http.server.BaseHTTPRequestHandler):
    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        record = {"path": self.path, "headers": {k.lower(): v for k, v in self.headers.items()},
                  "body": body.decode("utf-8", "replace")}
        with lock, open(out, "a") as f:
            f.write(json.dumps(record) + "\n")
        self.send_response(200)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def do_GET(self):
        self.send_response(405)
        self.send_header("Content-Length", "0")
        self.end_headers()

server = http.server.ThreadingHTTPServer(("127.0.0.1", port), Handler)
context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
context.load_cert_chain(cert, key)
server.socket = context.wrap_socket(server.socket, server_side=True)
print(f"Serving HTTPS on 127.0.0.1:{port}", flush=True)
server.serve_forever()
"#;

/// An HTTPS server on 127.0.0.1 and a free port with a certificate signed
/// by a [`TestCa`]; records the POSTs it receives ([`HttpsReceiver::received`]).
/// Stopped and its temp dir deleted on drop.
pub struct HttpsReceiver {
    proc: Supervised,
    ca: PathBuf,
    requests: PathBuf,
}

impl HttpsReceiver {
    /// Starts the receiver (`python3` from Debian's `python3`).
    pub fn start(ca: &TestCa) -> Result<HttpsReceiver, TestkitError> {
        let python = process::find_binary("python3", "python3", &["/usr/bin"])?;
        let dir = process::server_dir("writ-https-", None)?;
        let files: TlsFiles = ca.files().install(dir.path(), None)?;
        let script = dir.path().join("receiver.py");
        fs::write(&script, RECEIVER)?;
        let requests = dir.path().join("requests.jsonl");
        let mut receiver =
            HttpsReceiver { proc: Supervised::new(dir, "https-receiver", "TERM", STARTUP_TIMEOUT), ca: files.ca.clone(), requests: requests.clone() };
        let command = |port: u16| {
            let mut cmd = Command::new(&python);
            cmd.arg(&script)
                .arg(port.to_string())
                .arg(&files.cert)
                .arg(&files.key)
                .arg(&requests)
                .env("PYTHONUNBUFFERED", "1")
                .env("PYTHONDONTWRITEBYTECODE", "1");
            cmd
        };
        // The line comes from our process after it bound the port.
        let ready = |l: &Launch| l.log_since_start().contains(&format!("Serving HTTPS on 127.0.0.1:{}", l.port)) && process::tcp_accepts(l.port);
        receiver.proc.start_on_free_port(command, ready)?;
        Ok(receiver)
    }

    /// `https://127.0.0.1:PORT` (no trailing slash): append a path.
    pub fn base_url(&self) -> String {
        format!("https://127.0.0.1:{}", self.proc.port())
    }

    pub fn port(&self) -> u16 {
        self.proc.port()
    }

    /// The CA file clients trust (a copy in the receiver's dir).
    pub fn ca_file(&self) -> &Path {
        &self.ca
    }

    /// The POSTs received so far, oldest first, each a JSON object with
    /// `path`, `headers` (names in lower case) and `body` (text).
    pub fn received(&self) -> Vec<String> {
        fs::read_to_string(&self.requests).map(|t| t.lines().map(str::to_owned).collect()).unwrap_or_default()
    }

    /// Its log (Python's request log and errors: a failed handshake shows here).
    pub fn log_path(&self) -> &Path {
        self.proc.log()
    }
}
