//! A synthetic workload shaped like the TalkingData sample, for `simulate`.
//!
//! Every figure below comes from `shared/data/talkingdata/train_sample.csv` (100,000 real
//! clicks, 227 downloads; see its README), so a simulated run exercises the ledger the way
//! the real data does, at any size, with no download. The same seed gives the same
//! workload: the generator is ChaCha8, whose output is fixed for a seed, and the only
//! floating point is rounded to whole seconds or ranks.

use clickledger::Timestamp;
use rand::rngs::ChaCha8Rng;
use rand::{RngExt, SeedableRng};

use crate::drive::{Click, Workload};
use crate::error::CliError;

/// Programs (the sample's distinct `app` values).
const PROGRAMS: u16 = 161;
/// Partners (the sample's distinct `channel` values).
const PARTNERS: u16 = 161;

/// Program popularity is Zipf-Mandelbrot, weight `(rank + offset)^-exponent`, fitted by
/// least squares to the sample's click share by app rank: the model gives the top app
/// 18.1% of clicks (sample 18.3%), the top ten 81% (82%), rank 100 two clicks in 100,000
/// (two).
const PROGRAM_ZIPF_OFFSET: f64 = 20.0;
/// See [`PROGRAM_ZIPF_OFFSET`].
const PROGRAM_ZIPF_EXPONENT: f64 = 5.2;
/// Partner popularity, fitted the same way to clicks by channel rank: the top channel gets
/// 6.8% (sample 8.1%), the top ten 40% (39%).
const PARTNER_ZIPF_OFFSET: f64 = 6.5;
/// See [`PARTNER_ZIPF_OFFSET`].
const PARTNER_ZIPF_EXPONENT: f64 = 1.35;

/// Clicks that convert, per million: the sample's 227 in 100,000.
const CONVERSIONS_PER_MILLION: u32 = 2_270;

/// The first simulated hour: 2017-11-06T16:00:00Z, the sample's first click.
const START_UNIX_SECONDS: u32 = 1_509_984_000;
/// Clicks spread over 72 hours, the sample's span (16:00:00 to 15:59:51 three days on).
const SPAN_HOURS: u32 = 72;
/// The sample's clicks per UTC hour of the day (hour 0 first): a Chinese daily rhythm,
/// busy through the local day, quiet from 17:00 to 22:00 UTC (01:00 to 06:00 in Beijing).
const CLICKS_PER_UTC_HOUR: [u32; 24] = [
    5_654, 5_103, 5_137, 5_264, 6_039, 5_400, 5_079, 5_089, 4_576, 4_867, 5_511, 5_342, 5_326,
    5_619, 5_561, 4_957, 3_812, 2_176, 1_183, 870, 699, 864, 2_002, 3_870,
];

/// Time from click to conversion is log-normal around the sample's median of 198 s...
const CONVERT_MEDIAN_SECONDS: f64 = 198.0;
/// ...with the spread of its log (the standard deviation of ln(seconds) is 2.50)...
const CONVERT_LOG_SIGMA: f64 = 2.5;
/// ...truncated to the sample's range: 2 s...
const CONVERT_MIN_SECONDS: u32 = 2;
/// ...to 46,341 s, about 13 hours. Draws outside are drawn again, not clamped, so that
/// no spike forms at the bounds; about 5% are redrawn.
const CONVERT_MAX_SECONDS: u32 = 46_341;

/// A workload of `clicks` clicks, the same for the same seed.
pub(crate) fn generate(clicks: u32, seed: u64) -> Result<Workload, CliError> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let programs = Weighted::zipf(PROGRAMS, PROGRAM_ZIPF_OFFSET, PROGRAM_ZIPF_EXPONENT);
    let partners = Weighted::zipf(PARTNERS, PARTNER_ZIPF_OFFSET, PARTNER_ZIPF_EXPONENT);
    let hours = Weighted::new(
        (0..SPAN_HOURS).map(|hour| f64::from(CLICKS_PER_UTC_HOUR[(16 + hour as usize) % 24])),
    );
    let mut generated: Vec<Click> = Vec::new();
    CliError::reserve(&mut generated, clicks as usize, "clicks")?;
    generated.extend((0..clicks).map(|_| {
        let hour = hours.sample(&mut rng) as u32;
        let at = Timestamp::from_unix(START_UNIX_SECONDS + hour * 3_600)
            .plus_seconds(rng.random_range(0..3_600));
        let converts = rng.random_range(0..1_000_000) < CONVERSIONS_PER_MILLION;
        Click {
            at,
            program: sample_u16(&programs, &mut rng),
            partner: sample_u16(&partners, &mut rng),
            converts_at: converts.then(|| at.plus_seconds(time_to_convert(&mut rng))),
        }
    }));
    // Rows in time order, as a click log is written; stable, so the result stays fixed.
    generated.sort_by_key(|click| click.at);
    Ok(Workload {
        programs: (1..=PROGRAMS).map(|rank| format!("app-{rank}")).collect(),
        partners: (1..=PARTNERS).map(|rank| format!("ch-{rank}")).collect(),
        clicks: generated,
        order_prefix: "sim",
    })
}

/// Seconds from click to conversion (see [`CONVERT_MEDIAN_SECONDS`]).
fn time_to_convert(rng: &mut ChaCha8Rng) -> u32 {
    loop {
        // Box-Muller: a standard normal from two uniforms; 1 - u keeps the log finite.
        let radius = (-2.0 * (1.0 - rng.random::<f64>()).ln()).sqrt();
        let normal = radius * (std::f64::consts::TAU * rng.random::<f64>()).cos();
        let seconds = (CONVERT_MEDIAN_SECONDS.ln() + CONVERT_LOG_SIGMA * normal)
            .exp()
            .round();
        if (f64::from(CONVERT_MIN_SECONDS)..=f64::from(CONVERT_MAX_SECONDS)).contains(&seconds) {
            // In range, so the cast is exact.
            return seconds as u32;
        }
    }
}

fn sample_u16(weighted: &Weighted, rng: &mut ChaCha8Rng) -> u16 {
    // Tables are built from u16 counts, so every index fits.
    weighted.sample(rng) as u16
}

/// Draws indices in proportion to fixed weights.
struct Weighted {
    /// Running totals of the weights.
    cumulative: Vec<f64>,
}

impl Weighted {
    fn new(weights: impl Iterator<Item = f64>) -> Weighted {
        let mut total = 0.0;
        let cumulative: Vec<f64> = weights
            .map(|weight| {
                total += weight;
                total
            })
            .collect();
        assert!(total > 0.0, "weights add up to more than zero");
        Weighted { cumulative }
    }

    /// Weights `(rank + offset)^-exponent` for ranks 1 to `count`.
    fn zipf(count: u16, offset: f64, exponent: f64) -> Weighted {
        Weighted::new((1..=count).map(|rank| (f64::from(rank) + offset).powf(-exponent)))
    }

    fn sample(&self, rng: &mut ChaCha8Rng) -> usize {
        let total = self.cumulative.last().copied().unwrap_or(0.0);
        let target = rng.random::<f64>() * total;
        let index = self
            .cumulative
            .partition_point(|&running| running <= target);
        index.min(self.cumulative.len() - 1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_seed_gives_the_same_workload() {
        assert_eq!(generate(20_000, 7).unwrap(), generate(20_000, 7).unwrap());
    }

    #[test]
    fn another_seed_gives_another_workload() {
        assert_ne!(
            generate(20_000, 7).unwrap().clicks,
            generate(20_000, 8).unwrap().clicks
        );
    }

    #[test]
    fn workload_has_the_samples_shape() {
        let workload = generate(200_000, 1).unwrap();
        let clicks = &workload.clicks;
        assert_eq!(
            (workload.programs.len(), workload.partners.len()),
            (161, 161)
        );
        assert!(
            clicks.windows(2).all(|pair| pair[0].at <= pair[1].at),
            "rows in time order"
        );
        let first = clicks[0].at.unix();
        let last = clicks[clicks.len() - 1].at.unix();
        assert!(first >= START_UNIX_SECONDS && last < START_UNIX_SECONDS + SPAN_HOURS * 3_600);

        // 0.227% of 200,000 is 454; a binomial's standard deviation here is about 21.
        let conversions = workload.conversions();
        assert!(
            (380..=530).contains(&conversions),
            "{conversions} conversions"
        );

        let top_app = clicks.iter().filter(|click| click.program == 0).count();
        assert!(
            (0.16..0.20).contains(&(top_app as f64 / clicks.len() as f64)),
            "{top_app}"
        );
    }

    #[test]
    fn time_to_convert_stays_in_the_samples_range_around_its_median() {
        let mut rng = ChaCha8Rng::seed_from_u64(3);
        let mut delays: Vec<u32> = (0..10_001).map(|_| time_to_convert(&mut rng)).collect();
        delays.sort_unstable();
        assert!(delays[0] >= CONVERT_MIN_SECONDS && delays[10_000] <= CONVERT_MAX_SECONDS);
        let median = delays[5_000];
        assert!((150..=260).contains(&median), "median {median} s");
    }
}
