//! Storage calls: URIs in, bytes or names out, the GIL released while the store answers.

use crate::errors::run;
use pyo3::prelude::*;
use pyo3::types::PyBytes;
use salesforecast_io as io;

/// Writes `data` at `uri` (`s3://bucket/key`, `file://...` or a local path) in one request.
#[pyfunction]
fn storage_put(py: Python<'_>, uri: &str, data: Vec<u8>) -> PyResult<()> {
    run(py, || io::put(uri, data))
}

/// The bytes stored at `uri`.
#[pyfunction]
fn storage_get<'py>(py: Python<'py>, uri: &str) -> PyResult<Bound<'py, PyBytes>> {
    let data = run(py, || io::get(uri))?;
    Ok(PyBytes::new(py, &data))
}

/// The bytes of `relative` under `base`; entries that would leave `base` are refused.
#[pyfunction]
fn storage_get_within<'py>(
    py: Python<'py>,
    base: &str,
    relative: &str,
) -> PyResult<Bound<'py, PyBytes>> {
    let data = run(py, || io::get_within(base, relative))?;
    Ok(PyBytes::new(py, &data))
}

/// Refuses an entry name that would leave its base location.
#[pyfunction]
fn storage_check_relative(py: Python<'_>, relative: &str) -> PyResult<()> {
    run(py, || io::check_relative(relative).map(|_| ()))
}

/// A checked manifest's `(format_version, root, [(file, sha256)])`.
type Container = (u64, Option<String>, Vec<(String, String)>);

/// A bundle manifest's container, checked.
#[pyfunction]
fn bundle_check_manifest(py: Python<'_>, raw: Vec<u8>, base: &str) -> PyResult<Container> {
    let container = run(py, || io::manifest::check_manifest(&raw, base))?;
    Ok((container.format_version, container.root, container.files))
}

/// Whether an object exists at `uri`.
#[pyfunction]
fn storage_exists(py: Python<'_>, uri: &str) -> PyResult<bool> {
    run(py, || io::exists(uri))
}

/// Every object under the prefix `uri`, relative to it, sorted.
#[pyfunction]
fn storage_list(py: Python<'_>, uri: &str) -> PyResult<Vec<String>> {
    run(py, || io::list(uri))
}

/// Deletes the object at `uri` (nothing there is not an error).
#[pyfunction]
fn storage_delete(py: Python<'_>, uri: &str) -> PyResult<()> {
    run(py, || io::delete(uri))
}

/// Deletes every object under the prefix `uri`.
#[pyfunction]
fn storage_delete_prefix(py: Python<'_>, uri: &str) -> PyResult<()> {
    run(py, || io::delete_prefix(uri))
}

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(storage_put, m)?)?;
    m.add_function(wrap_pyfunction!(storage_get, m)?)?;
    m.add_function(wrap_pyfunction!(storage_get_within, m)?)?;
    m.add_function(wrap_pyfunction!(storage_check_relative, m)?)?;
    m.add_function(wrap_pyfunction!(bundle_check_manifest, m)?)?;
    m.add_function(wrap_pyfunction!(storage_exists, m)?)?;
    m.add_function(wrap_pyfunction!(storage_list, m)?)?;
    m.add_function(wrap_pyfunction!(storage_delete, m)?)?;
    m.add_function(wrap_pyfunction!(storage_delete_prefix, m)?)?;
    Ok(())
}
