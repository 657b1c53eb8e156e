//! Skewed key choices for the benchmarks: a Zipf(1.0) sampler over a
//! small, seeded generator (a few clear lines instead of a dependency).

/// splitmix64: the next pseudo-random `u64` of `state`.
///
/// ```
/// let mut state = 1;
/// assert_ne!(cache_tests::zipf::next_random(&mut state), cache_tests::zipf::next_random(&mut state));
/// ```
pub fn next_random(state: &mut u64) -> u64 {
    *state = state.wrapping_add(0x9e37_79b9_7f4a_7c15);
    let mut z = *state;
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// Samples ranks 0..n with probability proportional to 1/(rank+1): the
/// cumulative weights, searched with a uniform draw.
///
/// ```
/// let zipf = cache_tests::zipf::Zipf::new(100);
/// let mut state = 7;
/// assert!(zipf.sample(&mut state) < 100);
/// ```
#[derive(Debug, Clone)]
pub struct Zipf(Vec<f64>);

#[expect(
    clippy::cast_precision_loss,
    reason = "ranks and draws are far below f64's 53 bits"
)]
impl Zipf {
    /// A sampler over `n` ranks.
    pub fn new(n: u64) -> Self {
        let mut total = 0.0;
        Self(
            (1..=n)
                .map(|k| {
                    total += 1.0 / k as f64;
                    total
                })
                .collect(),
        )
    }

    /// The next rank, drawn with `state`.
    pub fn sample(&self, state: &mut u64) -> u64 {
        let total = self.0.last().copied().unwrap_or(0.0);
        let u = (next_random(state) >> 11) as f64 / (1u64 << 53) as f64 * total;
        self.0.partition_point(|&c| c < u) as u64
    }
}
