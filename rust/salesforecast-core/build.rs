//! Test binaries only: the workspace builds polars with its Python feature (pyo3-polars turns it
//! on for the binding), and pyo3 is configured for an extension module, which leaves libpython
//! unlinked. The Makefile names the shared libpython so test executables link; the library
//! itself never links Python.

fn main() {
    println!("cargo:rerun-if-env-changed=SALESFORECAST_TEST_LIBPYTHON");
    if let Ok(lib) = std::env::var("SALESFORECAST_TEST_LIBPYTHON") {
        if let Some(dir) = std::path::Path::new(&lib).parent() {
            println!("cargo:rustc-link-arg={lib}");
            println!("cargo:rustc-link-arg=-Wl,-rpath,{}", dir.display());
        }
    }
}
