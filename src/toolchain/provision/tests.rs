use super::*;

fn ctx(dir: &Path) -> ProvisionContext {
    let fetch = FetchContext::new(dir, FetchOptions::default()).expect("fetch context");
    let mut c = ProvisionContext::with_fetch(dir, Arc::new(fetch));
    c.verbose = false;
    c
}

#[test]
fn install_once_is_atomic_and_idempotent() {
    let t = tempfile::tempdir().expect("tempdir");
    let c = ctx(t.path());
    let dir = t.path().join("things/one");
    let err = install_once(&c, &dir, |tmp, _| {
        std::fs::write(tmp.join("half"), "x").expect("write");
        Err(ToolchainError::Usage("interrupted".into()))
    });
    assert!(err.is_err());
    assert!(!dir.exists(), "a failed build leaves nothing in place");
    let leftovers: Vec<_> = std::fs::read_dir(t.path().join("things"))
        .expect("parent exists")
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().starts_with(".tmp-"))
        .collect();
    assert!(leftovers.is_empty());
    let mut runs = 0;
    for _ in 0..2 {
        let s = install_once(&c, &dir, |tmp, fin| {
            runs += 1;
            std::fs::write(tmp.join("file"), fin.display().to_string()).expect("write");
            Ok(Stamp::new("test", "one", "none", &[]))
        })
        .expect("installs");
        assert_eq!(s.kind, "test");
    }
    assert_eq!(runs, 1, "the second call only reads the stamp");
    assert!(dir.join("file").is_file() && dir.join(STAMP).is_file());
    // A moved entry is not trusted: its absolute paths point elsewhere.
    let moved = t.path().join("things/two");
    std::fs::rename(&dir, &moved).expect("move");
    assert!(Stamp::read(&moved).is_some() && Stamp::read_at(&moved).is_none());
}

/// A build step wrote into a provisioned tree while other builds use it:
/// the replacement is swapped in by rename, so a reader by path never
/// finds the tree missing, and two processes noticing the change at once
/// provision it once.
#[test]
fn a_changed_tree_is_replaced_once_and_never_disappears() {
    use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
    let t = tempfile::tempdir().expect("tempdir");
    let c = ctx(t.path());
    let dir = t.path().join("things/go");
    let builds = AtomicUsize::new(0);
    let build = |tmp: &Path, _: &Path| {
        builds.fetch_add(1, Ordering::SeqCst);
        // Slow, as a real download and extraction is.
        std::thread::sleep(std::time::Duration::from_millis(300));
        std::fs::create_dir_all(tmp.join("bin")).map_err(io("mkdir"))?;
        std::fs::write(tmp.join("bin/go"), "the go tool").map_err(io("write"))?;
        Ok(Stamp::new("test", "go", "none", &[]))
    };
    install_checked(&c, &dir, build).expect("provisions");
    mark_used(&dir).expect("mark used");
    std::fs::write(dir.join("bin/go"), "written by a build step").expect("tamper");
    let stop = AtomicBool::new(false);
    let missing = std::thread::scope(|s| {
        let reader = s.spawn(|| {
            let mut missing = 0;
            while !stop.load(Ordering::SeqCst) {
                if std::fs::read(dir.join("bin/go")).is_err() {
                    missing += 1;
                }
                std::thread::sleep(std::time::Duration::from_millis(1));
            }
            missing
        });
        let checkers: Vec<_> = (0..2).map(|_| s.spawn(|| install_checked(&c, &dir, build))).collect();
        for checker in checkers {
            checker.join().expect("no panic").expect("re-provisions");
        }
        stop.store(true, Ordering::SeqCst);
        reader.join().expect("no panic")
    });
    assert_eq!(missing, 0, "the tree vanished while in use");
    assert_eq!(builds.load(Ordering::SeqCst), 2, "provisioned once, then replaced once");
    assert_eq!(
        std::fs::read_to_string(dir.join("bin/go")).expect("read"),
        "the go tool"
    );
    let leftovers: Vec<_> = std::fs::read_dir(t.path().join("things"))
        .expect("parent exists")
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with(".tmp-") || n.starts_with(".old-"))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
}
