//! Integration tests: one binary, real Postgres and real SQLite files, local AWS stand-ins.

mod aws;
mod cli;
mod crash;
mod daemon;
mod daemon_metrics;
mod import;
mod standins;
mod support;
