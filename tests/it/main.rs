//! Integration tests: one binary, real Postgres and real SQLite files.

mod cli;
mod crash;
mod import;
mod support;
