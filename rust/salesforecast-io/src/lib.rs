//! Storage for salesforecast: one code path, through `object_store`, to a local folder or an
//! S3-compatible bucket (AWS S3, MinIO, any server that speaks the S3 API).
//!
//! Locations are URIs: `s3://bucket/key`, `file:///absolute/path` or a plain local path. S3
//! settings come from the standard environment variables, read at every call so that a changed
//! variable takes effect: `AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`, `AWS_SESSION_TOKEN`,
//! `AWS_REGION` / `AWS_DEFAULT_REGION`, `AWS_ENDPOINT_URL` (path-style requests to a custom
//! endpoint) and `AWS_ALLOW_HTTP=true` for a plain-HTTP endpoint such as a loopback test server.
//! No credential is ever part of an error message.

use std::path::{Component, Path as FsPath, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::TryStreamExt;
use object_store::aws::{AmazonS3Builder, AmazonS3ConfigKey};
use object_store::local::LocalFileSystem;
use object_store::path::Path as ObjectPath;
use object_store::{ClientConfigKey, ObjectStore, ObjectStoreExt, PutPayload, RetryConfig};
use thiserror::Error;

pub mod manifest;

/// Everything that can go wrong reaching storage.
#[derive(Debug, Error)]
pub enum IoError {
    /// The location is not a URI this crate can reach, or a relative entry leaves its base.
    #[error("invalid storage location `{uri}`: {reason}")]
    InvalidLocation { uri: String, reason: String },

    /// Nothing is stored at the location.
    #[error("`{uri}` not found")]
    NotFound { uri: String },

    /// The store refused the credentials or the operation.
    #[error(
        "access to bucket `{bucket}` was refused ({reason}); check AWS_ACCESS_KEY_ID and \
         AWS_SECRET_ACCESS_KEY"
    )]
    AccessDenied { bucket: String, reason: String },

    /// The local file system refused the operation (permissions, a read-only mount).
    #[error("permission denied at `{uri}`: {reason}")]
    LocalAccessDenied { uri: String, reason: String },

    /// A bundle's manifest that is not JSON or whose file entries break the container's rules
    /// (see [`manifest::check_manifest`]).
    #[error("{base}: {reason}")]
    Manifest { base: String, reason: String },

    /// Any other failure of the store (network, server error, local file system).
    #[error("storage error at `{uri}`: {message}")]
    Store { uri: String, message: String },
}

pub type Result<T, E = IoError> = std::result::Result<T, E>;

#[derive(Debug, Clone)]
enum Backend {
    Local(PathBuf),
    S3 { bucket: String },
}

/// A resolved location: the store that holds it and the object path inside that store.
struct Location {
    uri: String,
    store: Arc<dyn ObjectStore>,
    path: ObjectPath,
    backend: Backend,
}

fn invalid(uri: &str, reason: impl Into<String>) -> IoError {
    IoError::InvalidLocation {
        uri: uri.to_owned(),
        reason: reason.into(),
    }
}

/// Credentials must never reach a message, whatever a server echoes back (an expired session
/// token comes back in S3's error reply).
fn scrub(message: String) -> String {
    ["AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN"]
        .iter()
        .filter_map(|name| std::env::var(name).ok())
        .filter(|secret| secret.len() >= 4)
        .fold(message, |text, secret| text.replace(&secret, "***"))
}

/// The S3 error code (`SignatureDoesNotMatch`, `InvalidAccessKeyId`, ...) in a server's reply,
/// instead of the whole reply.
fn s3_code(message: &str) -> Option<&str> {
    let start = message.find("<Code>")? + "<Code>".len();
    let end = message[start..].find("</Code>")? + start;
    Some(&message[start..end])
}

impl Location {
    fn parse(uri: &str) -> Result<Self> {
        if let Some(rest) = uri.strip_prefix("s3://") {
            let (bucket, key) = rest.split_once('/').unwrap_or((rest, ""));
            if bucket.is_empty() {
                return Err(invalid(uri, "no bucket name after s3://"));
            }
            // Timeouts join the client options read from the environment (proxy, certificates,
            // AWS_ALLOW_HTTP) instead of replacing them.
            let store = AmazonS3Builder::from_env()
                .with_bucket_name(bucket)
                .with_retry(RetryConfig {
                    max_retries: 3,
                    retry_timeout: Duration::from_secs(20),
                    ..RetryConfig::default()
                })
                .with_config(
                    AmazonS3ConfigKey::Client(ClientConfigKey::ConnectTimeout),
                    "5 seconds",
                )
                .with_config(
                    AmazonS3ConfigKey::Client(ClientConfigKey::Timeout),
                    "120 seconds",
                )
                .build()
                .map_err(|e| invalid(uri, scrub(e.to_string())))?;
            let path = ObjectPath::parse(key.trim_end_matches('/'))
                .map_err(|e| invalid(uri, e.to_string()))?;
            return Ok(Self {
                uri: uri.to_owned(),
                store: Arc::new(store),
                path,
                backend: Backend::S3 {
                    bucket: bucket.to_owned(),
                },
            });
        }
        let local = match uri.strip_prefix("file://") {
            Some(path) => PathBuf::from(path),
            None if uri.contains("://") => {
                return Err(invalid(
                    uri,
                    "only s3:// URIs, file:// URIs and local paths are supported",
                ))
            }
            None => PathBuf::from(uri),
        };
        if local.as_os_str().is_empty() {
            return Err(invalid(uri, "empty path"));
        }
        let absolute = if local.is_absolute() {
            local
        } else {
            std::env::current_dir()
                .map_err(|e| invalid(uri, format!("no current directory: {e}")))?
                .join(local)
        };
        let absolute = lexically_normal(&absolute);
        let path =
            ObjectPath::from_absolute_path(&absolute).map_err(|e| invalid(uri, e.to_string()))?;
        Ok(Self {
            uri: uri.to_owned(),
            // No automatic clean-up: it removes every emptied parent folder up to `/`.
            store: Arc::new(LocalFileSystem::new()),
            path,
            backend: Backend::Local(absolute),
        })
    }

    fn child(&self, relative: &str) -> Result<Self> {
        let parts = check_relative(relative)?;
        let mut path = self.path.clone();
        for part in &parts {
            path = path.clone().join(*part);
        }
        let backend = match &self.backend {
            Backend::Local(root) => {
                // Confinement holds on disk too: no component may be a symlink out of the base.
                let mut at = root.clone();
                for part in &parts {
                    at.push(part);
                    if std::fs::symlink_metadata(&at).is_ok_and(|m| m.file_type().is_symlink()) {
                        return Err(invalid(
                            relative,
                            format!(
                                "{} is a symbolic link; entries must be plain files",
                                at.display()
                            ),
                        ));
                    }
                }
                Backend::Local(at)
            }
            s3 @ Backend::S3 { .. } => s3.clone(),
        };
        Ok(Self {
            uri: format!("{}/{}", self.uri.trim_end_matches('/'), parts.join("/")),
            store: Arc::clone(&self.store),
            path,
            backend,
        })
    }

    fn error(&self, e: object_store::Error) -> IoError {
        match e {
            object_store::Error::NotFound { .. } => IoError::NotFound {
                uri: self.uri.clone(),
            },
            object_store::Error::PermissionDenied { source, .. }
            | object_store::Error::Unauthenticated { source, .. } => {
                let text = source.to_string();
                let reason = s3_code(&text).map_or_else(
                    || "permission denied".to_owned(),
                    |code| format!("the server answered {code}"),
                );
                IoError::AccessDenied {
                    bucket: match &self.backend {
                        Backend::S3 { bucket } => bucket.clone(),
                        Backend::Local(path) => path.display().to_string(),
                    },
                    reason,
                }
            }
            other if matches!(self.backend, Backend::Local(_)) && refused_locally(&other) => {
                IoError::LocalAccessDenied {
                    uri: self.uri.clone(),
                    reason: scrub(other.to_string()),
                }
            }
            other => {
                let text = other.to_string();
                // A server's reply can echo request details; its error code is what matters.
                let message = match s3_code(&text) {
                    Some(code) => format!("the server answered {code}"),
                    None => scrub(text),
                };
                IoError::Store {
                    uri: self.uri.clone(),
                    message,
                }
            }
        }
    }
}

/// Whether a local file system error is the system refusing access (permissions, a
/// read-only mount), as the I/O error somewhere in its chain of sources says.
fn refused_locally(error: &object_store::Error) -> bool {
    let mut current: Option<&(dyn std::error::Error + 'static)> = Some(error);
    while let Some(e) = current {
        if let Some(io) = e.downcast_ref::<std::io::Error>() {
            return matches!(
                io.kind(),
                std::io::ErrorKind::PermissionDenied | std::io::ErrorKind::ReadOnlyFilesystem
            );
        }
        current = e.source();
    }
    false
}

/// `..` and `.` resolved without touching the disk (the path may not exist yet).
fn lexically_normal(path: &FsPath) -> PathBuf {
    let mut out = PathBuf::new();
    for component in path.components() {
        match component {
            Component::ParentDir => {
                out.pop();
            }
            Component::CurDir => {}
            other => out.push(other),
        }
    }
    out
}

/// The segments of a relative entry name (`models/lightgbm.txt`) that must stay inside its base:
/// no absolute path, no URI, no `..` or `.`, no empty segment, no backslash.
pub fn check_relative(relative: &str) -> Result<Vec<&str>> {
    let refuse = |reason: &str| Err(invalid(relative, reason));
    if relative.is_empty() {
        return refuse("empty entry name");
    }
    if relative.starts_with('/') || relative.contains("://") || relative.contains(':') {
        return refuse("entries must be relative paths inside the base location");
    }
    if relative.contains('\\') || relative.contains('\0') {
        return refuse("backslashes and NUL are not allowed in entry names");
    }
    let parts: Vec<&str> = relative.split('/').collect();
    if parts
        .iter()
        .any(|p| p.is_empty() || *p == "." || *p == "..")
    {
        return refuse("entries may not contain empty, `.` or `..` segments");
    }
    Ok(parts)
}

/// One runtime per process, rebuilt after a fork (a forked Airflow task process cannot use the
/// parent's worker threads).
fn runtime() -> Result<Arc<tokio::runtime::Runtime>> {
    static RUNTIME: Mutex<Option<(u32, Arc<tokio::runtime::Runtime>)>> = Mutex::new(None);
    let mut slot = RUNTIME
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    let pid = std::process::id();
    if let Some((owner, rt)) = slot.as_ref() {
        if *owner == pid {
            return Ok(Arc::clone(rt));
        }
    }
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .thread_name("salesforecast-io")
        .enable_all()
        .build()
        .map_err(|e| IoError::Store {
            uri: String::new(),
            message: format!("could not start the I/O runtime: {e}"),
        })?;
    let rt = Arc::new(rt);
    if let Some((_, old)) = slot.replace((pid, Arc::clone(&rt))) {
        // The parent's runtime has no threads in this process; dropping it could block.
        std::mem::forget(old);
    }
    Ok(rt)
}

fn block_on<T>(future: impl std::future::Future<Output = T>) -> Result<T> {
    Ok(runtime()?.block_on(future))
}

/// Writes `data` at `uri` in one request: readers see the old object or the new one, never a
/// part (S3 PUTs are atomic; the local store writes a temporary file and renames it).
pub fn put(uri: &str, data: Vec<u8>) -> Result<()> {
    let at = Location::parse(uri)?;
    block_on(at.store.put(&at.path, PutPayload::from(data)))?
        .map(|_| ())
        .map_err(|e| at.error(e))
}

/// The bytes stored at `uri`.
pub fn get(uri: &str) -> Result<Vec<u8>> {
    read(&Location::parse(uri)?)
}

/// The bytes of `relative` under `base`, refusing any entry that would leave `base` (absolute
/// paths, URIs, `..`, symbolic links on a local disk) before anything is read.
pub fn get_within(base: &str, relative: &str) -> Result<Vec<u8>> {
    read(&Location::parse(base)?.child(relative)?)
}

fn read(at: &Location) -> Result<Vec<u8>> {
    block_on(async {
        let found = at.store.get(&at.path).await?;
        found.bytes().await
    })?
    .map(|b| b.to_vec())
    .map_err(|e| at.error(e))
}

/// Whether an object exists at `uri`.
pub fn exists(uri: &str) -> Result<bool> {
    let at = Location::parse(uri)?;
    match block_on(at.store.head(&at.path))? {
        Ok(_) => Ok(true),
        Err(object_store::Error::NotFound { .. }) => Ok(false),
        Err(e) => Err(at.error(e)),
    }
}

/// Every object under the prefix `uri`, as paths relative to it, sorted. A prefix holding
/// nothing (or a local folder that does not exist) lists nothing.
pub fn list(uri: &str) -> Result<Vec<String>> {
    let at = Location::parse(uri)?;
    if let Backend::Local(path) = &at.backend {
        if !path.is_dir() {
            return Ok(Vec::new());
        }
    }
    let listed: Vec<_> = block_on(at.store.list(Some(&at.path)).try_collect::<Vec<_>>())?
        .map_err(|e| at.error(e))?;
    let prefix: Vec<_> = at.path.parts().collect();
    let mut names: Vec<String> = listed
        .into_iter()
        .filter_map(|meta| {
            let parts: Vec<_> = meta.location.parts().collect();
            parts.starts_with(&prefix).then(|| {
                parts[prefix.len()..]
                    .iter()
                    .map(|p| p.as_ref().to_owned())
                    .collect::<Vec<_>>()
                    .join("/")
            })
        })
        .filter(|name| !name.is_empty())
        .collect();
    names.sort();
    Ok(names)
}

/// Deletes the object at `uri`; deleting what is not there is not an error.
pub fn delete(uri: &str) -> Result<()> {
    let at = Location::parse(uri)?;
    match block_on(at.store.delete(&at.path))? {
        Ok(()) | Err(object_store::Error::NotFound { .. }) => Ok(()),
        Err(e) => Err(at.error(e)),
    }
}

/// Deletes every object under the prefix `uri` (on a local disk, with the folders it emptied,
/// the prefix's own folder included, and nothing above it).
pub fn delete_prefix(uri: &str) -> Result<()> {
    let base = uri.trim_end_matches('/');
    for name in list(base)? {
        delete(&format!("{base}/{name}"))?;
    }
    if let Backend::Local(root) = Location::parse(base)?.backend {
        remove_empty_folders(&root);
    }
    Ok(())
}

/// Removes `folder` and its subfolders that hold no file; best effort (a folder another writer
/// just filled stays).
fn remove_empty_folders(folder: &FsPath) {
    let Ok(entries) = std::fs::read_dir(folder) else {
        return;
    };
    for entry in entries.flatten() {
        if entry.file_type().is_ok_and(|t| t.is_dir()) {
            remove_empty_folders(&entry.path());
        }
    }
    let _ = std::fs::remove_dir(folder);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scratch(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("sf-io-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }

    #[test]
    fn local_round_trip_list_and_delete() {
        let dir = scratch("round");
        let base = dir.to_str().unwrap();
        put(&format!("{base}/a/b.bin"), b"hello".to_vec()).unwrap();
        put(&format!("file://{base}/c.txt"), b"x".to_vec()).unwrap();
        assert_eq!(get(&format!("{base}/a/b.bin")).unwrap(), b"hello");
        assert_eq!(get_within(base, "a/b.bin").unwrap(), b"hello");
        assert_eq!(list(base).unwrap(), vec!["a/b.bin", "c.txt"]);
        assert!(exists(&format!("{base}/c.txt")).unwrap());
        assert!(!exists(&format!("{base}/nope")).unwrap());
        assert!(matches!(
            get(&format!("{base}/nope")),
            Err(IoError::NotFound { .. })
        ));
        put(&format!("{base}/keep/x"), b"x".to_vec()).unwrap();
        delete_prefix(&format!("{base}/a")).unwrap();
        assert!(!dir.join("a").exists(), "the emptied folder goes");
        delete(&format!("{base}/keep/x")).unwrap();
        assert!(
            dir.join("keep").is_dir(),
            "a single delete leaves the folders"
        );
        delete_prefix(base).unwrap();
        assert!(list(base).unwrap().is_empty());
        assert!(list(&format!("{base}/missing")).unwrap().is_empty());
    }

    #[test]
    fn entries_cannot_leave_their_base() {
        for bad in [
            "../x",
            "/etc/passwd",
            "a/../../x",
            "s3://b/k",
            "a//b",
            "./a",
            "a\\b",
            "",
        ] {
            assert!(
                matches!(check_relative(bad), Err(IoError::InvalidLocation { .. })),
                "{bad}"
            );
        }
        let dir = scratch("links");
        std::fs::write(dir.join("secret"), b"s").unwrap();
        let base = dir.join("bundle");
        std::fs::create_dir_all(&base).unwrap();
        std::os::unix::fs::symlink(dir.join("secret"), base.join("model.txt")).unwrap();
        let err = get_within(base.to_str().unwrap(), "model.txt").unwrap_err();
        assert!(err.to_string().contains("symbolic link"), "{err}");
    }

    #[test]
    fn unknown_schemes_are_refused() {
        assert!(matches!(
            get("gs://bucket/key"),
            Err(IoError::InvalidLocation { .. })
        ));
        assert!(matches!(
            get("s3:///key"),
            Err(IoError::InvalidLocation { .. })
        ));
    }
}
