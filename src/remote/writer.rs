//! Write-behind: uploads happen on a background thread so builds never wait
//! for the network; `finish` waits for the queue and turns failures into
//! warnings (a failed upload only costs another machine a rebuild).

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::mpsc;
use std::thread::JoinHandle;

use super::{LocalStore, RemoteCache, RemoteError, Stored};

/// Where a writer stores outputs: the remote cache or the local store.
pub trait Sink: Send + Sync {
    fn has_entry(&self, key: &str) -> bool;
    fn store_output(&self, key: &str, staged: &std::path::Path, output_digest: &str) -> Result<Stored, RemoteError>;
}

impl Sink for RemoteCache {
    fn has_entry(&self, key: &str) -> bool {
        RemoteCache::has_entry(self, key)
    }
    fn store_output(&self, key: &str, staged: &std::path::Path, output_digest: &str) -> Result<Stored, RemoteError> {
        RemoteCache::store_output(self, key, staged, output_digest)
    }
}

impl Sink for LocalStore {
    fn has_entry(&self, key: &str) -> bool {
        LocalStore::has_entry(self, key)
    }
    fn store_output(&self, key: &str, staged: &std::path::Path, output_digest: &str) -> Result<Stored, RemoteError> {
        LocalStore::store_output(self, key, staged, output_digest)
    }
}

struct Upload {
    label: String,
    key: String,
    staged: PathBuf,
    output_digest: String,
    /// A local cache hit: upload only if the remote lacks the entry.
    only_if_missing: bool,
}

#[derive(Debug, Clone, Default)]
pub struct UploadSummary {
    /// Entries written (AC), whether or not the blob had to be sent.
    pub stored: usize,
    /// Blobs the server already had.
    pub blobs_reused: usize,
    pub bytes_sent: u64,
    pub warnings: Vec<String>,
}

pub struct RemoteWriter {
    what: &'static str,
    tx: Option<mpsc::Sender<Upload>>,
    worker: Option<JoinHandle<UploadSummary>>,
}

impl RemoteWriter {
    pub fn spawn(cache: Arc<RemoteCache>) -> RemoteWriter {
        RemoteWriter::spawn_for(cache, "remote cache", "uploaded")
    }

    /// A writer into this machine's local store.
    pub fn spawn_local(store: Arc<LocalStore>) -> RemoteWriter {
        RemoteWriter::spawn_for(store, super::LOCAL_STORE, "stored")
    }

    /// `what` and `done` name the sink and the action in warnings
    /// ("remote cache: dqlite@armv7hf not uploaded: …").
    fn spawn_for(cache: Arc<dyn Sink>, what: &'static str, done: &'static str) -> RemoteWriter {
        let (tx, rx) = mpsc::channel::<Upload>();
        let worker = std::thread::Builder::new()
            .name(format!("{what} writer"))
            .spawn(move || {
                let mut summary = UploadSummary::default();
                for up in rx {
                    if up.only_if_missing && cache.has_entry(&up.key) {
                        continue;
                    }
                    match cache.store_output(&up.key, &up.staged, &up.output_digest) {
                        Ok(stored) => {
                            summary.stored += 1;
                            if stored.uploaded_blob {
                                summary.bytes_sent += stored.size;
                            } else {
                                summary.blobs_reused += 1;
                            }
                        }
                        Err(e) => summary.warnings.push(format!("{what}: {} not {done}: {e}", up.label)),
                    }
                }
                summary
            })
            .ok();
        RemoteWriter {
            what,
            tx: worker.as_ref().map(|_| tx),
            worker,
        }
    }

    /// Queues an upload of a freshly built output; returns at once.
    /// `label` names the package in warnings (`dqlite@armv7hf`).
    pub fn submit(&self, label: &str, key: &str, staged: PathBuf, output_digest: &str) {
        self.send(label, key, staged, output_digest, false);
    }

    /// Queues an upload of an output that was already up to date locally,
    /// done only when the remote has no entry for `key` (so a machine with a
    /// warm local tree still fills an empty shared cache).
    pub fn submit_if_missing(&self, label: &str, key: &str, staged: PathBuf, output_digest: &str) {
        self.send(label, key, staged, output_digest, true);
    }

    fn send(&self, label: &str, key: &str, staged: PathBuf, output_digest: &str, only_if_missing: bool) {
        if let Some(tx) = &self.tx {
            // A send fails only if the worker died; `finish` reports that.
            let _ = tx.send(Upload {
                label: label.into(),
                key: key.into(),
                staged,
                output_digest: output_digest.into(),
                only_if_missing,
            });
        }
    }

    /// Waits for every queued upload.
    pub fn finish(mut self) -> UploadSummary {
        self.join()
    }

    fn join(&mut self) -> UploadSummary {
        self.tx = None;
        match self.worker.take().map(JoinHandle::join) {
            Some(Ok(summary)) => summary,
            Some(Err(_)) => UploadSummary {
                warnings: vec![format!(
                    "{}: the writer thread crashed; some outputs were not stored",
                    self.what
                )],
                ..UploadSummary::default()
            },
            None => UploadSummary {
                warnings: vec![format!(
                    "{}: could not start the writer thread; nothing was stored",
                    self.what
                )],
                ..UploadSummary::default()
            },
        }
    }
}

impl Drop for RemoteWriter {
    /// Dropped without `finish` (an early return): still wait, so no upload
    /// is cut off half-way.
    fn drop(&mut self) {
        if self.worker.is_some() {
            let _ = self.join();
        }
    }
}
