//! Rebuilds when a migration is added or changed: `sqlx::migrate!` embeds the `migrations`
//! directory at compile time, and cargo does not otherwise watch it (sqlx's advice).
fn main() {
    println!("cargo:rerun-if-changed=migrations");
}
