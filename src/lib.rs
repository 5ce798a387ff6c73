//! tierwatch: what Amazon Bedrock usage costs, per model and service tier.
//!
//! Data flows one way through the modules:
//!
//! ```text
//! sources (CloudWatch Logs) ┐
//! ingest (files → reader → record) ─► pricing ─► store (+ rollup) ─┬─► report, reservations
//!                                                                   ├─► dashboard (pages, API)
//!                                                                   └─► alerts
//! sources (CloudWatch metrics, Service Quotas) ─► store ─► coverage, headroom
//! sources (Pricing API, Bedrock) ─► prices (Price List → pricing::catalog) ─► store
//! sources (Bedrock logging configuration, STS) ─► discover ─► config file entries
//! ```
//!
//! `model` holds the types every step shares. The binary (`main.rs`) only parses the command
//! line and calls into `commands`, one module per command group.

pub mod alerts;
pub mod cli;
pub mod commands;
pub mod config;
pub mod coverage;
pub mod daemon;
pub mod dashboard;
pub mod demo;
pub mod discover;
pub mod headroom;
pub mod ingest;
pub mod model;
pub mod prices;
pub mod pricing;
pub mod report;
pub mod reservations;
pub mod rollup;
pub mod simulate;
pub mod sources;
pub mod store;
