//! Servers the integration tests start on 127.0.0.1, stopped when dropped: `rustac serve` (a real
//! STAC API), the scripted STAC test server (`tests/peers/stac_test_server.py`) and
//! `python -m http.server`.

use std::ffi::OsStr;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

/// A server process, killed on drop, and its base URL (no trailing slash).
pub struct Server {
    pub child: Child,
    pub url: String,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

pub fn wait_for_port(port: u16) {
    for _ in 0..300 {
        if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
            return;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    panic!("server on port {port} did not come up");
}

/// `rustac serve` (next to the Python interpreter) with `hrefs` loaded.
pub fn rustac_serve(python: &Path, hrefs: &[PathBuf]) -> Server {
    let rustac = python.parent().unwrap().join("rustac");
    assert!(rustac.exists(), "rustac is not installed next to {} (pip install rustac)", python.display());
    let port = free_port();
    let child = Command::new(rustac)
        .args(["serve", "--addr", &format!("127.0.0.1:{port}"), "--create-collections"])
        // object_store (under rustac) refuses `..` in paths.
        .args(hrefs.iter().map(|h| h.canonicalize().unwrap()))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start rustac serve");
    let server = Server { child, url: format!("http://127.0.0.1:{port}") };
    wait_for_port(port);
    server
}

/// `tests/peers/stac_test_server.py ARGS…` (it prints `PORT n` once it listens).
pub fn stac_test_server<S: AsRef<OsStr>>(python: &Path, args: &[S]) -> Server {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/peers/stac_test_server.py");
    let mut child = Command::new(python)
        .arg(script)
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("start the test server");
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap()).read_line(&mut line).unwrap();
    let port: u16 = line.trim().strip_prefix("PORT ").expect("PORT line").parse().unwrap();
    Server { child, url: format!("http://127.0.0.1:{port}") }
}

/// `python -m http.server` serving `dir`.
pub fn http_server(python: &Path, dir: &Path) -> Server {
    let port = free_port();
    let child = Command::new(python)
        .args(["-m", "http.server", "--bind", "127.0.0.1", &port.to_string(), "--directory"])
        .arg(dir)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start python -m http.server");
    let server = Server { child, url: format!("http://127.0.0.1:{port}") };
    wait_for_port(port);
    server
}
