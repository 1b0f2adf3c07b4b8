//! The container part of a bundle's `manifest.json`: the format, the version root and the file
//! entries with their SHA-256, checked before any file is read. These are the manifest's only
//! paths, so every entry a reader later opens has passed [`check_relative`] here. What the
//! manifest says about the forecaster (settings, models, weights) is the reader's to check.

use serde_json::{Map, Value};

use crate::{check_relative, IoError, Result};

/// The bundle formats this version reads.
pub const READABLE_FORMATS: [u64; 3] = [1, 2, 3];
/// The prefix under which format 2 and later keep each saved version's files.
pub const VERSIONS: &str = "versions";

/// What a checked manifest says about the bundle's files.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Container {
    pub format_version: u64,
    /// The version's folder (`versions/<id>`); `None` in format 1, whose files sit beside the
    /// manifest.
    pub root: Option<String>,
    /// Every file of the bundle, relative to `root`, with its SHA-256 (64 lowercase hex digits),
    /// sorted by name.
    pub files: Vec<(String, String)>,
}

/// Parses `raw` (the bytes of `manifest.json`) and checks its container: strict JSON (no NaN or
/// Infinity), an object of a readable format, a `root` inside `versions/` from format 2 on (and
/// none before), every file entry a relative path that stays inside the bundle with a SHA-256,
/// and every file a model names (`models[i].files`) listed among them. Errors name `base`.
pub fn check_manifest(raw: &[u8], base: &str) -> Result<Container> {
    let refuse = |reason: String| IoError::Manifest {
        base: base.to_owned(),
        reason,
    };
    let value: Value = serde_json::from_slice(raw)
        .map_err(|e| refuse(format!("manifest.json is not valid JSON: {e}")))?;
    let Value::Object(manifest) = value else {
        return Err(refuse("the manifest is not a JSON object".into()));
    };
    let format = manifest.get("format_version").unwrap_or(&Value::Null);
    let format_version = format
        .as_u64()
        .filter(|v| READABLE_FORMATS.contains(v))
        .ok_or_else(|| {
            refuse(format!(
                "bundle format {format} is not one this version reads (1, 2, 3)"
            ))
        })?;
    let Some(Value::Object(entries)) = manifest.get("files") else {
        return Err(refuse(
            "manifest `files` must be an object of file name to SHA-256".into(),
        ));
    };
    let root = match (format_version, manifest.get("root")) {
        (1, None) => None,
        (1, Some(_)) => return Err(refuse("a format-1 manifest has no `root`".into())),
        (_, Some(Value::String(root))) if root.starts_with(&format!("{VERSIONS}/")) => {
            check_relative(root).map_err(|e| refuse(format!("manifest `root` refused: {e}")))?;
            Some(root.clone())
        }
        _ => {
            return Err(refuse(format!(
                "manifest `root` must name a {VERSIONS}/ prefix"
            )))
        }
    };
    let mut files = Vec::with_capacity(entries.len());
    for (name, checksum) in entries {
        check_relative(name).map_err(|e| refuse(format!("manifest entry refused: {e}")))?;
        match checksum.as_str() {
            Some(sha) if is_sha256(sha) => files.push((name.clone(), sha.to_owned())),
            _ => {
                return Err(refuse(format!(
                    "manifest checksum of {name:?} is not a SHA-256"
                )))
            }
        }
    }
    files.sort();
    check_model_files(&manifest, entries).map_err(refuse)?;
    Ok(Container {
        format_version,
        root,
        files,
    })
}

/// Every `models[i].files` entry names a file of the bundle (the rest of a model entry is the
/// reader's to check).
fn check_model_files(
    manifest: &Map<String, Value>,
    entries: &Map<String, Value>,
) -> std::result::Result<(), String> {
    let Some(Value::Array(models)) = manifest.get("models") else {
        return Ok(());
    };
    for (i, model) in models.iter().enumerate() {
        let Some(paths) = model.as_object().and_then(|m| m.get("files")) else {
            continue;
        };
        let listed = paths.as_array().is_some_and(|paths| {
            paths
                .iter()
                .all(|p| p.as_str().is_some_and(|p| entries.contains_key(p)))
        });
        if !listed {
            return Err(format!(
                "manifest models[{i}].files must name files listed in `files`"
            ));
        }
    }
    Ok(())
}

fn is_sha256(text: &str) -> bool {
    text.len() == 64 && text.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

#[cfg(test)]
mod tests {
    use super::*;

    const SHA: &str = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

    fn manifest(body: &str) -> Result<Container> {
        check_manifest(body.as_bytes(), "s3://b/m")
    }

    fn reason(body: &str) -> String {
        match manifest(body) {
            Err(IoError::Manifest { base, reason }) => {
                assert_eq!(base, "s3://b/m");
                reason
            }
            other => panic!("expected a manifest error, got {other:?}"),
        }
    }

    #[test]
    fn a_valid_manifest_gives_its_files_in_order() {
        let body = format!(
            r#"{{"format_version": 3, "root": "versions/ab", "files": {{"m/b.txt": "{SHA}", "a.parquet": "{SHA}"}},
                "models": [{{"files": ["m/b.txt"]}}, {{"name": "naive"}}]}}"#
        );
        let container = manifest(&body).unwrap();
        assert_eq!(container.root.as_deref(), Some("versions/ab"));
        let names: Vec<_> = container.files.iter().map(|(n, _)| n.as_str()).collect();
        assert_eq!(names, ["a.parquet", "m/b.txt"]);
        let v1 = format!(r#"{{"format_version": 1, "files": {{"x": "{SHA}"}}}}"#);
        assert_eq!(manifest(&v1).unwrap().root, None);
    }

    #[test]
    fn malformed_containers_are_refused_with_a_reason() {
        let cases = [
            ("{not json", "not valid JSON"),
            (r#"{"format_version": NaN}"#, "not valid JSON"),
            ("[1, 2]", "not a JSON object"),
            (r#"{"files": {}}"#, "format null"),
            (r#"{"format_version": 9, "files": {}}"#, "format 9"),
            (r#"{"format_version": 1.0, "files": {}}"#, "format 1.0"),
            (
                r#"{"format_version": 2, "files": []}"#,
                "`files` must be an object",
            ),
            (
                r#"{"format_version": 1, "root": "x", "files": {}}"#,
                "no `root`",
            ),
            (
                r#"{"format_version": 2, "root": 5, "files": {}}"#,
                "versions/ prefix",
            ),
            (
                r#"{"format_version": 2, "root": "versions/../../etc", "files": {}}"#,
                "`root` refused",
            ),
            (
                r#"{"format_version": 2, "root": "versions/a", "files": {"../x": "0"}}"#,
                "entry refused",
            ),
            (
                r#"{"format_version": 2, "root": "versions/a", "files": {"/etc/passwd": "0"}}"#,
                "entry refused",
            ),
            (
                r#"{"format_version": 2, "root": "versions/a", "files": {"x": "ABC"}}"#,
                "not a SHA-256",
            ),
            (
                r#"{"format_version": 2, "root": "versions/a", "files": {}, "models": [{"files": ["y"]}]}"#,
                "models[0].files",
            ),
            (
                r#"{"format_version": 2, "root": "versions/a", "files": {}, "models": [{"files": "y"}]}"#,
                "models[0].files",
            ),
        ];
        for (body, expected) in cases {
            let got = reason(body);
            assert!(got.contains(expected), "{body}: {got}");
        }
    }
}
