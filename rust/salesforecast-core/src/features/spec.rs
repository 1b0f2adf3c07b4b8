//! What features to build: the spec, its validation, and the deterministic feature names.

use crate::error::{CoreError, Result};
use serde::Deserialize;

/// A window statistic. Definitions follow pandas/mlforecast: `std` has ddof = 1, `quantile`
/// interpolates linearly between order statistics.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Stat {
    Mean,
    Std,
    Min,
    Max,
    Sum,
    Median,
    Quantile(f64),
}

impl Stat {
    fn parse(text: &str, field: &str) -> Result<Self> {
        let bad = || {
            CoreError::invalid_argument(
                field,
                format!("unknown statistic {text:?}; use mean, std, min, max, sum, median or quantile(q) with 0 <= q <= 1"),
            )
        };
        Ok(match text {
            "mean" => Self::Mean,
            "std" => Self::Std,
            "min" => Self::Min,
            "max" => Self::Max,
            "sum" => Self::Sum,
            "median" => Self::Median,
            _ => {
                let q = text
                    .strip_prefix("quantile(")
                    .and_then(|r| r.strip_suffix(')'))
                    .and_then(|q| q.trim().parse::<f64>().ok())
                    .ok_or_else(bad)?;
                if !(0.0..=1.0).contains(&q) {
                    return Err(bad());
                }
                Self::Quantile(q)
            }
        })
    }

    /// `mean`, `std`, ..., `quantile0.9`.
    pub fn name(self) -> String {
        match self {
            Self::Mean => "mean".into(),
            Self::Std => "std".into(),
            Self::Min => "min".into(),
            Self::Max => "max".into(),
            Self::Sum => "sum".into(),
            Self::Median => "median".into(),
            Self::Quantile(q) => format!("quantile{q}"),
        }
    }
}

/// A calendar feature derived from the time column.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CalendarFeature {
    DayOfWeek,
    DayOfMonth,
    DayOfYear,
    WeekOfYear,
    Month,
    Quarter,
    Year,
    IsWeekend,
    IsMonthStart,
    IsMonthEnd,
    DayOfWeekSin,
    DayOfWeekCos,
    DayOfYearSin,
    DayOfYearCos,
    MonthSin,
    MonthCos,
    Holiday,
    DaysToHoliday,
    DaysSinceHoliday,
    Hour,
}

impl CalendarFeature {
    const ALL: [(&'static str, CalendarFeature); 20] = [
        ("dayofweek", Self::DayOfWeek),
        ("dayofmonth", Self::DayOfMonth),
        ("dayofyear", Self::DayOfYear),
        ("weekofyear", Self::WeekOfYear),
        ("month", Self::Month),
        ("quarter", Self::Quarter),
        ("year", Self::Year),
        ("is_weekend", Self::IsWeekend),
        ("is_month_start", Self::IsMonthStart),
        ("is_month_end", Self::IsMonthEnd),
        ("dayofweek_sin", Self::DayOfWeekSin),
        ("dayofweek_cos", Self::DayOfWeekCos),
        ("dayofyear_sin", Self::DayOfYearSin),
        ("dayofyear_cos", Self::DayOfYearCos),
        ("month_sin", Self::MonthSin),
        ("month_cos", Self::MonthCos),
        ("holiday", Self::Holiday),
        ("days_to_holiday", Self::DaysToHoliday),
        ("days_since_holiday", Self::DaysSinceHoliday),
        ("hour", Self::Hour),
    ];

    fn parse(text: &str, field: &str) -> Result<Self> {
        Self::ALL
            .iter()
            .find(|(name, _)| *name == text)
            .map(|(_, f)| *f)
            .ok_or_else(|| {
                let known: Vec<&str> = Self::ALL.iter().map(|(n, _)| *n).collect();
                CoreError::invalid_argument(
                    field,
                    format!(
                        "unknown calendar feature {text:?}; known: {}",
                        known.join(", ")
                    ),
                )
            })
    }

    pub fn name(self) -> &'static str {
        Self::ALL
            .iter()
            .find(|(_, f)| *f == self)
            .map_or("", |(n, _)| n)
    }
}

/// A transform of the target applied before features are built and undone on predictions.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum TargetTransform {
    /// `ln(1 + y)`; needs y > -1.
    Log1p,
    /// Per series: subtract the mean and divide by the standard deviation (ddof = 1) of the
    /// series' values in the frame the transform is fitted on.
    Standardize,
    /// `y[t] - y[t - k]` on the series' period grid.
    Difference(usize),
}

impl TargetTransform {
    fn parse(text: &str, field: &str) -> Result<Self> {
        match text {
            "log1p" => Ok(Self::Log1p),
            "standardize" => Ok(Self::Standardize),
            "diff" => Ok(Self::Difference(1)),
            _ => text
                .strip_prefix("diff")
                .and_then(|k| k.parse::<usize>().ok())
                .filter(|&k| k >= 1)
                .map(Self::Difference)
                .ok_or_else(|| {
                    CoreError::invalid_argument(field, format!("unknown target transform {text:?}; use log1p, standardize, diff or diff<k> (e.g. diff7)"))
                }),
        }
    }
}

/// Rolling statistics over `window` periods ending `lag` periods before each row.
#[derive(Debug, Clone, PartialEq)]
pub struct Rolling {
    pub window: usize,
    pub stats: Vec<Stat>,
    pub lag: usize,
    pub min_samples: usize,
}

/// Rolling statistics over every `season_length`-th period (e.g. the same weekday over the last
/// `window` weeks), ending `lag` periods before each row.
#[derive(Debug, Clone, PartialEq)]
pub struct SeasonalRolling {
    pub season_length: usize,
    pub window: usize,
    pub stats: Vec<Stat>,
    pub lag: usize,
    pub min_samples: usize,
}

/// Statistics over everything up to `lag` periods before each row (mean, std).
#[derive(Debug, Clone, PartialEq)]
pub struct Expanding {
    pub stats: Vec<Stat>,
    pub lag: usize,
}

/// Exponentially weighted mean (`adjust = False`) of the target lagged by `lag`.
#[derive(Debug, Clone, PartialEq)]
pub struct Ewm {
    pub alpha: f64,
    pub lag: usize,
}

/// Rolling statistics of the target summed over all series sharing `group_col` (store total).
#[derive(Debug, Clone, PartialEq)]
pub struct GroupRolling {
    pub group_col: String,
    pub window: usize,
    pub stats: Vec<Stat>,
    pub lag: usize,
    pub min_samples: usize,
}

impl GroupRolling {
    /// `store_id_rolling_mean_lag7_window7`, one per statistic.
    pub fn feature_names(&self) -> Vec<String> {
        self.stats
            .iter()
            .map(|s| {
                format!(
                    "{}_rolling_{}_lag{}_window{}",
                    self.group_col,
                    s.name(),
                    self.lag,
                    self.window
                )
            })
            .collect()
    }
}

/// A validated feature spec.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct FeatureSpec {
    pub lags: Vec<usize>,
    pub rolling: Vec<Rolling>,
    pub seasonal_rolling: Vec<SeasonalRolling>,
    pub expanding: Vec<Expanding>,
    pub ewm: Vec<Ewm>,
    pub group_rolling: Vec<GroupRolling>,
    pub calendar: Vec<CalendarFeature>,
    pub target_transforms: Vec<TargetTransform>,
    /// Lags of past-only covariates; the target lags when `None`.
    pub past_only_lags: Option<Vec<usize>>,
    /// Known-future columns given relative to their series' median in the history instead of
    /// raw (`{column}_rel`): a price change reads the same for a cheap and a dear product.
    pub relative: Vec<String>,
}

// The wire format (JSON from Python), checked field by field into `FeatureSpec`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawWindow {
    window: i64,
    #[serde(default)]
    stats: Vec<String>,
    lag: i64,
    #[serde(default)]
    min_samples: Option<i64>,
    #[serde(default)]
    season_length: Option<i64>,
    #[serde(default)]
    group_col: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawExpanding {
    stats: Vec<String>,
    lag: i64,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawEwm {
    alpha: f64,
    lag: i64,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSpec {
    #[serde(default)]
    lags: Vec<i64>,
    #[serde(default)]
    rolling: Vec<RawWindow>,
    #[serde(default)]
    seasonal_rolling: Vec<RawWindow>,
    #[serde(default)]
    expanding: Vec<RawExpanding>,
    #[serde(default)]
    ewm: Vec<RawEwm>,
    #[serde(default)]
    group_rolling: Vec<RawWindow>,
    #[serde(default)]
    calendar: Vec<String>,
    #[serde(default)]
    target_transforms: Vec<String>,
    #[serde(default)]
    past_only_lags: Option<Vec<i64>>,
    #[serde(default)]
    relative: Vec<String>,
}

fn positive(value: i64, field: &str) -> Result<usize> {
    if value >= 1 {
        Ok(value as usize)
    } else {
        Err(CoreError::invalid_argument(
            field,
            format!("must be at least 1, got {value}"),
        ))
    }
}

fn lag(value: i64, field: &str) -> Result<usize> {
    if value >= 1 {
        Ok(value as usize)
    } else {
        Err(CoreError::invalid_argument(
            field,
            format!(
                "must be at least 1, got {value} (lag 0 would read the target being predicted)"
            ),
        ))
    }
}

fn stats(raw: &[String], field: &str) -> Result<Vec<Stat>> {
    if raw.is_empty() {
        return Err(CoreError::invalid_argument(
            field,
            "give at least one statistic",
        ));
    }
    raw.iter()
        .enumerate()
        .map(|(i, s)| Stat::parse(s, &format!("{field}[{i}]")))
        .collect()
}

fn min_samples(raw: Option<i64>, window: usize, field: &str) -> Result<usize> {
    let value = match raw {
        None => window,
        Some(m) => positive(m, field)?,
    };
    if value > window {
        return Err(CoreError::invalid_argument(
            field,
            format!("{value} is larger than the window {window}"),
        ));
    }
    Ok(value)
}

impl FeatureSpec {
    /// Lags of the past-only covariates: their own, else the target's.
    pub fn past_lags(&self) -> &[usize] {
        self.past_only_lags.as_deref().unwrap_or(&self.lags)
    }

    /// Names of the lagged past-only covariates `columns`, in output order.
    pub fn past_feature_names<'a>(
        &self,
        columns: impl IntoIterator<Item = &'a str>,
    ) -> Vec<String> {
        columns
            .into_iter()
            .flat_map(|c| self.past_lags().iter().map(move |l| format!("{c}_lag{l}")))
            .collect()
    }

    /// Checks one entry of a spec's `part` (`rolling`, `seasonal_rolling`, `expanding`, `ewm`
    /// or `group_rolling`) given as JSON, as [`Self::from_json`] would; errors name the field
    /// under `name`, the entry as the caller wrote it (`Rolling.window`).
    pub fn check_part(part: &str, entry: &str, name: &str) -> Result<()> {
        const PARTS: [&str; 5] = [
            "rolling",
            "seasonal_rolling",
            "expanding",
            "ewm",
            "group_rolling",
        ];
        if !PARTS.contains(&part) {
            return Err(CoreError::invalid_argument(
                "part",
                format!("{part:?} is not one of {PARTS:?}"),
            ));
        }
        let entry_field = format!("{part}[0]");
        match Self::from_json(&format!("{{\"{part}\": [{entry}]}}")) {
            Ok(_) => Ok(()),
            Err(CoreError::InvalidArgument {
                name: field,
                reason,
            }) => Err(CoreError::InvalidArgument {
                name: match field.strip_prefix(&entry_field) {
                    Some(rest) => format!("{name}{rest}"),
                    None => name.to_owned(),
                },
                reason,
            }),
            Err(other) => Err(other),
        }
    }

    /// Parses and checks the JSON form; errors name the offending field (`rolling[1].window`).
    pub fn from_json(text: &str) -> Result<Self> {
        let raw: RawSpec = serde_json::from_str(text)
            .map_err(|e| CoreError::invalid_argument("features", e.to_string()))?;
        let mut spec = FeatureSpec {
            lags: raw
                .lags
                .iter()
                .enumerate()
                .map(|(i, &l)| lag(l, &format!("lags[{i}]")))
                .collect::<Result<_>>()?,
            ..FeatureSpec::default()
        };
        for (i, r) in raw.rolling.iter().enumerate() {
            let f = format!("rolling[{i}]");
            let window = positive(r.window, &format!("{f}.window"))?;
            let st = stats(&r.stats, &format!("{f}.stats"))?;
            spec.rolling.push(Rolling {
                window,
                lag: lag(r.lag, &format!("{f}.lag"))?,
                min_samples: min_samples(r.min_samples, window, &format!("{f}.min_samples"))?,
                stats: st,
            });
        }
        for (i, r) in raw.seasonal_rolling.iter().enumerate() {
            let f = format!("seasonal_rolling[{i}]");
            let window = positive(r.window, &format!("{f}.window"))?;
            let season = r.season_length.ok_or_else(|| {
                CoreError::invalid_argument(&format!("{f}.season_length"), "is required")
            })?;
            let st = stats(&r.stats, &format!("{f}.stats"))?;
            spec.seasonal_rolling.push(SeasonalRolling {
                season_length: positive(season, &format!("{f}.season_length"))?,
                window,
                lag: lag(r.lag, &format!("{f}.lag"))?,
                min_samples: min_samples(r.min_samples, window, &format!("{f}.min_samples"))?,
                stats: st,
            });
        }
        for (i, r) in raw.expanding.iter().enumerate() {
            let f = format!("expanding[{i}]");
            let st = stats(&r.stats, &format!("{f}.stats"))?;
            if let Some(bad) = st.iter().find(|s| {
                !matches!(
                    s,
                    Stat::Mean | Stat::Std | Stat::Sum | Stat::Min | Stat::Max
                )
            }) {
                return Err(CoreError::invalid_argument(&format!("{f}.stats"), format!("{} is not available as an expanding statistic; use mean, std, sum, min or max", bad.name())));
            }
            spec.expanding.push(Expanding {
                stats: st,
                lag: lag(r.lag, &format!("{f}.lag"))?,
            });
        }
        for (i, r) in raw.ewm.iter().enumerate() {
            let f = format!("ewm[{i}]");
            if !(r.alpha > 0.0 && r.alpha <= 1.0) {
                return Err(CoreError::invalid_argument(
                    &format!("{f}.alpha"),
                    format!("must be in (0, 1], got {}", r.alpha),
                ));
            }
            spec.ewm.push(Ewm {
                alpha: r.alpha,
                lag: lag(r.lag, &format!("{f}.lag"))?,
            });
        }
        for (i, r) in raw.group_rolling.iter().enumerate() {
            let f = format!("group_rolling[{i}]");
            let window = positive(r.window, &format!("{f}.window"))?;
            let st = stats(&r.stats, &format!("{f}.stats"))?;
            let group_col = r
                .group_col
                .clone()
                .filter(|g| !g.is_empty())
                .ok_or_else(|| {
                    CoreError::invalid_argument(&format!("{f}.group_col"), "is required")
                })?;
            spec.group_rolling.push(GroupRolling {
                group_col,
                window,
                lag: lag(r.lag, &format!("{f}.lag"))?,
                min_samples: min_samples(r.min_samples, window, &format!("{f}.min_samples"))?,
                stats: st,
            });
        }
        spec.calendar = raw
            .calendar
            .iter()
            .enumerate()
            .map(|(i, c)| CalendarFeature::parse(c, &format!("calendar[{i}]")))
            .collect::<Result<_>>()?;
        spec.target_transforms = raw
            .target_transforms
            .iter()
            .enumerate()
            .map(|(i, t)| TargetTransform::parse(t, &format!("target_transforms[{i}]")))
            .collect::<Result<_>>()?;
        spec.past_only_lags = raw
            .past_only_lags
            .map(|l| {
                l.iter()
                    .enumerate()
                    .map(|(i, &v)| lag(v, &format!("past_only_lags[{i}]")))
                    .collect::<Result<Vec<_>>>()
            })
            .transpose()?;
        for (i, column) in raw.relative.iter().enumerate() {
            if column.is_empty() || spec.relative.contains(column) {
                return Err(CoreError::invalid_argument(
                    &format!("relative[{i}]"),
                    format!("{column:?} is empty or repeated"),
                ));
            }
            spec.relative.push(column.clone());
        }
        Ok(spec)
    }

    /// The longest stretch of history any feature reads, in periods: the longest lag or
    /// window, plus the periods each difference transform reads before it.
    pub fn max_lookback(&self) -> usize {
        self.max_lookback_within(usize::MAX)
    }

    /// [`Self::max_lookback`] counting only the features whose own lag or window reaches at
    /// most `limit` periods back; the differences are added after, as every feature reads
    /// through them.
    pub fn max_lookback_within(&self, limit: usize) -> usize {
        let lags = self.lags.iter().copied();
        let rolling = self.rolling.iter().map(|r| r.lag + r.window - 1);
        let seasonal = self
            .seasonal_rolling
            .iter()
            .map(|r| r.lag + (r.window - 1) * r.season_length);
        let group = self.group_rolling.iter().map(|r| r.lag + r.window - 1);
        let features = lags
            .chain(rolling)
            .chain(seasonal)
            .chain(group)
            .filter(|&reach| reach <= limit)
            .max();
        let differences: usize = self
            .target_transforms
            .iter()
            .map(|t| match t {
                TargetTransform::Difference(k) => *k,
                _ => 0,
            })
            .sum();
        features.unwrap_or(0) + differences
    }

    /// Whether the log1p back-transform of this chain can be bias-corrected from the model's
    /// residuals: log1p comes first and only differences follow it, so a one-step residual on
    /// the transformed scale is the residual on the log scale.
    pub fn smearing_applies(&self) -> bool {
        match self.target_transforms.split_first() {
            Some((TargetTransform::Log1p, rest)) => rest
                .iter()
                .all(|t| matches!(t, TargetTransform::Difference(_))),
            _ => false,
        }
    }

    /// Checks the spec can drive a forecast of `horizon` periods: past-only covariates are known
    /// at the origin (recursive steps would need their values after it), and the recomputed
    /// recursive steps of group features mix in neither relative columns nor standardize (each
    /// step re-reads the frame, so forecast periods would enter the medians and the scale).
    pub fn check_forecastable(
        &self,
        horizon: usize,
        recursive: bool,
        has_past_only: bool,
    ) -> Result<()> {
        let short: Vec<usize> = self
            .past_lags()
            .iter()
            .copied()
            .filter(|&k| recursive && has_past_only && k < horizon)
            .collect();
        if !short.is_empty() {
            return Err(CoreError::invalid_argument(
                "past_only",
                format!(
                    "lags {short:?} are shorter than the horizon {horizon}, so the values they \
                     read are not known at the forecast origin; use longer lags or \
                     strategy='direct'"
                ),
            ));
        }
        if recursive && !self.relative.is_empty() && !self.group_rolling.is_empty() {
            return Err(CoreError::invalid_argument(
                "features",
                "relative columns with group_rolling need strategy='direct' (recursive steps \
                 with group features are not supported)",
            ));
        }
        let standardized = self
            .target_transforms
            .contains(&TargetTransform::Standardize);
        if recursive && standardized && !self.group_rolling.is_empty() {
            return Err(CoreError::invalid_argument(
                "features.target_transforms",
                "standardize with group_rolling needs strategy='direct' (recursive steps with \
                 group features would refit the scale on the forecasts)",
            ));
        }
        Ok(())
    }
}

/// Names of the target-derived features, in output order.
pub fn target_feature_names(spec: &FeatureSpec) -> Vec<String> {
    let mut names: Vec<String> = spec.lags.iter().map(|l| format!("lag{l}")).collect();
    for r in &spec.rolling {
        for s in &r.stats {
            names.push(format!(
                "rolling_{}_lag{}_window{}",
                s.name(),
                r.lag,
                r.window
            ));
        }
    }
    for r in &spec.seasonal_rolling {
        for s in &r.stats {
            names.push(format!(
                "seasonal_rolling_{}_lag{}_season{}_window{}",
                s.name(),
                r.lag,
                r.season_length,
                r.window
            ));
        }
    }
    for e in &spec.expanding {
        for s in &e.stats {
            names.push(format!("expanding_{}_lag{}", s.name(), e.lag));
        }
    }
    for e in &spec.ewm {
        names.push(format!("ewm_mean_lag{}_alpha{}", e.lag, e.alpha));
    }
    names
}
