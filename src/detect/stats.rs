//! Tail probabilities for the rate rule.

use statrs::function::gamma::gamma_lr;

/// `P(X ≥ k)` for `X ~ Poisson(λ)`, extended to real `k` through the regularized lower incomplete
/// gamma function (`P(X ≥ k) = P(k, λ)` for whole `k`).
pub fn poisson_tail(k: f64, lambda: f64) -> f64 {
    if k <= 0.0 {
        return 1.0;
    }
    if lambda <= 0.0 {
        return 0.0;
    }
    gamma_lr(k, lambda)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches_the_poisson_sum() {
        // P(X >= 3) for λ = 1: 1 - e^-1 (1 + 1 + 1/2).
        let exact = 1.0 - (-1.0f64).exp() * 2.5;
        assert!((poisson_tail(3.0, 1.0) - exact).abs() < 1e-12);
        // P(X >= 10) for λ = 1 is about 1.114e-7.
        let p = poisson_tail(10.0, 1.0);
        assert!((1.10e-7..1.12e-7).contains(&p), "{p}");
        assert_eq!(poisson_tail(0.0, 5.0), 1.0);
    }
}
