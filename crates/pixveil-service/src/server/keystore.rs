//! Registered evaluation keys: bounded in bytes, least recently used evicted first,
//! persisted in the data dir so a restart loses nothing a client sent.
//!
//! Layout: `DATA/keys/<key id>.keys`, each file the exact bytes the client uploaded (public
//! material: relinearization and Galois keys), written atomically. Recency survives a
//! restart through the files' modification times (touched on use).
//!
//! Two bounds: `capacity` on the serialized bytes of all registered keys (disk and the
//! promise to clients), and `resident` on the number of parsed key sets held in memory
//! (a parsed set is about four times its serialized size: `a` expanded from its seed,
//! coefficients widened to 64 bits). A registered set that is not resident is parsed
//! again from its file on its next use.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::SystemTime;

use pixveil_henn::{EvaluationKeys, HeEvaluator, Plan};

use crate::api::{is_key_id, key_id, KeyRegistered, Problem, ProblemCode};
use crate::server::problem_of;

const SUFFIX: &str = "keys";

#[derive(Debug)]
struct Entry {
    bytes: u64,
    last_used: u64,
    evaluator: Option<Arc<HeEvaluator>>,
}

#[derive(Debug, Default)]
struct Inner {
    entries: HashMap<String, Entry>,
    clock: u64,
    total: u64,
}

/// Counts for `/metrics`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct StoreStats {
    /// Registered key sets.
    pub keys: usize,
    /// Their serialized bytes.
    pub bytes: u64,
    /// Parsed sets held in memory.
    pub resident: usize,
    /// Sets evicted since start.
    pub evicted: u64,
}

/// The key store of one plan.
#[derive(Debug)]
pub struct KeyStore {
    dir: PathBuf,
    capacity: u64,
    resident: usize,
    plan: Arc<Plan>,
    inner: Mutex<Inner>,
    evicted: std::sync::atomic::AtomicU64,
}

impl KeyStore {
    /// Opens (creating it if needed) the store in `data_dir/keys`, indexing the files already
    /// there; evicts the oldest if they exceed `capacity` (a smaller limit than last run).
    ///
    /// # Errors
    /// The folder cannot be created or listed.
    pub fn open(
        data_dir: &Path,
        capacity: u64,
        resident: usize,
        plan: Arc<Plan>,
    ) -> std::io::Result<Self> {
        let dir = data_dir.join("keys");
        std::fs::create_dir_all(&dir)?;
        let mut found = Vec::new();
        for entry in std::fs::read_dir(&dir)? {
            let entry = entry?;
            let path = entry.path();
            let name = entry.file_name();
            let name = name.to_string_lossy();
            match name.strip_suffix(&format!(".{SUFFIX}")) {
                Some(id) if is_key_id(id) => {
                    let meta = entry.metadata()?;
                    // Recency hint only: where modification times are unsupported, the
                    // sets are ordered by id.
                    let mtime = meta.modified().ok();
                    found.push((mtime, id.to_owned(), meta.len()));
                }
                // A temporary file of a write interrupted by a crash.
                _ if name.starts_with(".tmp") => std::fs::remove_file(&path)?,
                _ => {}
            }
        }
        found.sort();
        let mut inner = Inner::default();
        for (_, id, bytes) in found {
            inner.clock += 1;
            inner.total += bytes;
            inner.entries.insert(
                id,
                Entry {
                    bytes,
                    last_used: inner.clock,
                    evaluator: None,
                },
            );
        }
        let store = Self {
            dir,
            capacity,
            resident: resident.max(1),
            plan,
            inner: Mutex::new(inner),
            evicted: Default::default(),
        };
        store.evict(&mut store.lock());
        Ok(store)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        // A panic while holding the lock would be a bug in this module; the map stays
        // consistent at every await-free step, so continuing with it is sound.
        self.inner
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn path(&self, id: &str) -> PathBuf {
        self.dir.join(format!("{id}.{SUFFIX}"))
    }

    /// Counts for `/metrics`.
    pub fn stats(&self) -> StoreStats {
        let inner = self.lock();
        StoreStats {
            keys: inner.entries.len(),
            bytes: inner.total,
            resident: inner
                .entries
                .values()
                .filter(|e| e.evaluator.is_some())
                .count(),
            evicted: self.evicted.load(std::sync::atomic::Ordering::Relaxed),
        }
    }

    /// Capacity in bytes.
    pub fn capacity(&self) -> u64 {
        self.capacity
    }

    fn parse(&self, bytes: &[u8]) -> Result<HeEvaluator, Problem> {
        let plan = &self.plan;
        let keys = EvaluationKeys::from_bytes(plan.params(), &plan.spec().id(), bytes)
            .map_err(problem_of)?;
        HeEvaluator::new(plan.clone(), keys).map_err(problem_of)
    }

    /// Validates and registers `bytes` (CPU work: call from a blocking thread).
    ///
    /// # Errors
    /// [`ProblemCode::KeysTooLarge`] beyond the capacity, the parse errors of the keys, or
    /// [`ProblemCode::Internal`] if the file cannot be written.
    pub fn register(&self, bytes: &[u8]) -> Result<KeyRegistered, Problem> {
        let id = key_id(bytes);
        let len = bytes.len() as u64;
        let known = self.lock().entries.contains_key(&id);
        if known {
            // Already registered (by this or an earlier run): a use, not a new key. If its
            // file was lost meanwhile, `get` forgets it and it is registered anew below.
            if let Ok(ev) = self.get(&id) {
                return Ok(KeyRegistered {
                    key_id: id,
                    mode: mode_of(&ev),
                    bytes: len,
                    created: false,
                });
            }
        }
        if len > self.capacity {
            return Err(Problem::new(
                ProblemCode::KeysTooLarge,
                format!(
                    "the keys are {len} bytes, the key store holds {} bytes in all",
                    self.capacity
                ),
            ));
        }
        let evaluator = Arc::new(self.parse(bytes)?);
        write_atomic(&self.path(&id), bytes).map_err(|e| {
            Problem::new(
                ProblemCode::Internal,
                format!("cannot persist the keys: {e}"),
            )
        })?;
        let mode = mode_of(&evaluator);
        let mut inner = self.lock();
        inner.clock += 1;
        let now = inner.clock;
        if !inner.entries.contains_key(&id) {
            inner.total += len;
        }
        inner.entries.insert(
            id.clone(),
            Entry {
                bytes: len,
                last_used: now,
                evaluator: Some(evaluator),
            },
        );
        self.evict(&mut inner);
        Ok(KeyRegistered {
            key_id: id,
            mode,
            bytes: len,
            created: true,
        })
    }

    /// The evaluator of a registered key set (parsed from its file if not resident; CPU
    /// work then: call from a blocking thread).
    ///
    /// # Errors
    /// [`ProblemCode::UnknownKey`] for an id never registered, evicted, or whose file was
    /// lost; the client registers its keys again.
    pub fn get(&self, id: &str) -> Result<Arc<HeEvaluator>, Problem> {
        let unknown = || {
            Problem::new(
                ProblemCode::UnknownKey,
                format!(
                    "key id {id} is not registered (never, or evicted): register the keys again"
                ),
            )
        };
        {
            let mut inner = self.lock();
            inner.clock += 1;
            let now = inner.clock;
            let e = inner.entries.get_mut(id).ok_or_else(unknown)?;
            e.last_used = now;
            if let Some(ev) = &e.evaluator {
                return Ok(ev.clone());
            }
        }
        let path = self.path(id);
        let parsed = std::fs::read(&path)
            .map_err(|e| e.to_string())
            .and_then(|b| {
                if key_id(&b) == id {
                    self.parse(&b).map_err(|p| p.detail)
                } else {
                    Err("its content no longer matches its id".into())
                }
            });
        let mut inner = self.lock();
        match parsed {
            Ok(ev) => {
                let ev = Arc::new(ev);
                if let Some(e) = inner.entries.get_mut(id) {
                    e.evaluator = Some(ev.clone());
                }
                self.evict(&mut inner);
                // Best effort: the recency hint for the next start.
                touch(&path);
                Ok(ev)
            }
            Err(reason) => {
                eprintln!(
                    "warning: dropping key {id}: {} unreadable ({reason})",
                    path.display()
                );
                if let Some(e) = inner.entries.remove(id) {
                    inner.total -= e.bytes;
                }
                if let Err(e) = std::fs::remove_file(&path) {
                    eprintln!("warning: cannot remove {}: {e}", path.display());
                }
                Err(unknown())
            }
        }
    }

    /// Evicts least recently used sets until the bytes fit the capacity, and drops parsed
    /// sets beyond the resident bound (their files stay).
    fn evict(&self, inner: &mut Inner) {
        while inner.total > self.capacity {
            let oldest = inner
                .entries
                .iter()
                .min_by_key(|(_, e)| e.last_used)
                .map(|(id, _)| id.clone())
                .expect("a positive total implies an entry");
            let e = inner.entries.remove(&oldest).expect("just found");
            inner.total -= e.bytes;
            self.evicted
                .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            if let Err(err) = std::fs::remove_file(self.path(&oldest)) {
                eprintln!("warning: cannot remove evicted key file {oldest}: {err}");
            }
        }
        let mut resident: Vec<(u64, String)> = inner
            .entries
            .iter()
            .filter(|(_, e)| e.evaluator.is_some())
            .map(|(id, e)| (e.last_used, id.clone()))
            .collect();
        if resident.len() > self.resident {
            resident.sort_unstable();
            let drop_n = resident.len() - self.resident;
            for (_, id) in resident.into_iter().take(drop_n) {
                if let Some(e) = inner.entries.get_mut(&id) {
                    e.evaluator = None;
                }
            }
        }
    }
}

fn mode_of(ev: &HeEvaluator) -> String {
    ev.keys_mode().name().to_owned()
}

fn touch(path: &Path) {
    if let Ok(f) = std::fs::File::options().write(true).open(path) {
        let _ = f.set_modified(SystemTime::now());
    }
}

/// Writes `bytes` to `path` atomically, owner-only (a temporary file beside it, then a rename).
fn write_atomic(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    // pixveil-core's one atomic writer; its temporary files start with `.tmp`, swept above.
    pixveil_core::fsio::write_atomic(path, bytes, pixveil_core::fsio::Access::OwnerOnly)
}
