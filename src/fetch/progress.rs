//! Where download progress goes: nowhere (library use, tests), indicatif bars
//! on a terminal, or one plain line per event otherwise (CI logs).

use crate::units::human_bytes;
use std::io::Write;
use std::sync::Mutex;

use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};

/// Receives the progress of downloads, which may run on many threads.
pub trait ProgressSink: Send + Sync {
    /// A download of `file` from `url` starts; `len` is the announced size.
    fn start(&self, file: &str, url: &str, len: Option<u64>) -> Box<dyn Transfer>;
    /// A line worth showing outside any bar (cache hits, summaries).
    fn message(&self, line: &str);
}

/// One download in progress.
pub trait Transfer: Send {
    fn advance(&mut self, bytes: u64);
    /// Ends the transfer; `outcome` is `Ok(())` or a short reason.
    fn finish(&mut self, outcome: Result<(), &str>);
}

/// Reports nothing.
pub struct Silent;

struct NoTransfer;

impl Transfer for NoTransfer {
    fn advance(&mut self, _: u64) {}
    fn finish(&mut self, _: Result<(), &str>) {}
}

impl ProgressSink for Silent {
    fn start(&self, _: &str, _: &str, _: Option<u64>) -> Box<dyn Transfer> {
        Box::new(NoTransfer)
    }
    fn message(&self, _: &str) {}
}

/// One line per start and end on stderr: readable in logs, no escape codes.
#[derive(Default)]
pub struct Plain;

/// Serializes lines from parallel downloads so they never interleave.
static LINES: Mutex<()> = Mutex::new(());

fn line(s: &str) {
    let _guard = LINES.lock();
    let _ = writeln!(std::io::stderr(), "{s}");
}

struct PlainTransfer {
    file: String,
    url: String,
    bytes: u64,
}

impl ProgressSink for Plain {
    fn start(&self, file: &str, url: &str, len: Option<u64>) -> Box<dyn Transfer> {
        let size = len.map(|l| format!(" ({})", human_bytes(l))).unwrap_or_default();
        line(&format!("downloading {file} from {url}{size}"));
        Box::new(PlainTransfer {
            file: file.to_string(),
            url: url.to_string(),
            bytes: 0,
        })
    }

    fn message(&self, s: &str) {
        line(s);
    }
}

impl Transfer for PlainTransfer {
    fn advance(&mut self, bytes: u64) {
        self.bytes += bytes;
    }

    fn finish(&mut self, outcome: Result<(), &str>) {
        match outcome {
            Ok(()) => line(&format!("downloaded {} ({})", self.file, human_bytes(self.bytes))),
            Err(why) => line(&format!("failed {} from {}: {why}", self.file, self.url)),
        }
    }
}

/// indicatif bars, one per running download.
pub struct Bars {
    multi: MultiProgress,
}

impl Bars {
    pub fn new() -> Bars {
        Bars {
            multi: MultiProgress::with_draw_target(ProgressDrawTarget::stderr()),
        }
    }
}

impl Default for Bars {
    fn default() -> Self {
        Bars::new()
    }
}

struct BarTransfer {
    bar: ProgressBar,
    multi: MultiProgress,
}

impl ProgressSink for Bars {
    fn start(&self, file: &str, _url: &str, len: Option<u64>) -> Box<dyn Transfer> {
        let bar = match len {
            Some(l) => ProgressBar::new(l).with_style(
                ProgressStyle::with_template("{msg:40!} {bar:30} {bytes:>10}/{total_bytes:<10} {bytes_per_sec:>12}")
                    .unwrap_or_else(|_| ProgressStyle::default_bar()),
            ),
            None => ProgressBar::new_spinner().with_style(
                ProgressStyle::with_template("{msg:40!} {spinner} {bytes:>10} {bytes_per_sec:>12}")
                    .unwrap_or_else(|_| ProgressStyle::default_spinner()),
            ),
        };
        let bar = self.multi.add(bar.with_message(file.to_string()));
        Box::new(BarTransfer {
            bar,
            multi: self.multi.clone(),
        })
    }

    fn message(&self, line: &str) {
        let _ = self.multi.println(line);
    }
}

impl Transfer for BarTransfer {
    fn advance(&mut self, bytes: u64) {
        self.bar.inc(bytes);
    }

    fn finish(&mut self, outcome: Result<(), &str>) {
        let name = self.bar.message();
        let line = match outcome {
            Ok(()) => format!("downloaded {name} ({})", human_bytes(self.bar.position())),
            Err(why) => format!("failed {name}: {why}"),
        };
        self.bar.finish_and_clear();
        self.multi.remove(&self.bar);
        let _ = self.multi.println(line);
    }
}
