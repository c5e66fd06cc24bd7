//! Build progress: indicatif bars on a terminal (one line per running
//! package plus an overall bar), plain line-per-event output otherwise.

use std::collections::BTreeMap;
use std::io::IsTerminal;
use std::path::Path;
use std::sync::Mutex;
use std::time::Duration;

use indicatif::{MultiProgress, ProgressBar, ProgressStyle};

use crate::build::builders::BuildError;
use crate::plan::graph::NodeId;

pub struct Progress {
    fancy: Option<Fancy>,
    done: Mutex<usize>,
    total: Mutex<usize>,
    /// A build tree other than the project's, named in `recipe shell` hints.
    build_dir: Option<std::path::PathBuf>,
}

struct Fancy {
    multi: MultiProgress,
    overall: ProgressBar,
    running: Mutex<BTreeMap<String, ProgressBar>>,
}

impl Progress {
    pub fn new() -> Progress {
        let fancy = std::io::stderr().is_terminal().then(|| {
            let multi = MultiProgress::new();
            let overall = multi.add(ProgressBar::new(0));
            overall.set_style(
                ProgressStyle::with_template("{bar:30.cyan/blue} {pos}/{len} packages  {elapsed}")
                    .unwrap_or_else(|_| ProgressStyle::default_bar()),
            );
            Fancy {
                multi,
                overall,
                running: Mutex::new(BTreeMap::new()),
            }
        });
        Progress {
            fancy,
            done: Mutex::new(0),
            total: Mutex::new(0),
            build_dir: None,
        }
    }

    /// Failure hints name `build_dir`, the build tree the run uses when it
    /// is not the project's.
    pub fn in_build_dir(mut self, build_dir: Option<std::path::PathBuf>) -> Progress {
        self.build_dir = build_dir;
        self
    }

    fn line(&self, text: &str) {
        match &self.fancy {
            Some(f) => {
                let _ = f.multi.println(text);
            }
            None => eprintln!("{text}"),
        }
    }

    fn counter(&self) -> String {
        let done = self.done.lock().map(|d| *d).unwrap_or(0);
        let total = self.total.lock().map(|t| *t).unwrap_or(0);
        format!("[{done}/{total}]")
    }

    fn finish_one(&self, id: &NodeId) {
        if let Ok(mut d) = self.done.lock() {
            *d += 1;
        }
        if let Some(f) = &self.fancy {
            f.overall.inc(1);
            if let Ok(mut running) = f.running.lock()
                && let Some(bar) = running.remove(&id.to_string())
            {
                bar.finish_and_clear();
                f.multi.remove(&bar);
            }
        }
    }

    pub fn start(&self, total: usize) {
        if let Ok(mut t) = self.total.lock() {
            *t = total;
        }
        if let Some(f) = &self.fancy {
            f.overall.set_length(total as u64);
        }
    }

    pub fn started(&self, id: &NodeId) {
        match &self.fancy {
            Some(f) => {
                let bar = f.multi.insert_before(&f.overall, ProgressBar::new_spinner());
                bar.set_style(
                    ProgressStyle::with_template("{spinner} {msg} {elapsed}")
                        .unwrap_or_else(|_| ProgressStyle::default_spinner()),
                );
                bar.set_message(format!("building {id}"));
                bar.enable_steady_tick(Duration::from_millis(120));
                if let Ok(mut running) = f.running.lock() {
                    running.insert(id.to_string(), bar);
                }
            }
            None => eprintln!("{} building {id}", self.counter()),
        }
    }

    /// The early phase of a package whose dependencies are still building.
    pub fn preparing(&self, id: &NodeId) {
        self.line(&format!(
            "{} preparing {id} (sources, autoreconf) while its dependencies build",
            self.counter()
        ));
    }

    pub fn cached(&self, id: &NodeId) {
        self.finish_one(id);
        self.line(&format!("{} cached   {id}", self.counter()));
    }

    /// Taken from the local store (built in another build directory).
    pub fn restored(&self, id: &NodeId) {
        self.finish_one(id);
        self.line(&format!("{} restored {id} from the local store", self.counter()));
    }

    pub fn built(&self, id: &NodeId, ms: u64) {
        self.finish_one(id);
        self.line(&format!(
            "{} built    {id} in {:.1}s",
            self.counter(),
            ms as f64 / 1000.0
        ));
    }

    pub fn skipped(&self, id: &NodeId, because: &str) {
        self.finish_one(id);
        self.line(&format!("{} skipped  {id}: {because}", self.counter()));
    }

    /// Something the user should hear about even when the run succeeds
    /// (an untrusted or unreachable remote cache, say).
    pub fn warning(&self, id: &NodeId, text: &str) {
        self.line(&format!("warning: {id}: {text}"));
    }

    pub fn explain(&self, id: &NodeId, reasons: &[String]) {
        self.line(&format!("rebuilding {id} because:"));
        for r in reasons {
            self.line(&format!("    - {r}"));
        }
    }

    /// The error, the log's tail, its path and how to get into the build dir.
    pub fn failed(&self, id: &NodeId, err: BuildError, log: &Path) {
        self.finish_one(id);
        let mut text = format!("{} FAILED   {id}\n{:?}", self.counter(), miette::Report::new(err));
        let tail = crate::build::process::Log {
            path: log.to_path_buf(),
        }
        .tail(20);
        if !tail.is_empty() {
            text.push_str(&format!("\n--- last lines of {} ---\n{tail}\n---", log.display()));
        }
        text.push_str(&format!(
            "\nfull log: {}\nto investigate: recipe shell {} --target {}{}",
            log.display(),
            id.name,
            id.target,
            self.build_dir
                .as_ref()
                .map(|d| format!(
                    " --build-dir {}",
                    crate::toolchain::env::shell_quote(&d.display().to_string())
                ))
                .unwrap_or_default()
        ));
        self.line(&text);
    }

    pub fn finish(&self) {
        if let Some(f) = &self.fancy {
            f.overall.finish_and_clear();
        }
    }
}

impl Default for Progress {
    fn default() -> Self {
        Progress::new()
    }
}
