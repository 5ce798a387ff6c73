//! tierwatch: what Amazon Bedrock usage costs, per model and service tier.
//!
//! Data flows one way through the modules:
//!
//! ```text
//! ingest (read files, parse records, resolve tier) ─► pricing ─► store ─► report
//! ```
//!
//! `model` holds the types every step shares. The binary (`main.rs`) only parses the command
//! line and calls into `app`.

pub mod ingest;
pub mod model;
pub mod pricing;
pub mod simulate;
