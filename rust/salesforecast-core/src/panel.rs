//! A long frame seen as a panel: which rows belong to which series, in time order.

use crate::error::{CoreError, Result};
use crate::freq::TimeAxis;
use polars::prelude::*;
use rayon::prelude::*;
use std::collections::HashMap;

/// Where the keys, times and target live in a long frame.
#[derive(Debug, Clone)]
pub struct ColumnRoles {
    pub id_cols: Vec<String>,
    pub time_col: String,
    pub target_col: String,
}

impl ColumnRoles {
    pub fn new(id_cols: Vec<String>, time_col: &str, target_col: &str) -> Result<Self> {
        if id_cols.is_empty() {
            return Err(CoreError::invalid_argument(
                "id_col",
                "give at least one key column",
            ));
        }
        Ok(Self {
            id_cols,
            time_col: time_col.to_owned(),
            target_col: target_col.to_owned(),
        })
    }
}

/// Looks a column up, or says which columns exist.
pub fn column<'a>(df: &'a DataFrame, name: &str) -> Result<&'a Column> {
    df.column(name).map_err(|_| CoreError::MissingColumn {
        column: name.to_owned(),
        available: df
            .get_column_names()
            .iter()
            .map(|c| c.as_str())
            .collect::<Vec<_>>()
            .join(", "),
    })
}

/// The time axis of a column, or a typed error naming it.
pub fn time_axis(col: &Column) -> Result<TimeAxis> {
    match col.dtype() {
        DataType::Date => Ok(TimeAxis::Date),
        DataType::Datetime(unit, _) => Ok(TimeAxis::Datetime {
            ticks_per_second: match unit {
                TimeUnit::Milliseconds => 1_000,
                TimeUnit::Microseconds => 1_000_000,
                TimeUnit::Nanoseconds => 1_000_000_000,
            },
        }),
        other => Err(CoreError::ColumnType {
            column: col.name().to_string(),
            expected: "Date or Datetime".into(),
            found: other.to_string(),
        }),
    }
}

/// Physical time values (days or datetime ticks); a null, or a time outside years 1 to 9999
/// ([`TimeAxis::bounds`]), is reported with its row.
pub fn time_values(col: &Column) -> Result<Vec<i64>> {
    let (first, last) = time_axis(col)?.bounds();
    let at_row = |what: &str, row: usize| {
        CoreError::invalid_data(col.name(), format!("{what} at row {row}"))
    };
    if col.null_count() > 0 {
        let nulls = col.is_null();
        let row = nulls.iter().position(|null| null == Some(true));
        return Err(at_row("null time", row.unwrap_or(0)));
    }
    let physical = col.to_physical_repr();
    let values: Vec<i64> = if col.dtype() == &DataType::Date {
        physical.i32()?.into_no_null_iter().map(i64::from).collect()
    } else {
        physical
            .cast(&DataType::Int64)?
            .i64()?
            .into_no_null_iter()
            .collect()
    };
    match values.iter().position(|t| !(first..=last).contains(t)) {
        Some(row) => Err(at_row("a time outside years 1 to 9999", row)),
        None => Ok(values),
    }
}

/// A numeric column as `f64`, nulls as NaN.
pub fn numeric_values(col: &Column) -> Result<Vec<f64>> {
    if !col.dtype().is_primitive_numeric() && !col.dtype().is_bool() {
        return Err(CoreError::ColumnType {
            column: col.name().to_string(),
            expected: "a numeric type".into(),
            found: col.dtype().to_string(),
        });
    }
    let cast = col.cast(&DataType::Float64)?;
    Ok(cast.f64()?.iter().map(|v| v.unwrap_or(f64::NAN)).collect())
}

pub(crate) fn check_key_dtype(col: &Column) -> Result<()> {
    let dt = col.dtype();
    if dt.is_string() || dt.is_categorical() || dt.is_integer() || dt.is_enum() {
        Ok(())
    } else {
        Err(CoreError::ColumnType {
            column: col.name().to_string(),
            expected: "String, Categorical or an integer type".into(),
            found: dt.to_string(),
        })
    }
}

/// Rows of a frame grouped by series and sorted by time within each series. Series are ordered
/// by their key values.
#[derive(Debug, Clone)]
pub struct Panel {
    pub axis: TimeAxis,
    /// Input row index of each position, in (series, time) order.
    pub order: Vec<IdxSize>,
    /// Series `i` occupies positions `offsets[i]..offsets[i + 1]`.
    pub offsets: Vec<usize>,
    /// Times in panel order.
    pub times: Vec<i64>,
    /// Key values of each series, one string per key column.
    pub keys: Vec<Vec<String>>,
    pub id_cols: Vec<String>,
    /// The frame was already sorted by series and time (`order` is `0..n`).
    pub identity: bool,
}

impl Panel {
    pub fn build(df: &DataFrame, roles: &ColumnRoles) -> Result<Self> {
        let height = df.height();
        let mut row_codes: Vec<Vec<u32>> = Vec::with_capacity(roles.id_cols.len());
        let mut dictionaries: Vec<Vec<String>> = Vec::with_capacity(roles.id_cols.len());
        for name in &roles.id_cols {
            let col = column(df, name)?;
            check_key_dtype(col)?;
            let as_str = col.cast(&DataType::String)?;
            let ca = as_str.str()?;
            let mut dict: HashMap<&str, u32> = HashMap::new();
            let mut values: Vec<String> = Vec::new();
            let mut codes = Vec::with_capacity(height);
            // Long frames list each series' rows together: a run of equal keys is coded once.
            let mut previous: Option<(&str, u32)> = None;
            for (row, v) in ca.iter().enumerate() {
                let v = v.ok_or_else(|| {
                    CoreError::invalid_data(name, format!("null key at row {row}"))
                })?;
                let code = match previous {
                    Some((p, c)) if p == v => c,
                    _ => {
                        let next = dict.len() as u32;
                        let c = *dict.entry(v).or_insert_with(|| {
                            values.push(v.to_owned());
                            next
                        });
                        previous = Some((v, c));
                        c
                    }
                };
                codes.push(code);
            }
            row_codes.push(codes);
            dictionaries.push(values);
        }

        // Combine the per-column codes into one series code per row.
        let (row_series, series_keys) = if row_codes.len() == 1 {
            let keys = (0..dictionaries[0].len() as u32).map(|c| vec![c]).collect();
            (std::mem::take(&mut row_codes[0]), keys)
        } else {
            let mut series_of_key: HashMap<Vec<u32>, u32> = HashMap::new();
            let mut series_keys: Vec<Vec<u32>> = Vec::new();
            let mut row_series = Vec::with_capacity(height);
            let mut key = vec![0u32; row_codes.len()];
            let mut previous: Option<u32> = None;
            for row in 0..height {
                let same = row > 0 && row_codes.iter().all(|codes| codes[row] == codes[row - 1]);
                let id = match previous {
                    Some(id) if same => id,
                    _ => {
                        for (slot, codes) in key.iter_mut().zip(&row_codes) {
                            *slot = codes[row];
                        }
                        let next = series_keys.len() as u32;
                        *series_of_key.entry(key.clone()).or_insert_with(|| {
                            series_keys.push(key.clone());
                            next
                        })
                    }
                };
                previous = Some(id);
                row_series.push(id);
            }
            (row_series, series_keys)
        };

        // Rank series by their key values so output order never depends on input order.
        let key_strings: Vec<Vec<String>> = series_keys
            .iter()
            .map(|codes| {
                codes
                    .iter()
                    .zip(&dictionaries)
                    .map(|(&c, dict)| dict[c as usize].clone())
                    .collect()
            })
            .collect();
        let mut by_key: Vec<u32> = (0..series_keys.len() as u32).collect();
        by_key.sort_by(|&a, &b| key_strings[a as usize].cmp(&key_strings[b as usize]));
        let mut rank = vec![0u32; by_key.len()];
        for (r, &s) in by_key.iter().enumerate() {
            rank[s as usize] = r as u32;
        }

        let time_col = column(df, &roles.time_col)?;
        let axis = time_axis(time_col)?;
        let raw_times = time_values(time_col)?;

        let mut order: Vec<IdxSize> = (0..height as IdxSize).collect();
        let sort_key = |i: &IdxSize| {
            let i = *i as usize;
            (rank[row_series[i] as usize], raw_times[i])
        };
        let identity = order.windows(2).all(|w| sort_key(&w[0]) <= sort_key(&w[1]));
        if !identity {
            order.par_sort_by_key(sort_key);
        }

        let mut offsets = Vec::with_capacity(by_key.len() + 1);
        offsets.push(0);
        for pos in 1..height {
            let (a, b) = (order[pos - 1] as usize, order[pos] as usize);
            if row_series[a] != row_series[b] {
                offsets.push(pos);
            }
        }
        if height > 0 {
            offsets.push(height);
        }
        let times = if identity {
            raw_times
        } else {
            order.iter().map(|&i| raw_times[i as usize]).collect()
        };
        let keys = by_key
            .iter()
            .map(|&s| key_strings[s as usize].clone())
            .collect();
        Ok(Self {
            axis,
            order,
            offsets,
            times,
            keys,
            id_cols: roles.id_cols.clone(),
            identity,
        })
    }

    pub fn n_series(&self) -> usize {
        self.offsets.len().saturating_sub(1)
    }

    /// Positions of series `i` in panel order.
    pub fn range(&self, i: usize) -> std::ops::Range<usize> {
        self.offsets[i]..self.offsets[i + 1]
    }

    /// `store_id=S01, product_id=P001`, for messages.
    pub fn label(&self, i: usize) -> String {
        self.id_cols
            .iter()
            .zip(&self.keys[i])
            .map(|(c, v)| format!("{c}={v}"))
            .collect::<Vec<_>>()
            .join(", ")
    }

    /// A column's values in panel order (no copy when the frame was already in order).
    pub fn gather<T: Copy>(&self, values: Vec<T>) -> Vec<T> {
        if self.identity {
            return values;
        }
        self.order.iter().map(|&i| values[i as usize]).collect()
    }

    /// The frame's rows in panel order.
    pub fn sorted_frame(&self, df: &DataFrame) -> Result<DataFrame> {
        if self.identity {
            return Ok(df.clone());
        }
        let idx = IdxCa::from_vec("idx".into(), self.order.clone());
        Ok(df.take(&idx)?)
    }
}
