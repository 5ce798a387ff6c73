//! Ingestion: byte streams → records → invocations, priced and stored in batches.

pub mod files;
pub mod reader;
pub mod record;
