//! A scripted HTTP/1.1 server on 127.0.0.1 for fetch tests.
//!
//! Written on a plain `TcpListener` rather than tiny_http because the tests
//! need misbehaviour a well-behaved server library cannot produce: resets,
//! bodies shorter than their Content-Length, stalls mid-response.

use std::collections::{HashMap, VecDeque};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use sha2::{Digest, Sha256};

#[derive(Debug, Clone)]
pub enum Reply {
    /// 200 with this body.
    Body(Vec<u8>),
    /// 200 with a content type (index pages).
    Typed(&'static str, Vec<u8>),
    /// 200 streaming a local file (benchmarks).
    #[allow(dead_code)] // only benches/fetch.rs streams a file
    File(PathBuf),
    /// An empty response with this status.
    Status(u16),
    /// 302 to this location (absolute path or URL).
    Redirect(String),
    /// 200 announcing `claimed` bytes, sending `body`, then closing.
    Truncated { body: Vec<u8>, claimed: usize },
    /// Close without reading the request: the kernel answers with RST.
    Reset,
    /// Read the request, then send nothing for this long, then close.
    Stall(Duration),
    /// 200 announcing the whole body, sending its first `after` bytes, then
    /// resetting the connection (RST, not a clean close).
    ResetMidBody { body: Vec<u8>, after: usize },
    /// 200 announcing the whole body, sending its first `after` bytes, then
    /// nothing for `hold`, then closing.
    StallMidBody {
        body: Vec<u8>,
        after: usize,
        hold: Duration,
    },
    /// 200 announcing the whole body, then one byte every `every` (slow loris).
    Drip { body: Vec<u8>, every: Duration },
    /// 200 with a chunked body that never ends (until the client goes away).
    Endless,
    /// An empty response with this status and `Retry-After: <value>`.
    RetryAfter(u16, String),
}

type Script = Arc<Mutex<HashMap<String, VecDeque<Reply>>>>;

pub struct Server {
    pub addr: String,
    script: Script,
    log: Arc<Mutex<Vec<String>>>,
    stop: Arc<AtomicBool>,
}

impl Server {
    pub fn start() -> Server {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1");
        let addr = format!("http://{}", listener.local_addr().expect("local addr"));
        let script: Script = Arc::default();
        let log: Arc<Mutex<Vec<String>>> = Arc::default();
        let stop = Arc::new(AtomicBool::new(false));
        let (s, l, st) = (script.clone(), log.clone(), stop.clone());
        std::thread::spawn(move || {
            for conn in listener.incoming() {
                if st.load(Ordering::Relaxed) {
                    break;
                }
                let Ok(conn) = conn else { continue };
                let (s, l) = (s.clone(), l.clone());
                std::thread::spawn(move || serve(conn, &s, &l));
            }
        });
        Server {
            addr,
            script,
            log,
            stop,
        }
    }

    /// Replies for `path`, used in order; the last one repeats.
    pub fn route(&self, path: &str, replies: Vec<Reply>) -> &Self {
        self.script
            .lock()
            .expect("script lock")
            .insert(path.to_string(), replies.into());
        self
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.addr)
    }

    /// Paths requested so far, in order.
    pub fn requests(&self) -> Vec<String> {
        self.log.lock().expect("log lock").clone()
    }

    pub fn hits(&self, path: &str) -> usize {
        self.requests().iter().filter(|p| *p == path).count()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        // Wake the accept loop so it sees the flag.
        let _ = TcpStream::connect(self.addr.trim_start_matches("http://"));
    }
}

fn next_reply(script: &Script, path: &str) -> Reply {
    let mut map = script.lock().expect("script lock");
    match map.get_mut(path) {
        Some(q) if q.len() > 1 => q.pop_front().unwrap_or(Reply::Status(404)),
        Some(q) => q.front().cloned().unwrap_or(Reply::Status(404)),
        None => Reply::Status(404),
    }
}

fn serve(conn: TcpStream, script: &Script, log: &Mutex<Vec<String>>) {
    // A reset must happen before the request is read: peek at the path only.
    let mut peek = [0u8; 2048];
    let mut n;
    loop {
        n = conn.peek(&mut peek).unwrap_or(0);
        if n == 0 || n == peek.len() || peek[..n].windows(2).any(|w| w == b"\r\n") {
            break;
        }
        std::thread::sleep(Duration::from_millis(1));
    }
    let head = String::from_utf8_lossy(&peek[..n]);
    let path = head.split_whitespace().nth(1).unwrap_or("/").to_string();
    if n == 0 {
        return;
    }
    log.lock().expect("log lock").push(path.clone());
    let reply = next_reply(script, &path);
    if let Reply::Reset = reply {
        // Unread data in the receive buffer turns close() into an RST.
        drop(conn);
        return;
    }
    let mut reader = BufReader::new(conn.try_clone().expect("clone stream"));
    let mut line = String::new();
    while reader.read_line(&mut line).map(|n| n > 0).unwrap_or(false) {
        if line == "\r\n" || line == "\n" {
            break;
        }
        line.clear();
    }
    let mut out = conn;
    let head = |status: &str, extra: &str, len: usize| {
        format!("HTTP/1.1 {status}\r\nContent-Length: {len}\r\nConnection: close\r\n{extra}\r\n")
    };
    let _ = match reply {
        Reply::Body(b) => out
            .write_all(head("200 OK", "", b.len()).as_bytes())
            .and_then(|_| out.write_all(&b)),
        Reply::Typed(t, b) => out
            .write_all(head("200 OK", &format!("Content-Type: {t}\r\n"), b.len()).as_bytes())
            .and_then(|_| out.write_all(&b)),
        Reply::File(p) => match std::fs::File::open(&p) {
            Ok(mut f) => {
                let len = f.metadata().map(|m| m.len()).unwrap_or(0) as usize;
                out.write_all(head("200 OK", "", len).as_bytes())
                    .and_then(|_| std::io::copy(&mut f, &mut out).map(|_| ()))
            }
            Err(_) => out.write_all(head("404 Not Found", "", 0).as_bytes()),
        },
        Reply::Status(code) => out.write_all(head(&format!("{code} Scripted"), "", 0).as_bytes()),
        Reply::Redirect(loc) => out.write_all(head("302 Found", &format!("Location: {loc}\r\n"), 0).as_bytes()),
        Reply::Truncated { body, claimed } => out
            .write_all(head("200 OK", "", claimed).as_bytes())
            .and_then(|_| out.write_all(&body)),
        Reply::Stall(d) => {
            std::thread::sleep(d);
            Ok(())
        }
        Reply::ResetMidBody { body, after } => {
            let _ = out
                .write_all(head("200 OK", "", body.len()).as_bytes())
                .and_then(|_| out.write_all(&body[..after.min(body.len())]))
                .and_then(|_| out.flush());
            // Linger 0: closing sends RST at once, as a crashed peer or a
            // middlebox would, instead of an orderly FIN.
            let _ = socket2::SockRef::from(&out).set_linger(Some(Duration::ZERO));
            drop(reader);
            return;
        }
        Reply::StallMidBody { body, after, hold } => out
            .write_all(head("200 OK", "", body.len()).as_bytes())
            .and_then(|_| out.write_all(&body[..after.min(body.len())]))
            .and_then(|_| out.flush())
            .map(|_| std::thread::sleep(hold)),
        Reply::Drip { body, every } => drip(&mut out, &head("200 OK", "", body.len()), &body, every),
        Reply::Endless => endless(&mut out),
        Reply::RetryAfter(code, value) => {
            out.write_all(head(&format!("{code} Scripted"), &format!("Retry-After: {value}\r\n"), 0).as_bytes())
        }
        Reply::Reset => Ok(()),
    };
    let _ = out.flush();
    let _ = out.shutdown(std::net::Shutdown::Both);
    let mut rest = Vec::new();
    let _ = reader.read_to_end(&mut rest);
}

/// One byte per `every` until the body is sent or the client is gone.
fn drip(out: &mut TcpStream, head: &str, body: &[u8], every: Duration) -> std::io::Result<()> {
    out.write_all(head.as_bytes())?;
    for b in body {
        out.write_all(std::slice::from_ref(b))?;
        out.flush()?;
        std::thread::sleep(every);
    }
    Ok(())
}

/// 64 KiB chunks of a chunked body, forever: a write fails once the client
/// has closed the connection, which ends the loop.
fn endless(out: &mut TcpStream) -> std::io::Result<()> {
    out.write_all(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n")?;
    let chunk = payload(64 * 1024, 99);
    loop {
        out.write_all(format!("{:x}\r\n", chunk.len()).as_bytes())?;
        out.write_all(&chunk)?;
        out.write_all(b"\r\n")?;
    }
}

/// Total size of the files in `dir` (0 when it does not exist).
pub fn dir_bytes(dir: &Path) -> u64 {
    std::fs::read_dir(dir)
        .map(|rd| rd.flatten().filter_map(|e| e.metadata().ok()).map(|m| m.len()).sum())
        .unwrap_or(0)
}

pub fn sha256_hex(data: &[u8]) -> String {
    hex::encode(Sha256::digest(data))
}

/// Deterministic pseudo-random content, so hashes differ between sizes.
pub fn payload(len: usize, seed: u8) -> Vec<u8> {
    let mut x: u32 = 0x9e37_79b9 ^ u32::from(seed);
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            x as u8
        })
        .collect()
}

/// Every file under `downloads/` is verified: nothing in `tmp/`, and each
/// file under `sha256/<hex>/` hashes to `<hex>`. Returns how many there are.
pub fn assert_cache_clean(cache: &Path) -> usize {
    let downloads = cache.join("downloads");
    let tmp = downloads.join("tmp");
    if tmp.exists() {
        let left: Vec<_> = std::fs::read_dir(&tmp)
            .expect("read tmp")
            .flatten()
            .map(|e| e.path())
            .collect();
        assert!(left.is_empty(), "temporary files left behind: {left:?}");
    }
    let mut count = 0;
    let Ok(dirs) = std::fs::read_dir(downloads.join("sha256")) else {
        return 0;
    };
    for dir in dirs.flatten() {
        let hex = dir.file_name().to_string_lossy().into_owned();
        for f in std::fs::read_dir(dir.path()).expect("read hash dir").flatten() {
            let data = std::fs::read(f.path()).expect("read cached file");
            assert_eq!(
                sha256_hex(&data),
                hex,
                "unverified file in cache: {}",
                f.path().display()
            );
            count += 1;
        }
    }
    count
}

/// A `.tar.gz` of `files` (path, content), with fixed modes and times.
pub fn tar_gz(files: &[(&str, &[u8])]) -> Vec<u8> {
    let mut b = tar::Builder::new(Vec::new());
    for (name, data) in files {
        let mut h = tar::Header::new_gnu();
        h.set_path(name).expect("path");
        h.set_size(data.len() as u64);
        h.set_mode(0o644);
        h.set_mtime(1_600_000_000);
        h.set_cksum();
        b.append(&h, *data).expect("append");
    }
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    e.write_all(&b.into_inner().expect("tar")).expect("gzip");
    e.finish().expect("gzip")
}
