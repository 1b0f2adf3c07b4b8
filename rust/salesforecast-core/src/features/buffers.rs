//! Output buffers for the feature columns.
// `madvise` is a libc call; it only gives the kernel a hint about memory this module owns.
#![allow(unsafe_code)]

/// A zeroed f64 buffer of `len` values whose pages the kernel may back with transparent huge
/// pages: feature columns are hundreds of megabytes, and faulting them in 4 KiB at a time costs
/// more than computing the features (measured on this project's 2-core VM).
pub fn feature_buffer(len: usize) -> Vec<f64> {
    let mut buf = vec![0.0f64; len];
    const HUGE: usize = 2 << 20;
    let bytes = len * std::mem::size_of::<f64>();
    if bytes >= 4 * HUGE {
        let start = buf.as_mut_ptr() as usize;
        let aligned = start.next_multiple_of(HUGE);
        let end = (start + bytes) / HUGE * HUGE;
        if end > aligned {
            // SAFETY: [aligned, end) lies inside `buf`'s allocation; MADV_HUGEPAGE only changes
            // how the kernel backs those pages, never their contents.
            unsafe {
                libc::madvise(
                    aligned as *mut libc::c_void,
                    end - aligned,
                    libc::MADV_HUGEPAGE,
                )
            };
        }
    }
    buf
}
