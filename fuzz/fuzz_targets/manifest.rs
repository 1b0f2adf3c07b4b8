//! Any bytes as a bundle's `manifest.json`: the reader never panics, and whatever it accepts
//! names only files inside the bundle, each with a SHA-256.
#![no_main]

use libfuzzer_sys::fuzz_target;
use salesforecast_io::check_relative;
use salesforecast_io::manifest::{check_manifest, READABLE_FORMATS, VERSIONS};

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
        assert!(!name.split('/').any(|part| part == ".."), "{name:?}");
        assert_eq!(checksum.len(), 64);
    }
});
