//! Synthetic retail sales: a stores x products panel with the effects real sales data has,
//! and the noise-free mean each value was drawn from, so a forecast can be compared to an oracle.
//!
//! Demand is simulated day by day and summed into the requested periods, so weekly and monthly
//! panels are true aggregates of the same process.

use crate::calendar::{us_holidays, HolidayCalendar, UsHoliday};
use crate::error::{CoreError, Result};
use crate::freq::{date_to_epoch_day, epoch_day_to_date, Frequency, TimeAxis};
use chrono::{Datelike, NaiveDate};
use polars::prelude::*;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, Gamma, LogNormal, Normal, Poisson};
use rayon::prelude::*;
use std::f64::consts::PI;

/// What to generate.
#[derive(Debug, Clone)]
pub struct GeneratorConfig {
    pub n_stores: usize,
    pub n_products: usize,
    pub start: NaiveDate,
    pub end: NaiveDate,
    pub freq: Frequency,
    pub seed: u64,
}

/// The product categories, each with its weekday profile (Monday first) and usual yearly shape.
const CATEGORIES: [(&str, [f64; 7], YearlyShape); 6] = [
    (
        "grocery",
        [0.92, 0.86, 0.9, 0.96, 1.1, 1.3, 0.96],
        YearlyShape::HolidaySeason,
    ),
    (
        "beverages",
        [0.86, 0.84, 0.88, 0.95, 1.15, 1.36, 0.96],
        YearlyShape::Summer,
    ),
    (
        "household",
        [0.96, 0.92, 0.92, 0.96, 1.04, 1.2, 1.0],
        YearlyShape::Flat,
    ),
    (
        "apparel",
        [0.8, 0.8, 0.84, 0.9, 1.1, 1.46, 1.1],
        YearlyShape::BackToSchool,
    ),
    (
        "toys",
        [0.84, 0.8, 0.8, 0.88, 1.08, 1.4, 1.2],
        YearlyShape::HolidaySeason,
    ),
    (
        "garden",
        [0.86, 0.84, 0.86, 0.9, 1.06, 1.42, 1.06],
        YearlyShape::Summer,
    ),
];

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum YearlyShape {
    Flat,
    Summer,
    Winter,
    HolidaySeason,
    BackToSchool,
}

impl YearlyShape {
    /// Multiplier on day-of-year `doy` (1..=366) with amplitude `a`.
    fn factor(self, doy: f64, a: f64) -> f64 {
        let cyc = |peak: f64| (2.0 * PI * (doy - peak) / 365.25).cos();
        let bump = |centre: f64, width: f64| (-0.5 * ((doy - centre) / width).powi(2)).exp();
        match self {
            Self::Flat => 1.0,
            Self::Summer => (a * cyc(196.0)).exp(),
            Self::Winter => (a * cyc(15.0)).exp(),
            Self::HolidaySeason => 1.0 + 2.5 * a * bump(352.0, 14.0) + a * bump(335.0, 20.0),
            Self::BackToSchool => 1.0 + 2.0 * a * bump(228.0, 12.0),
        }
    }
}

/// Attributes shared by every store selling a product.
struct Product {
    category: usize,
    popularity: f64,
    yearly: YearlyShape,
    yearly_amplitude: f64,
    weekly_jitter: [f64; 7],
    base_price: f64,
    elasticity: f64,
    promo_rate: f64,
    dispersion: f64,
    holiday_effect: f64,
}

/// Attributes shared by every product in a store.
struct Store {
    size: f64,
    level: f64,
    closed: Vec<bool>,
}

/// splitmix64: decorrelates the per-entity seeds so each entity gets its own stream.
fn mix(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

fn rng_for(seed: u64, stream: u64, a: u64, b: u64) -> ChaCha8Rng {
    ChaCha8Rng::seed_from_u64(mix(mix(mix(seed) ^ stream) ^ a) ^ mix(b))
}

/// Whole days drawn from an exponential distribution with the given mean (waiting times).
fn exponential_days(rng: &mut ChaCha8Rng, mean: f64) -> usize {
    // 1 - u lies in (0, 1], so the logarithm is finite.
    (-(1.0 - rng.random::<f64>()).ln() * mean).min(1e7) as usize
}

fn make_product(seed: u64, p: usize) -> Product {
    let mut rng = rng_for(seed, 1, p as u64, 0);
    let category = rng.random_range(0..CATEGORIES.len());
    let default_shape = CATEGORIES[category].2;
    let yearly = match rng.random_range(0..10) {
        0 => YearlyShape::Flat,
        1 => YearlyShape::Winter,
        _ => default_shape,
    };
    let lognormal = |mu: f64, sigma: f64| LogNormal::new(mu, sigma).expect("finite parameters");
    let mut weekly_jitter = [1.0; 7];
    for w in &mut weekly_jitter {
        *w = 1.0 + rng.random_range(-0.05..0.05);
    }
    Product {
        category,
        // One product in eight is a slow mover with intermittent demand.
        popularity: if p % 8 == 5 {
            lognormal(-1.0, 0.5).sample(&mut rng)
        } else {
            lognormal(1.8, 0.9).sample(&mut rng)
        },
        yearly,
        yearly_amplitude: rng.random_range(0.1..0.6),
        weekly_jitter,
        base_price: (lognormal(1.6, 0.7).sample(&mut rng) * 100.0).round() / 100.0 + 0.49,
        elasticity: rng.random_range(1.0..3.0),
        // Promotions every 3 to 12 weeks on average; one product in five is never promoted.
        promo_rate: if rng.random_bool(0.2) {
            0.0
        } else {
            1.0 / rng.random_range(21.0..84.0)
        },
        dispersion: rng.random_range(1.5..15.0),
        holiday_effect: rng.random_range(0.6..1.3),
    }
}

fn make_store(
    seed: u64,
    s: usize,
    n_days: usize,
    start_day: i64,
    holidays: &[(i64, UsHoliday)],
) -> Store {
    let mut rng = rng_for(seed, 2, s as u64, 0);
    let size = (rng.random_range(600.0..4000.0_f64) / 10.0).round() * 10.0;
    let mut closed = vec![false; n_days];
    for &(day, kind) in holidays {
        if matches!(kind, UsHoliday::Christmas | UsHoliday::Thanksgiving) {
            let i = day - start_day;
            if (0..n_days as i64).contains(&i) {
                closed[i as usize] = true;
            }
        }
    }
    // Renovations, storms: about one closure spell a year, one to six days long.
    let mut day = 0usize;
    loop {
        day += 1 + exponential_days(&mut rng, 365.0);
        if day >= n_days {
            break;
        }
        let len = rng.random_range(1..=6);
        for c in closed.iter_mut().skip(day).take(len) {
            *c = true;
        }
        day += len;
    }
    Store {
        size,
        level: (size / 1500.0).powf(0.9),
        closed,
    }
}

/// Daily values of one series before aggregation.
struct DailySeries {
    sales: Vec<f64>,
    expected: Vec<f64>,
    price: Vec<f64>,
    discount: Vec<f64>,
    promo: Vec<bool>,
    stockout: Vec<bool>,
}

struct Calendar<'a> {
    start_day: i64,
    /// Days from `start` to `end` as asked: the trend's change point is placed within them.
    span_days: f64,
    n_days: usize,
    holidays: &'a [(i64, UsHoliday)],
    holiday_set: &'a HolidayCalendar,
}

fn simulate(
    seed: u64,
    s: usize,
    p: usize,
    store: &Store,
    product: &Product,
    cal: &Calendar<'_>,
) -> DailySeries {
    let n = cal.n_days;
    // One stream per component, so a longer date range extends the same series instead of
    // reshuffling it.
    let series = (s as u64) << 32 | p as u64;
    let mut rng = rng_for(seed, 3, series, 0);
    let mut price_rng = rng_for(seed, 3, series, 1);
    let mut promo_rng = rng_for(seed, 3, series, 2);
    let mut stockout_rng = rng_for(seed, 3, series, 3);
    let weekly = &CATEGORIES[product.category].1;

    // Trend: a log-linear slope that changes once, possibly changing sign.
    let change_at = rng.random_range(0.3..0.7) * cal.span_days;
    let slope_normal = Normal::new(0.0, 0.15).expect("finite parameters");
    let slope_before = 0.05 + slope_normal.sample(&mut rng);
    let slope_after = slope_normal.sample(&mut rng);

    // Shelf price: one or two permanent changes a year of 3 to 15 percent.
    let mut shelf_price = vec![product.base_price; n];
    let mut day = 0usize;
    loop {
        day += 1 + exponential_days(&mut price_rng, 240.0);
        if day >= n {
            break;
        }
        let change = 1.0
            + price_rng.random_range(0.03..0.15)
                * if price_rng.random_bool(0.7) {
                    1.0
                } else {
                    -1.0
                };
        for v in &mut shelf_price[day..] {
            *v = (*v * change * 100.0).round() / 100.0;
        }
    }

    // Promotions: start, length, depth; a dip follows as customers used up their stock.
    let mut discount = vec![0.0; n];
    let mut post_promo_dip = vec![1.0; n];
    if product.promo_rate > 0.0 {
        let mut day = exponential_days(&mut promo_rng, 1.0 / product.promo_rate);
        while day < n {
            let len = promo_rng.random_range(3..=14usize);
            let depth = f64::from(promo_rng.random_range(2..=8u8)) * 0.05;
            for d in discount.iter_mut().skip(day).take(len) {
                *d = depth;
            }
            let dip = 0.6 * depth;
            for k in 0..7usize {
                if let Some(v) = post_promo_dip.get_mut(day + len + k) {
                    *v = 1.0 - dip * (1.0 - k as f64 / 7.0);
                }
            }
            day += len + 7 + exponential_days(&mut promo_rng, 1.0 / product.promo_rate);
        }
    }

    // Stockouts: about one spell every eight months, one to six days long.
    let mut stockout = vec![false; n];
    let mut day = exponential_days(&mut stockout_rng, 240.0);
    while day < n {
        let len = stockout_rng.random_range(1..=6usize);
        for v in stockout.iter_mut().skip(day).take(len) {
            *v = true;
        }
        day += len + 1 + exponential_days(&mut stockout_rng, 240.0);
    }

    let mut pre_holiday = vec![1.0; n];
    for &(hday, kind) in cal.holidays {
        let i = hday - cal.start_day;
        let uplift = match kind {
            UsHoliday::Thanksgiving | UsHoliday::Christmas => 0.5,
            UsHoliday::Independence
            | UsHoliday::NewYear
            | UsHoliday::Memorial
            | UsHoliday::Labor => 0.25,
            _ => 0.0,
        };
        for k in 1..=3i64 {
            let j = i - k;
            if (0..n as i64).contains(&j) {
                pre_holiday[j as usize] += uplift * (1.0 - (k - 1) as f64 / 3.0);
            }
        }
        // Black Friday.
        if kind == UsHoliday::Thanksgiving && (0..n as i64).contains(&(i + 1)) {
            pre_holiday[(i + 1) as usize] += if product.category == 0 { 0.2 } else { 1.0 };
        }
    }

    let level = store.level * product.popularity;
    let k = product.dispersion;
    let mut out = DailySeries {
        sales: Vec::with_capacity(n),
        expected: Vec::with_capacity(n),
        price: Vec::with_capacity(n),
        discount: discount.clone(),
        promo: discount.iter().map(|&d| d > 0.0).collect(),
        stockout,
    };
    let mut stockout_day = 0usize;
    for t in 0..n {
        let date_day = cal.start_day + t as i64;
        let date = epoch_day_to_date(date_day);
        let years = t as f64 / 365.25;
        let change_years = change_at / 365.25;
        let trend = (slope_before * years.min(change_years)
            + slope_after * (years - change_years).max(0.0))
        .exp();
        let dow = date.weekday().num_days_from_monday() as usize;
        let week = weekly[dow] * product.weekly_jitter[dow];
        let year = product
            .yearly
            .factor(f64::from(date.ordinal()), product.yearly_amplitude);
        let price = shelf_price[t] * (1.0 - discount[t]);
        let price_effect = (shelf_price[t] / product.base_price).powf(-0.5 * product.elasticity);
        let promo_effect = (1.0 - discount[t]).powf(-product.elasticity);
        let holiday = if cal.holiday_set.contains(date_day) {
            product.holiday_effect
        } else {
            1.0
        };
        let closed = store.closed[t];
        let mean = if closed {
            0.0
        } else {
            level
                * trend
                * week
                * year
                * holiday
                * pre_holiday[t]
                * price_effect
                * promo_effect
                * post_promo_dip[t]
        };
        // Negative binomial as a gamma-Poisson mixture.
        let mut y = if mean > 0.0 {
            let lambda = Gamma::new(k, mean / k)
                .expect("positive parameters")
                .sample(&mut rng);
            if lambda > 0.0 {
                Poisson::new(lambda)
                    .expect("positive rate")
                    .sample(&mut rng)
            } else {
                0.0
            }
        } else {
            0.0
        };
        // Bulk orders and scanning errors.
        if !closed && rng.random_bool(0.001) {
            y = (y.max(1.0) * rng.random_range(3.0..8.0)).round();
        }
        // Censoring: the first stockout day sells part of the demand, the rest sell nothing.
        if out.stockout[t] && !closed {
            y = if stockout_day == 0 {
                (y * rng.random_range(0.0..0.5)).floor()
            } else {
                0.0
            };
            stockout_day += 1;
        } else {
            stockout_day = 0;
        }
        out.sales.push(y);
        out.expected.push(mean);
        out.price.push((price * 100.0).round() / 100.0);
        if closed {
            out.stockout[t] = false;
        }
    }
    out
}

/// The start day of each period and the day after the last period.
fn period_starts(config: &GeneratorConfig) -> Result<Vec<i64>> {
    let axis = TimeAxis::Date;
    config.freq.check_axis(axis).map_err(|_| {
        CoreError::invalid_argument(
            "freq",
            format!(
                "{} is shorter than a day; the generator makes daily or longer periods",
                config.freq
            ),
        )
    })?;
    let start = date_to_epoch_day(config.start);
    let end = date_to_epoch_day(config.end);
    let mut starts = Vec::new();
    let mut k = 0;
    loop {
        let t = config.freq.advance(start, k, axis);
        if t > end {
            starts.push(t);
            break;
        }
        starts.push(t);
        k += 1;
    }
    Ok(starts)
}

/// Generates the panel. Output columns, documented in the README: `store_id`, `product_id`,
/// `date`, `sales`, `expected_sales`, `price`, `promo`, `discount`, `is_holiday`, `is_closed`,
/// `stockout`, `store_size`, `category`.
pub fn generate_sales(config: &GeneratorConfig) -> Result<DataFrame> {
    if config.n_stores == 0 || config.n_stores > 100_000 {
        return Err(CoreError::invalid_argument(
            "n_stores",
            format!("must be between 1 and 100000, got {}", config.n_stores),
        ));
    }
    if config.n_products == 0 || config.n_products > 1_000_000 {
        return Err(CoreError::invalid_argument(
            "n_products",
            format!("must be between 1 and 1000000, got {}", config.n_products),
        ));
    }
    if config.end < config.start {
        return Err(CoreError::invalid_argument(
            "end",
            format!("{} is before start {}", config.end, config.start),
        ));
    }
    let starts = period_starts(config)?;
    let n_periods = starts.len() - 1;
    let n_series = config.n_stores * config.n_products;
    let n_rows = n_series
        .checked_mul(n_periods)
        .filter(|&r| r <= 2_000_000_000)
        .ok_or_else(|| {
            CoreError::invalid_argument(
                "n_products",
                format!("{n_series} series x {n_periods} periods is more than 2e9 rows"),
            )
        })?;
    let start_day = starts[0];
    let n_days = (starts[n_periods] - start_day) as usize;
    let (y0, y1) = (
        config.start.year(),
        epoch_day_to_date(starts[n_periods]).year(),
    );
    let holidays: Vec<(i64, UsHoliday)> = (y0 - 1..=y1 + 1)
        .flat_map(us_holidays)
        .map(|h| (date_to_epoch_day(h.date), h.kind))
        .collect();
    let holiday_set = HolidayCalendar::us(y0 - 1, y1 + 1);
    let cal = Calendar {
        start_day,
        span_days: (date_to_epoch_day(config.end) - start_day + 1) as f64,
        n_days,
        holidays: &holidays,
        holiday_set: &holiday_set,
    };

    let products: Vec<Product> = (0..config.n_products)
        .map(|p| make_product(config.seed, p))
        .collect();
    let stores: Vec<Store> = (0..config.n_stores)
        .map(|s| make_store(config.seed, s, n_days, start_day, &holidays))
        .collect();

    // Day index ranges of each period.
    let bounds: Vec<(usize, usize)> = starts
        .windows(2)
        .map(|w| ((w[0] - start_day) as usize, (w[1] - start_day) as usize))
        .collect();
    let period_holiday: Vec<bool> = starts
        .windows(2)
        .map(|w| holiday_set.any_in(w[0], w[1]))
        .collect();

    struct Block {
        sales: Vec<f64>,
        expected: Vec<f64>,
        price: Vec<f64>,
        discount: Vec<f64>,
        promo: Vec<bool>,
        closed: Vec<bool>,
        stockout: Vec<bool>,
    }
    let blocks: Vec<Block> = (0..n_series)
        .into_par_iter()
        .map(|i| {
            let (s, p) = (i / config.n_products, i % config.n_products);
            let daily = simulate(config.seed, s, p, &stores[s], &products[p], &cal);
            let closed_days = &stores[s].closed;
            let mut b = Block {
                sales: Vec::with_capacity(n_periods),
                expected: Vec::with_capacity(n_periods),
                price: Vec::with_capacity(n_periods),
                discount: Vec::with_capacity(n_periods),
                promo: Vec::with_capacity(n_periods),
                closed: Vec::with_capacity(n_periods),
                stockout: Vec::with_capacity(n_periods),
            };
            for &(a, z) in &bounds {
                let days = (z - a) as f64;
                b.sales.push(daily.sales[a..z].iter().sum());
                b.expected.push(daily.expected[a..z].iter().sum());
                b.price
                    .push((daily.price[a..z].iter().sum::<f64>() / days * 100.0).round() / 100.0);
                b.discount
                    .push(daily.discount[a..z].iter().cloned().fold(0.0, f64::max));
                b.promo.push(daily.promo[a..z].iter().any(|&v| v));
                b.closed.push(closed_days[a..z].iter().all(|&v| v));
                b.stockout.push(daily.stockout[a..z].iter().any(|&v| v));
            }
            b
        })
        .collect();

    let width = |n: usize| n.to_string().len().max(2);
    let (ws, wp) = (width(config.n_stores), width(config.n_products));
    let store_names: Vec<String> = (0..config.n_stores)
        .map(|s| format!("S{:0ws$}", s + 1))
        .collect();
    let product_names: Vec<String> = (0..config.n_products)
        .map(|p| format!("P{:0wp$}", p + 1))
        .collect();

    let mut store_id = Vec::with_capacity(n_rows);
    let mut product_id = Vec::with_capacity(n_rows);
    let mut date = Vec::with_capacity(n_rows);
    let mut is_holiday = Vec::with_capacity(n_rows);
    let mut store_size = Vec::with_capacity(n_rows);
    let mut category = Vec::with_capacity(n_rows);
    for i in 0..n_series {
        let (s, p) = (i / config.n_products, i % config.n_products);
        for (k, &t) in starts[..n_periods].iter().enumerate() {
            store_id.push(store_names[s].as_str());
            product_id.push(product_names[p].as_str());
            date.push(t as i32);
            is_holiday.push(period_holiday[k]);
            store_size.push(stores[s].size);
            category.push(CATEGORIES[products[p].category].0);
        }
    }
    let concat_f64 = |f: fn(&Block) -> &Vec<f64>| -> Vec<f64> {
        blocks.iter().flat_map(|b| f(b).iter().copied()).collect()
    };
    let concat_bool = |f: fn(&Block) -> &Vec<bool>| -> Vec<bool> {
        blocks.iter().flat_map(|b| f(b).iter().copied()).collect()
    };

    let date_col = Int32Chunked::from_vec("date".into(), date)
        .into_date()
        .into_column();
    let columns = vec![
        Column::new("store_id".into(), store_id),
        Column::new("product_id".into(), product_id),
        date_col,
        Column::new("sales".into(), concat_f64(|b| &b.sales)),
        Column::new("expected_sales".into(), concat_f64(|b| &b.expected)),
        Column::new("price".into(), concat_f64(|b| &b.price)),
        Column::new("promo".into(), concat_bool(|b| &b.promo)),
        Column::new("discount".into(), concat_f64(|b| &b.discount)),
        Column::new("is_holiday".into(), is_holiday),
        Column::new("is_closed".into(), concat_bool(|b| &b.closed)),
        Column::new("stockout".into(), concat_bool(|b| &b.stockout)),
        Column::new("store_size".into(), store_size),
        Column::new("category".into(), category),
    ];
    Ok(DataFrame::new(n_rows, columns)?)
}
