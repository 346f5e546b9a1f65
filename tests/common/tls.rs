//! TLS test support: a test CA made with the `openssl` command at test
//! time (no key material is checked in), curl and `openssl s_client`
//! against a gateway's TLS listener.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use super::{Gateway, temp_path};

/// A test CA in a temp directory, issuing leaf certificates with `openssl ca`.
pub struct Pki {
    pub dir: PathBuf,
}

impl Drop for Pki {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn openssl(dir: &Path, args: &[&str]) {
    let out = Command::new("openssl")
        .args(args)
        .current_dir(dir)
        .output()
        .expect("openssl");
    assert!(
        out.status.success(),
        "openssl {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

impl Pki {
    pub fn new() -> Pki {
        let dir = temp_path("pki");
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("index.txt"), "").unwrap();
        std::fs::write(dir.join("serial"), "01\n").unwrap();
        std::fs::write(
            dir.join("ca.cnf"),
            "[ca]\ndefault_ca=d\n[d]\ndir=.\ndatabase=index.txt\nnew_certs_dir=.\nserial=serial\n\
             default_md=sha256\npolicy=p\ncopy_extensions=copy\nunique_subject=no\n[p]\ncommonName=supplied\n",
        )
        .unwrap();
        openssl(
            &dir,
            &[
                "req",
                "-x509",
                "-newkey",
                "ec",
                "-pkeyopt",
                "ec_paramgen_curve:P-256",
                "-nodes",
                "-keyout",
                "ca.key",
                "-out",
                "ca.pem",
                "-days",
                "3",
                "-subj",
                "/CN=tollgate test CA",
            ],
        );
        Pki { dir }
    }

    pub fn path(&self, f: &str) -> String {
        self.dir.join(f).display().to_string()
    }

    /// A leaf for `names` (DNS SANs; the first is the CN), valid now unless
    /// `expired`. Files `NAME.pem` and `NAME.key`.
    pub fn leaf(&self, file: &str, names: &[&str], expired: bool) -> (String, String) {
        let san = names
            .iter()
            .map(|n| format!("DNS:{n}"))
            .collect::<Vec<_>>()
            .join(",");
        let (key, csr, pem) = (
            format!("{file}.key"),
            format!("{file}.csr"),
            format!("{file}.pem"),
        );
        openssl(
            &self.dir,
            &[
                "req",
                "-new",
                "-newkey",
                "ec",
                "-pkeyopt",
                "ec_paramgen_curve:P-256",
                "-nodes",
                "-keyout",
                &key,
                "-out",
                &csr,
                "-subj",
                &format!("/CN={}", names[0]),
                "-addext",
                &format!("subjectAltName={san}"),
            ],
        );
        let mut args = vec![
            "ca", "-batch", "-notext", "-config", "ca.cnf", "-cert", "ca.pem", "-keyfile",
            "ca.key", "-in", &csr, "-out", &pem,
        ];
        if expired {
            args.extend([
                "-startdate",
                "20200101000000Z",
                "-enddate",
                "20200102000000Z",
            ]);
        } else {
            args.extend(["-days", "2"]);
        }
        openssl(&self.dir, &args);
        (self.path(&pem), self.path(&key))
    }
}

/// curl against the gateway's TLS listener, resolving `name` to it and
/// trusting the test CA. Returns (status, http version, body).
pub fn curl(
    pki: &Pki,
    gw: &Gateway,
    name: &str,
    path: &str,
    extra: &[&str],
) -> (u16, String, String) {
    let addr = gw.addr();
    let out = Command::new("curl")
        .args(["-sS", "--max-time", "10", "--cacert", &pki.path("ca.pem")])
        .args([
            "--resolve",
            &format!("{name}:{}:127.0.0.1", addr.port()),
            "-w",
            "\n%{http_code} %{http_version}",
        ])
        .args(extra)
        .arg(format!("https://{name}:{}{path}", addr.port()))
        .output()
        .expect("curl");
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    let (body, tail) = text.rsplit_once('\n').unwrap_or(("", &text));
    let mut t = tail.split_whitespace();
    let status = t.next().and_then(|s| s.parse().ok()).unwrap_or(0);
    let version = t.next().unwrap_or("").to_string();
    assert!(
        status != 0,
        "curl failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    (status, version, body.to_string())
}

/// `openssl s_client` output for a handshake with these arguments.
pub fn s_client(addr: std::net::SocketAddr, args: &[&str]) -> String {
    let out = Command::new("openssl")
        .arg("s_client")
        .arg("-connect")
        .arg(addr.to_string())
        .args(args)
        .stdin(Stdio::null())
        .output()
        .expect("openssl s_client");
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}
