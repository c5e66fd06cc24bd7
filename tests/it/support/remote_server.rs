//! A bazel-remote-compatible HTTP cache on 127.0.0.1 for tests: GET/HEAD/PUT
//! on /cas/ and /ac/, CAS uploads checked against their hash (as bazel-remote
//! does), entries that tests can corrupt or drop.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

use recipe::remote::RemoteCache;
use sha2::{Digest, Sha256};

pub type Store = Arc<Mutex<BTreeMap<String, Vec<u8>>>>;

pub struct Server {
    http: Arc<tiny_http::Server>,
    pub store: Store,
    pub fail_puts: Arc<Mutex<bool>>,
    /// Paths of every GET, in order.
    pub gets: Arc<Mutex<Vec<String>>>,
    thread: Option<JoinHandle<()>>,
    pub port: u16,
}

pub fn sha(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

fn valid_path(path: &str) -> bool {
    let Some((kind, hash)) = path.trim_start_matches('/').split_once('/') else {
        return false;
    };
    matches!(kind, "ac" | "cas") && recipe::remote::is_key(hash)
}

impl Server {
    pub fn start() -> Server {
        let http = Arc::new(tiny_http::Server::http("127.0.0.1:0").expect("bind"));
        let port = http.server_addr().to_ip().expect("ip").port();
        let store: Store = Arc::default();
        let fail_puts = Arc::new(Mutex::new(false));
        let gets: Arc<Mutex<Vec<String>>> = Arc::default();
        let (h, s, f, g) = (http.clone(), store.clone(), fail_puts.clone(), gets.clone());
        let thread = std::thread::spawn(move || {
            for mut req in h.incoming_requests() {
                let path = req.url().to_string();
                if *req.method() == tiny_http::Method::Get {
                    g.lock().expect("lock").push(path.clone());
                }
                let response = if !valid_path(&path) {
                    tiny_http::Response::from_data(b"bad path".to_vec()).with_status_code(400)
                } else {
                    match req.method() {
                        tiny_http::Method::Put => {
                            let mut body = Vec::new();
                            let _ = req.as_reader().read_to_end(&mut body);
                            if *f.lock().expect("lock") {
                                tiny_http::Response::from_data(b"no".to_vec()).with_status_code(500)
                            } else if path.starts_with("/cas/") && path[5..] != sha(&body) {
                                tiny_http::Response::from_data(b"hash mismatch".to_vec()).with_status_code(400)
                            } else {
                                s.lock().expect("lock").insert(path, body);
                                tiny_http::Response::from_data(Vec::new()).with_status_code(200)
                            }
                        }
                        tiny_http::Method::Get | tiny_http::Method::Head => match s.lock().expect("lock").get(&path) {
                            Some(b) => tiny_http::Response::from_data(b.clone()).with_status_code(200),
                            None => tiny_http::Response::from_data(Vec::new()).with_status_code(404),
                        },
                        _ => tiny_http::Response::from_data(Vec::new()).with_status_code(405),
                    }
                };
                let _ = req.respond(response);
            }
        });
        Server {
            http,
            store,
            fail_puts,
            gets,
            thread: Some(thread),
            port,
        }
    }

    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    pub fn cache(&self) -> RemoteCache {
        RemoteCache::new(&self.url(), Duration::from_secs(5)).expect("client")
    }

    pub fn paths(&self, kind: &str) -> Vec<String> {
        let prefix = format!("/{kind}/");
        let store = self.store.lock().expect("lock");
        store.keys().filter(|k| k.starts_with(&prefix)).cloned().collect()
    }

    pub fn put(&self, path: &str, body: Vec<u8>) {
        self.store.lock().expect("lock").insert(path.into(), body);
    }

    pub fn flip_byte_in_every_blob(&self) {
        for (k, v) in self.store.lock().expect("lock").iter_mut() {
            if k.starts_with("/cas/") {
                let mid = v.len() / 2;
                v[mid] ^= 0xff;
            }
        }
    }

    pub fn remove(&self, path: &str) {
        self.store.lock().expect("lock").remove(path);
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.http.unblock();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}
