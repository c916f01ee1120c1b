//! Test harness: start the real `quiver` binary on 127.0.0.1 with OS-chosen ports, learn the ports
//! from its `listening rest=... grpc=...` line, and always kill it when the handle drops.

#![allow(dead_code, clippy::unwrap_used)]

pub mod cluster;
pub mod history;
pub mod partition;

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

/// A running server process.
pub struct Server {
    child: Option<Child>,
    pub rest: SocketAddr,
    pub grpc: SocketAddr,
    /// The internal (node to node) address, in cluster mode.
    pub p2p: Option<SocketAddr>,
    pub storage: PathBuf,
    log: std::sync::Arc<std::sync::Mutex<Vec<String>>>,
}

impl Server {
    /// Starts `quiver` on `storage` (created if missing) and waits until it listens.
    pub fn start(storage: &Path) -> Server {
        Self::start_with(storage, &[])
    }

    pub fn start_with(storage: &Path, env: &[(&str, &str)]) -> Server {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_quiver"));
        cmd.env("QUIVER__STORAGE__PATH", storage)
            .env("QUIVER__SERVICE__HOST", "127.0.0.1")
            .env("QUIVER__SERVICE__HTTP_PORT", "0")
            .env("QUIVER__SERVICE__GRPC_PORT", "0")
            .env("QUIVER_LOG", "warn")
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        for (k, v) in env {
            cmd.env(k, v);
        }
        let mut child = cmd.spawn().expect("spawn quiver");
        let stderr = child.stderr.take().expect("stderr");
        let (tx, rx) = mpsc::channel();
        let log = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let log2 = log.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if let Some(rest) = line.strip_prefix("listening ") {
                    let _ = tx.send(rest.to_string());
                }
                log2.lock().unwrap().push(line);
            }
        });
        let line = match rx.recv_timeout(Duration::from_secs(60)) {
            Ok(l) => l,
            Err(_) => {
                let _ = child.kill();
                panic!("quiver did not start; log:\n{}", log.lock().unwrap().join("\n"));
            }
        };
        let mut rest = None;
        let mut grpc = None;
        let mut p2p = None;
        for part in line.split_whitespace() {
            if let Some(a) = part.strip_prefix("p2p=") {
                p2p = a.parse().ok();
            }
            if let Some(a) = part.strip_prefix("rest=") {
                rest = a.parse().ok();
            }
            if let Some(a) = part.strip_prefix("grpc=") {
                grpc = a.parse().ok();
            }
        }
        Server {
            child: Some(child),
            rest: rest.expect("rest addr"),
            grpc: grpc.expect("grpc addr"),
            p2p,
            storage: storage.to_path_buf(),
            log,
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{}", self.rest, path)
    }

    /// The internal address as a URI (`--bootstrap` of another node), in cluster mode.
    pub fn p2p_uri(&self) -> String {
        format!("http://{}", self.p2p.expect("started in cluster mode"))
    }

    pub fn grpc_url(&self) -> String {
        format!("http://{}", self.grpc)
    }

    /// Sends `signal` (`STOP`, `CONT`) to the process: a stopped node neither answers nor
    /// learns anything until continued, like one cut off by a long pause.
    pub fn signal(&self, signal: &str) {
        if let Some(c) = &self.child {
            let _ = Command::new("kill")
                .arg(format!("-{signal}"))
                .arg(c.id().to_string())
                .status();
        }
    }

    /// SIGKILL: no shutdown code runs.
    pub fn kill9(mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// SIGTERM and wait for a clean exit; returns whether it exited successfully.
    pub fn stop(mut self) -> bool {
        let Some(mut c) = self.child.take() else {
            return false;
        };
        let _ = Command::new("kill").arg("-TERM").arg(c.id().to_string()).status();
        for _ in 0..200 {
            if let Ok(Some(status)) = c.try_wait() {
                if !status.success() {
                    eprintln!("stopped with {status}; its log:\n{}", self.log());
                }
                return status.success();
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = c.kill();
        let _ = c.wait();
        eprintln!("did not stop within 10 s of SIGTERM; its log:\n{}", self.log());
        false
    }

    pub fn log(&self) -> String {
        self.log.lock().unwrap().join("\n")
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

/// A small REST client returning (status, JSON body).
#[derive(Clone)]
pub struct Rest {
    client: reqwest::Client,
    base: String,
}

impl Rest {
    pub fn new(server: &Server) -> Rest {
        Rest {
            client: reqwest::Client::new(),
            base: server.url(""),
        }
    }

    /// A client whose every request gives up after `timeout` (a cut-off node may never answer).
    pub fn with_timeout(server: &Server, timeout: Duration) -> Rest {
        Rest {
            client: reqwest::Client::builder().timeout(timeout).build().unwrap(),
            base: server.url(""),
        }
    }

    pub async fn call(
        &self,
        method: &str,
        path: &str,
        body: Option<serde_json::Value>,
    ) -> (u16, serde_json::Value) {
        match self.try_call(method, path, body).await {
            Some(r) => r,
            None => panic!("{method} {path}: the server did not answer"),
        }
    }

    /// Like `call`, but `None` when the connection fails (the server is down).
    pub async fn try_call(
        &self,
        method: &str,
        path: &str,
        body: Option<serde_json::Value>,
    ) -> Option<(u16, serde_json::Value)> {
        let url = format!("{}{}", self.base, path);
        let m = reqwest::Method::from_bytes(method.as_bytes()).unwrap();
        let mut req = self.client.request(m, &url);
        if let Some(b) = body {
            req = req.header("content-type", "application/json").body(b.to_string());
        }
        let resp = req.send().await.ok()?;
        let status = resp.status().as_u16();
        let text = resp.text().await.ok()?;
        let json = serde_json::from_str(&text).unwrap_or(serde_json::Value::String(text));
        Some((status, json))
    }

    /// Asserts 200 and returns `result`.
    pub async fn ok(&self, method: &str, path: &str, body: Option<serde_json::Value>) -> serde_json::Value {
        let (status, json) = self.call(method, path, body).await;
        assert_eq!(status, 200, "{method} {path}: {json}");
        json["result"].clone()
    }
}
