//! Any panel through `validate` and the entry check: neither panics, they agree on whether the
//! frame keeps the data contract (or on refusing a frequency it cannot have), and a weaker target rule never refuses what a stronger one
//! accepts.
#![no_main]

use arbitrary::Arbitrary;
use libfuzzer_sys::fuzz_target;
use salesforecast_core::validate::{check_frame, validate, TargetRule, ValidationOptions};
use salesforecast_core::Frequency;
use salesforecast_fuzz::RawPanel;

#[derive(Arbitrary, Debug)]
struct Input {
    panel: RawPanel,
    /// Any text as the declared frequency; inferred when it does not parse.
    freq: Option<String>,
}

fuzz_target!(|input: Input| {
    let Ok(df) = input.panel.frame() else {
        return;
    };
    let roles = RawPanel::roles();
    let freq = input.freq.as_deref().and_then(|f| Frequency::parse(f).ok());
    let options = ValidationOptions {
        roles: roles.clone(),
        freq,
        min_length: None,
        outlier_threshold: 3.5,
        as_of: None,
        drift_threshold: 0.2,
    };
    let finite = check_frame(&df, &roles, freq, TargetRule::Finite, "df");
    match validate(&df, None, &options) {
        Ok(report) => assert_eq!(
            report.ok,
            finite.is_ok(),
            "validate and the entry check disagree: {report:?} vs {finite:?}"
        ),
        // A frequency the time column cannot have: refused by both.
        Err(error) => assert!(
            finite.is_err(),
            "validate refused {error:?}, the entry check did not"
        ),
    }
    let optional = check_frame(&df, &roles, freq, TargetRule::Optional, "df");
    let unread = check_frame(&df, &roles, freq, TargetRule::Unread, "df");
    assert!(finite.is_err() || optional.is_ok(), "{optional:?}");
    assert!(optional.is_err() || unread.is_ok(), "{unread:?}");
});
