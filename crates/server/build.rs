//! Rebuilds the crate when the web app it embeds (`web/dist`, see `web_assets.rs`) changes, or
//! appears: a fresh clone compiles before the web app is built, and the release binary built
//! after `npm run build` must carry it.

fn main() {
    let dist = std::path::Path::new("../../web/dist");
    if dist.is_dir() {
        println!("cargo:rerun-if-changed=../../web/dist");
    } else {
        // Watching the parent notices `dist` being created.
        println!("cargo:rerun-if-changed=../../web");
    }
    println!("cargo:rerun-if-changed=build.rs");
}
