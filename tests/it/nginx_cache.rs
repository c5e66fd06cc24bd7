//! A real HTTP server as the shared cache (issue 15): Debian's nginx with
//! WebDAV `PUT` serving /ac/ and /cas/ from a directory, started by the test
//! on a loopback port with its own prefix and configuration. A second,
//! empty build tree gets every output from it; a blob corrupted on the
//! server's disk is detected and its package rebuilt.
//!
//! Skipped, saying so, when nginx is not installed (.ci/run installs it).

use std::net::{TcpListener, TcpStream};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use crate::support::project::Project;

fn nginx_binary() -> Option<PathBuf> {
    ["/usr/sbin/nginx", "/usr/bin/nginx", "/usr/local/sbin/nginx"]
        .iter()
        .map(PathBuf::from)
        .find(|p| p.is_file())
}

struct Nginx {
    child: Child,
    port: u16,
    data: PathBuf,
    _prefix: tempfile::TempDir,
}

impl Nginx {
    fn start(bin: &Path) -> Nginx {
        let prefix = tempfile::tempdir().expect("tempdir");
        let p = prefix.path();
        // Workers of a root master run as `nobody`: everything they touch is open to them.
        std::fs::set_permissions(p, std::fs::Permissions::from_mode(0o755)).expect("chmod");
        let data = p.join("data");
        for d in ["data", "data/ac", "data/cas", "tmp", "logs"] {
            std::fs::create_dir_all(p.join(d)).expect("mkdir");
            std::fs::set_permissions(p.join(d), std::fs::Permissions::from_mode(0o777)).expect("chmod");
        }
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("free port")
            .port();
        let tmp = p.join("tmp");
        let t = tmp.display();
        let location = "dav_methods PUT; create_full_put_path on; dav_access user:rw group:rw all:r;";
        let conf = format!(
            "daemon off;\nmaster_process off;\npid {pid};\nerror_log {log} info;\nevents {{ worker_connections 64; }}\nhttp {{\n    access_log off;\n    client_max_body_size 0;\n    client_body_temp_path {t}/body;\n    proxy_temp_path {t}/proxy;\n    fastcgi_temp_path {t}/fastcgi;\n    uwsgi_temp_path {t}/uwsgi;\n    scgi_temp_path {t}/scgi;\n    server {{\n        listen 127.0.0.1:{port};\n        root {root};\n        location /ac/ {{ {location} }}\n        location /cas/ {{ {location} }}\n    }}\n}}\n",
            pid = p.join("nginx.pid").display(),
            log = p.join("logs/error.log").display(),
            root = data.display(),
        );
        let conf_path = p.join("nginx.conf");
        std::fs::write(&conf_path, conf).expect("write nginx.conf");
        let child = Command::new(bin)
            .args(["-p", &p.display().to_string(), "-c", &conf_path.display().to_string()])
            .args(["-e", &p.join("logs/error.log").display().to_string()])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start nginx");
        let deadline = Instant::now() + Duration::from_secs(10);
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(
                Instant::now() < deadline,
                "nginx did not listen: {}",
                std::fs::read_to_string(p.join("logs/error.log")).unwrap_or_default()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        Nginx {
            child,
            port,
            data,
            _prefix: prefix,
        }
    }

    fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }
}

impl Drop for Nginx {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A chain base → mid → top of host packages that log their builds and
/// stage 100 kB each (enough to stream, not only a header).
fn project() -> Project {
    let p = Project::host();
    for (name, deps) in [("base", &[][..]), ("mid", &["base"][..]), ("top", &["mid"][..])] {
        let data = format!("mkdir -p $DESTDIR/usr/share && seq 1 20000 > $DESTDIR/usr/share/{name}.data");
        p.script(name, deps, &[&p.log_step(&format!("built {name}")), &data]);
    }
    p
}

fn built(p: &Path) -> Vec<String> {
    std::fs::read_to_string(p.join("events"))
        .unwrap_or_default()
        .lines()
        .map(str::to_string)
        .collect()
}

/// `recipe build --all --target host` in tree `tree` with its own download
/// cache, sharing only the remote cache `url`.
fn build(p: &Path, tree: &str, url: &str) -> (Output, serde_json::Value) {
    let report = p.join(format!("report-{tree}"));
    let out = Command::new(env!("CARGO_BIN_EXE_recipe"))
        .current_dir(p)
        .env("RECIPE_CACHE", p.join(format!("cache-{tree}")))
        .env("RECIPE_CONFIG", p.join("no-config.kdl"))
        .env("NO_COLOR", "1")
        .env_remove("RECIPE_REMOTE_CACHE")
        .env_remove("RECIPE_REMOTE_CACHE_SECRET")
        .args([
            "--no-sandbox",
            "build",
            "--all",
            "--target",
            "host",
            "--build-dir",
            tree,
        ])
        .args(["--remote-cache", url, "--report", &report.display().to_string()])
        .output()
        .expect("run recipe");
    let json = std::fs::read(report.join("report.json"))
        .ok()
        .and_then(|b| serde_json::from_slice(&b).ok())
        .unwrap_or_default();
    (out, json)
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn status_of<'a>(report: &'a serde_json::Value, name: &str) -> &'a serde_json::Value {
    report["packages"]
        .as_array()
        .and_then(|ps| ps.iter().find(|p| p["name"] == name))
        .unwrap_or(&serde_json::Value::Null)
}

#[test]
fn nginx_webdav_is_a_remote_cache() {
    let Some(bin) = nginx_binary() else {
        eprintln!(
            "SKIPPED nginx_webdav_is_a_remote_cache: nginx is not installed (apt-get install nginx; .ci/run does)"
        );
        return;
    };
    let nginx = Nginx::start(&bin);
    let dir = project();
    let p = dir.path();

    let (a, report_a) = build(p, "A", &nginx.url());
    assert!(a.status.success(), "{}", stderr(&a));
    assert_eq!(built(p), ["built base", "built mid", "built top"]);
    let on_disk = |kind: &str| std::fs::read_dir(nginx.data.join(kind)).map_or(0, |d| d.count());
    assert_eq!(on_disk("ac"), 3, "one entry per package on the server's disk");
    assert_eq!(on_disk("cas"), 3);

    // A second, empty build tree: every output from nginx.
    let (b, report_b) = build(p, "B", &nginx.url());
    assert!(b.status.success(), "{}", stderr(&b));
    assert_eq!(built(p).len(), 3, "nothing built: {}", stderr(&b));
    for name in ["base", "mid", "top"] {
        let entry = status_of(&report_b, name);
        assert_eq!(entry["status"], "cached", "{entry}");
        assert!(entry["reasons"].to_string().contains("remote hit"), "{entry}");
        assert_eq!(entry["digest"], status_of(&report_a, name)["digest"]);
    }

    // Corrupt top's blob on the server's disk.
    let key = status_of(&report_a, "top")["key"].as_str().expect("key").to_string();
    let entry: serde_json::Value =
        serde_json::from_slice(&std::fs::read(nginx.data.join("ac").join(&key)).expect("entry on disk")).expect("json");
    let blob = nginx
        .data
        .join("cas")
        .join(entry["tar_sha256"].as_str().expect("tar_sha256"));
    let mut bytes = std::fs::read(&blob).expect("blob on disk");
    let middle = bytes.len() / 2;
    bytes[middle] ^= 0x55;
    std::fs::write(&blob, bytes).expect("corrupt blob");

    let (c, report_c) = build(p, "C", &nginx.url());
    let err = stderr(&c);
    assert!(c.status.success(), "{err}");
    assert_eq!(built(p).last().map(String::as_str), Some("built top"), "{err}");
    assert_eq!(built(p).len(), 4, "only top rebuilt: {err}");
    assert!(err.contains("remote corrupt"), "{err}");
    assert_eq!(status_of(&report_c, "top")["status"], "built");
    assert_eq!(status_of(&report_c, "mid")["status"], "cached");
    assert_eq!(
        status_of(&report_c, "top")["digest"],
        status_of(&report_a, "top")["digest"]
    );

    // The rebuild's upload replaced the entry: the cache is repaired.
    let (d, report_d) = build(p, "D", &nginx.url());
    assert!(d.status.success(), "{}", stderr(&d));
    assert_eq!(built(p).len(), 4, "all restored after the repair: {}", stderr(&d));
    assert_eq!(status_of(&report_d, "top")["status"], "cached");
}
