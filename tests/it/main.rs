//! Integration tests: one binary, real Postgres and real SQLite files, local AWS stand-ins.

mod aws;
mod cli;
mod crash;
mod daemon;
mod import;
mod standins;
mod support;
