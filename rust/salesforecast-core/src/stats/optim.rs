//! Bounded Nelder-Mead minimisation: the optimiser both statistical models fit their
//! parameters with (the same simplex rules as statsforecast's, so fitted parameters agree).

/// Settings of one minimisation.
#[derive(Debug, Clone, Copy)]
pub struct NelderMead {
    /// Relative size of the first simplex's steps away from the start.
    pub init_step: f64,
    /// The step of a coordinate that starts at zero.
    pub zero_step: f64,
    /// Stop when the standard deviation of the simplex's values falls below this.
    pub tolerance: f64,
    /// Stop after this many iterations.
    pub max_iterations: usize,
}

impl Default for NelderMead {
    fn default() -> Self {
        Self {
            init_step: 0.05,
            zero_step: 1e-4,
            tolerance: 1e-4,
            max_iterations: 1_000,
        }
    }
}

/// The minimum found and the objective there.
#[derive(Debug, Clone)]
pub struct Minimum {
    pub x: Vec<f64>,
    pub value: f64,
}

fn clamp(x: &mut [f64], lower: &[f64], upper: &[f64]) {
    for ((v, lo), hi) in x.iter_mut().zip(lower).zip(upper) {
        *v = v.clamp(*lo, *hi);
    }
}

impl NelderMead {
    /// Minimises `f` from `start` within `[lower, upper]` (adaptive coefficients, points
    /// clamped to the bounds after every move).
    pub fn minimize(
        &self,
        mut f: impl FnMut(&[f64]) -> f64,
        start: &[f64],
        lower: &[f64],
        upper: &[f64],
    ) -> Minimum {
        let n = start.len();
        let mut objective = |x: &[f64]| {
            let v = f(x);
            if v.is_nan() {
                f64::INFINITY
            } else {
                v
            }
        };
        let mut x0 = start.to_vec();
        clamp(&mut x0, lower, upper);
        if n == 0 {
            let value = objective(&x0);
            return Minimum { x: x0, value };
        }
        let nf = n as f64;
        let (alpha, gamma, rho, sigma) = (1.0, 1.0 + 2.0 / nf, 0.75 - 0.5 / nf, 1.0 - 1.0 / nf);
        let mut simplex: Vec<Vec<f64>> = (0..=n)
            .map(|i| {
                let mut p = x0.clone();
                if i < n {
                    let v = p[i];
                    p[i] = if v == 0.0 {
                        self.zero_step
                    } else {
                        v * (1.0 + self.init_step)
                    }
                    .clamp(lower[i], upper[i]);
                }
                p
            })
            .collect();
        let mut values: Vec<f64> = simplex.iter().map(|p| objective(p)).collect();
        let mut order: Vec<usize> = (0..=n).collect();
        for _ in 0..self.max_iterations {
            order.sort_by(|&a, &b| values[a].total_cmp(&values[b]));
            let (best, worst, second_worst) = (order[0], order[n], order[n - 1]);
            let finite: Vec<f64> = values.iter().copied().filter(|v| v.is_finite()).collect();
            if finite.len() == values.len() {
                let mean = finite.iter().sum::<f64>() / finite.len() as f64;
                let sd = (finite.iter().map(|v| (v - mean).powi(2)).sum::<f64>()
                    / finite.len() as f64)
                    .sqrt();
                if sd < self.tolerance {
                    break;
                }
            }
            let centroid: Vec<f64> = (0..n)
                .map(|j| (simplex.iter().map(|p| p[j]).sum::<f64>() - simplex[worst][j]) / nf)
                .collect();
            let towards = |from: &[f64], coefficient: f64| -> Vec<f64> {
                let mut p: Vec<f64> = centroid
                    .iter()
                    .zip(from)
                    .map(|(c, x)| c + coefficient * (x - c))
                    .collect();
                clamp(&mut p, lower, upper);
                p
            };
            let reflected = towards(&simplex[worst], -alpha);
            let f_r = objective(&reflected);
            if values[best] <= f_r && f_r < values[second_worst] {
                simplex[worst] = reflected;
                values[worst] = f_r;
                continue;
            }
            if f_r < values[best] {
                let expanded = towards(&reflected, gamma);
                let f_e = objective(&expanded);
                if f_e < f_r {
                    simplex[worst] = expanded;
                    values[worst] = f_e;
                } else {
                    simplex[worst] = reflected;
                    values[worst] = f_r;
                }
                continue;
            }
            if values[second_worst] <= f_r && f_r < values[worst] {
                let contracted = towards(&reflected, rho);
                let f_c = objective(&contracted);
                if f_c <= f_r {
                    simplex[worst] = contracted;
                    values[worst] = f_c;
                    continue;
                }
            } else {
                // statsforecast's inside contraction: back through the centroid from the
                // clamped reflected point.
                let contracted = towards(&reflected, -rho);
                let f_c = objective(&contracted);
                if f_c < values[worst] {
                    simplex[worst] = contracted;
                    values[worst] = f_c;
                    continue;
                }
            }
            let anchor = simplex[best].clone();
            for i in 0..=n {
                if i == best {
                    continue;
                }
                let mut p: Vec<f64> = anchor
                    .iter()
                    .zip(&simplex[i])
                    .map(|(b, x)| b + sigma * (x - b))
                    .collect();
                clamp(&mut p, lower, upper);
                values[i] = objective(&p);
                simplex[i] = p;
            }
        }
        let best = (0..=n)
            .min_by(|&a, &b| values[a].total_cmp(&values[b]))
            .unwrap_or(0);
        Minimum {
            x: simplex[best].clone(),
            value: values[best],
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_the_minimum_of_a_bowl_inside_its_bounds() {
        let bowl = |x: &[f64]| (x[0] - 0.3).powi(2) + 2.0 * (x[1] + 1.0).powi(2);
        let m = NelderMead {
            tolerance: 1e-12,
            ..NelderMead::default()
        }
        .minimize(bowl, &[0.9, 0.5], &[0.0, -5.0], &[1.0, 5.0]);
        assert!(
            (m.x[0] - 0.3).abs() < 1e-4 && (m.x[1] + 1.0).abs() < 1e-4,
            "{m:?}"
        );
        // The unconstrained minimum at x0 = 2 lies outside [0, 1]: the bound holds.
        let m = NelderMead::default().minimize(|x| (x[0] - 2.0).powi(2), &[0.5], &[0.0], &[1.0]);
        assert!((m.x[0] - 1.0).abs() < 1e-6, "{m:?}");
    }
}
