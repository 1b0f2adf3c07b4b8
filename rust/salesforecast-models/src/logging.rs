//! The libraries' own log lines go to the `log` crate (and from there to Python's `logging`).
// Registering a C callback needs `unsafe`; the callbacks only read a NUL-terminated string.
#![allow(unsafe_code)]

use std::ffi::CStr;
use std::os::raw::c_char;
use std::sync::Once;

unsafe extern "C" fn lightgbm_log(message: *const c_char) {
    // SAFETY: LightGBM passes a valid NUL-terminated string for the duration of the call.
    let text = unsafe { CStr::from_ptr(message) }.to_string_lossy();
    let text = text.trim();
    if !text.is_empty() {
        log::info!(target: "salesforecast.lightgbm", "{text}");
    }
}

unsafe extern "C" fn xgboost_log(message: *const c_char) {
    // SAFETY: XGBoost passes a valid NUL-terminated string for the duration of the call.
    let text = unsafe { CStr::from_ptr(message) }.to_string_lossy();
    let text = text.trim();
    if !text.is_empty() {
        log::info!(target: "salesforecast.xgboost", "{text}");
    }
}

static REGISTER: Once = Once::new();

/// Routes both libraries' logs to `log` (once per process).
pub fn route_library_logs() {
    REGISTER.call_once(|| {
        // SAFETY: the callbacks are `extern "C"` functions that live for the whole process.
        unsafe {
            lightgbm3_sys::LGBM_RegisterLogCallback(Some(lightgbm_log));
            xgboost_lib_sys::XGBRegisterLogCallback(Some(xgboost_log));
        }
    });
}
