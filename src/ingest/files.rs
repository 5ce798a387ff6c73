//! (temporary contract until the parser branch lands)
use std::path::{Path, PathBuf};
use std::sync::{Arc, atomic::AtomicU64};
pub struct InputFile { pub path: PathBuf, pub size: u64 }
#[derive(Debug, Clone, Copy)]
pub enum SkipReason { BodyObject, NotALogFile }
impl std::fmt::Display for SkipReason { fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result { write!(f, "x") } }
pub struct Discovery { pub files: Vec<InputFile>, pub skipped: Vec<(PathBuf, SkipReason)> }
#[derive(Debug, thiserror::Error)] #[error("x")] pub struct DiscoverError;
pub fn discover(_paths: &[PathBuf]) -> Result<Discovery, DiscoverError> { Err(DiscoverError) }
pub fn open(_path: &Path, _bytes_read: Option<Arc<AtomicU64>>) -> std::io::Result<Box<dyn std::io::Read + Send>> { Err(std::io::Error::other("x")) }
