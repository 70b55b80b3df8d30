//! Rebuilds the crate when a migration is added or changed: migrations are embedded at
//! compile time (`embed_migrations!`), and a new migration directory is not a file the
//! compiler read, so without this a build could miss it.
fn main() {
    println!("cargo:rerun-if-changed=migrations");
}
