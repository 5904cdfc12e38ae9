//! Rebuilds the crate when the web app it embeds (`web/dist`, see `web_assets.rs`) changes, or
//! appears: a fresh clone compiles before the web app is built, and the release binary built
//! after `npm run build` must carry it. Likewise when the migrations it embeds change.

fn main() {
    let dist = std::path::Path::new("../../web/dist");
    if dist.is_dir() {
        println!("cargo:rerun-if-changed=../../web/dist");
    } else {
        // Watching the parent notices `dist` being created.
        println!("cargo:rerun-if-changed=../../web");
    }
    // The migrations are embedded by `sqlx::migrate!`: a new one must rebuild the crate.
    println!("cargo:rerun-if-changed=migrations");
    println!("cargo:rerun-if-changed=build.rs");
}
