//! Any bytes as a bundle's `manifest.json`: the reader never panics, and whatever it accepts
//! names only files inside the bundle, each with a SHA-256: exactly the manifest's own entries,
//! read again here as plain JSON.
#![no_main]

use libfuzzer_sys::fuzz_target;
use salesforecast_io::check_relative;
use salesforecast_io::manifest::{check_manifest, READABLE_FORMATS, VERSIONS};
use serde_json::Value;

fuzz_target!(|raw: &[u8]| {
    let Ok(container) = check_manifest(raw, "fuzz") else {
        return;
    };
    assert!(READABLE_FORMATS.contains(&container.format_version));
    assert_eq!(container.root.is_none(), container.format_version == 1);
    if let Some(root) = &container.root {
        assert!(root.starts_with(&format!("{VERSIONS}/")));
        assert!(check_relative(root).is_ok(), "{root:?}");
    }
    for (name, checksum) in &container.files {
        assert!(check_relative(name).is_ok(), "{name:?}");
        assert!(
            !name.starts_with('/') && !name.split('/').any(|p| p.is_empty() || p == ".."),
            "{name:?}"
        );
        assert!(
            checksum.len() == 64
                && checksum
                    .bytes()
                    .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase()),
            "{checksum:?}"
        );
    }
    let manifest: Value = serde_json::from_slice(raw).expect("accepted as JSON");
    let entries = manifest["files"].as_object().expect("accepted with files");
    let named: Vec<(&String, &str)> = entries
        .iter()
        .map(|(n, c)| (n, c.as_str().expect("a checksum")))
        .collect();
    assert_eq!(container.files.len(), named.len());
    for (name, checksum) in named {
        assert!(
            container
                .files
                .iter()
                .any(|(n, c)| n == name && c == checksum),
            "{name:?}"
        );
    }
    for model in manifest["models"].as_array().into_iter().flatten() {
        for path in model["files"].as_array().into_iter().flatten() {
            let path = path.as_str().expect("a model file is a name");
            assert!(entries.contains_key(path), "{path:?}");
        }
    }
});
