//! The relay's checkpoint and status files, under `<data dir>/relay/`.
//!
//! - `checkpoint.json`: the journal position after the last acknowledged export, the last
//!   exported record's `seq` and `hash` (an outside anchor for `verify`), and the assembler's
//!   state (open spans), written atomically (write + rename).
//! - `status.json`: what `agent-telemetry status` shows: state, last export, last error.

use crate::assemble::Assembler;
use crate::journal::read::Position;
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

#[derive(Debug, Default, Serialize, Deserialize)]
pub struct Checkpoint {
    pub position: Option<Position>,
    pub last_seq: Option<u64>,
    pub last_hash: Option<String>,
    pub exported_records: u64,
    pub exported_spans: u64,
    pub assembler: Assembler,
}

#[derive(Debug, Default, Clone, Serialize, Deserialize)]
pub struct RelayStatus {
    pub pid: u32,
    /// running | retrying | stopped
    pub state: String,
    pub destination: String,
    pub started_at: String,
    pub last_export_at: Option<String>,
    pub last_error: Option<String>,
    pub last_error_at: Option<String>,
    pub exported_records: u64,
    pub exported_spans: u64,
    pub open_spans: usize,
    pub updated_at: String,
}

pub fn relay_dir(data_dir: &Path) -> PathBuf {
    data_dir.join("relay")
}

pub fn load(dir: &Path) -> Result<Checkpoint, String> {
    let path = dir.join("checkpoint.json");
    match std::fs::read(&path) {
        Ok(bytes) => serde_json::from_slice(&bytes).map_err(|e| format!("{}: {e}", path.display())),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Checkpoint::default()),
        Err(e) => Err(format!("{}: {e}", path.display())),
    }
}

fn write_atomic(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let tmp = path.with_extension("tmp");
    {
        use std::io::Write;
        let mut f = std::fs::File::create(&tmp)?;
        f.write_all(bytes)?;
        f.sync_data()?;
    }
    std::fs::rename(tmp, path)
}

pub fn save(dir: &Path, cp: &Checkpoint) -> Result<(), String> {
    std::fs::create_dir_all(dir).map_err(|e| e.to_string())?;
    let bytes = serde_json::to_vec(cp).map_err(|e| e.to_string())?;
    write_atomic(&dir.join("checkpoint.json"), &bytes).map_err(|e| format!("writing checkpoint: {e}"))
}

pub fn save_status(dir: &Path, s: &RelayStatus) {
    if let Ok(bytes) = serde_json::to_vec_pretty(s) {
        let _ = std::fs::create_dir_all(dir);
        let _ = write_atomic(&dir.join("status.json"), &bytes);
    }
}

pub fn load_status(dir: &Path) -> Option<RelayStatus> {
    serde_json::from_slice(&std::fs::read(dir.join("status.json")).ok()?).ok()
}
