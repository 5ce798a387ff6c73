//! Integration tests: one binary, real Postgres and real SQLite files, local AWS stand-ins.

mod alerts;
mod aws;
mod browser;
mod cli;
mod crash;
mod daemon;
mod daemon_metrics;
mod dashboard;
mod discover;
mod import;
mod prices;
mod reprice;
mod retention;
mod s3;
mod standins;
mod support;
