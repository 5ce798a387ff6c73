//! (temporary contract until the parser branch lands)
use super::record::Rejection;
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Location { pub line: u64, pub byte_offset: u64 }
impl std::fmt::Display for Location { fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result { write!(f, "line {}", self.line) } }
pub enum Item<'a> { Record { bytes: &'a [u8], location: Location }, Rejected { excerpt: &'a [u8], location: Location, rejection: Rejection } }
pub struct RecordReader<R> { _inner: R }
impl<R: std::io::Read> RecordReader<R> { pub fn new(inner: R) -> Self { Self { _inner: inner } } pub fn next_item(&mut self) -> std::io::Result<Option<Item<'_>>> { Ok(None) } }
