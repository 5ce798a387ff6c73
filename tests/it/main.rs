//! Integration tests: one binary, real Postgres and real SQLite files.

mod cli;
mod import;
mod support;
mod crash;
