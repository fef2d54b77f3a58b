//! Locates the workspace's binaries. The README's test command runs
//! `cargo build --workspace --bins` first, so they exist under the target directory.

use std::path::PathBuf;

/// The target directory: `CARGO_TARGET_DIR` if set, else `<workspace>/target`.
pub fn target_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os("CARGO_TARGET_DIR") {
        let dir = PathBuf::from(dir);
        if dir.is_absolute() {
            return dir;
        }
        return workspace_root().join(dir);
    }
    workspace_root().join("target")
}

/// The workspace root (the parent of this crate's manifest directory).
pub fn workspace_root() -> PathBuf {
    let here = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    here.parent().map(PathBuf::from).unwrap_or(here)
}

/// Path to a workspace binary such as `"blog"` or `"bluegreen"`. Prefers the profile this test
/// was built with, then the other one. Panics with a message naming the command to run when
/// the binary has not been built.
pub fn bin(name: &str) -> PathBuf {
    let profiles: [&str; 2] = if cfg!(debug_assertions) {
        ["debug", "release"]
    } else {
        ["release", "debug"]
    };
    for profile in profiles {
        let path = target_dir().join(profile).join(name);
        if path.is_file() {
            return path;
        }
    }
    panic!(
        "binary `{name}` not found under {}; run `cargo build --workspace --bins` first",
        target_dir().display()
    )
}
