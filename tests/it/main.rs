//! Integration tests: one binary, real Postgres and real SQLite files.

mod support;
