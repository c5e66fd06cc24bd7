//! What one download may cost: the retry policy (how often, how long to wait
//! between tries, for how long in all) and the limits of each transfer (size,
//! speed, silence, duration), enforced while the body streams.

use std::collections::VecDeque;
use std::hash::{BuildHasher, Hasher};
use std::time::{Duration, Instant};

use super::error::{AttemptError, SizeSource};

/// How hard to try. Tests use short timeouts and backoffs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Requests per URL for transient failures (at least 1).
    pub attempts: u32,
    /// Wait before the first retry of a URL; doubled each time up to
    /// `max_backoff`, with jitter.
    pub initial_backoff: Duration,
    pub max_backoff: Duration,
    /// No retry starts once this long has passed since a file's first
    /// request (every URL still gets its first try).
    pub retry_time: Duration,
    /// Longest `Retry-After` waited for; a server asking for more is not retried.
    pub max_retry_after: Duration,
    pub connect_timeout: Duration,
    /// Longest wait for the response head.
    pub read_timeout: Duration,
    /// Redirects followed before giving up on a URL (loops end here).
    pub max_redirects: usize,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            attempts: 3,
            initial_backoff: Duration::from_millis(500),
            max_backoff: Duration::from_secs(8),
            retry_time: Duration::from_secs(300),
            max_retry_after: Duration::from_secs(60),
            connect_timeout: Duration::from_secs(15),
            read_timeout: Duration::from_secs(30),
            max_redirects: 10,
        }
    }
}

impl RetryPolicy {
    /// The wait before retry number `retry` (0 for the first), without jitter.
    pub fn backoff(&self, retry: u32) -> Duration {
        let factor = 1u32.checked_shl(retry).unwrap_or(u32::MAX);
        self.initial_backoff.saturating_mul(factor).min(self.max_backoff)
    }

    /// The wait before retry number `retry`: `Retry-After` when the server
    /// gave one (the caller checked its bound), else the backoff with
    /// "equal jitter" (half fixed, half random) so clients that failed
    /// together do not come back together.
    pub fn wait_before(&self, retry: u32, retry_after: Option<Duration>, unit_random: f64) -> Duration {
        match retry_after {
            Some(d) => d,
            None => {
                let b = self.backoff(retry);
                b / 2 + b.mul_f64(unit_random.clamp(0.0, 1.0) / 2.0)
            }
        }
    }
}

/// A number in [0, 1) from the standard library's per-process random keys:
/// enough for jitter, without a random-number crate.
pub fn unit_random() -> f64 {
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u128(Instant::now().elapsed().as_nanos());
    (h.finish() >> 11) as f64 / (1u64 << 53) as f64
}

/// Limits of one transfer (one request and its body).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TransferLimits {
    /// Largest body accepted when the file's size is not known in advance.
    pub max_size: u64,
    /// Minimum average speed in bytes per second over `speed_time`
    /// (curl's `--speed-limit`); 0 turns the check off.
    pub speed_limit: u64,
    /// The window of the speed check (curl's `--speed-time`).
    pub speed_time: Duration,
    /// Longest silence in the body before the transfer is abandoned.
    pub stall_timeout: Duration,
    /// Longest a single request may take, body included.
    pub attempt_timeout: Duration,
}

impl Default for TransferLimits {
    fn default() -> Self {
        TransferLimits {
            max_size: 2 << 30,
            speed_limit: 1024,
            speed_time: Duration::from_secs(30),
            // Short enough that a stalled mirror gives way to the next in
            // seconds; long enough for TCP to recover from a few losses.
            stall_timeout: Duration::from_secs(8),
            attempt_timeout: Duration::from_secs(3600),
        }
    }
}

/// The size a body may reach, and where that figure comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SizeCap {
    pub bytes: u64,
    pub basis: SizeSource,
}

impl SizeCap {
    /// The expected size when known (an index says how big the file is),
    /// else the global limit.
    pub fn new(expected: Option<u64>, max_size: u64) -> SizeCap {
        match expected {
            Some(bytes) => SizeCap {
                bytes,
                basis: SizeSource::Expected,
            },
            None => SizeCap {
                bytes: max_size,
                basis: SizeSource::MaxSize,
            },
        }
    }
}

/// Watches one body as it streams: silence, average speed, total duration.
pub struct Meter {
    limits: TransferLimits,
    /// When the request was sent (the attempt deadline counts from here).
    sent: Instant,
    /// When the body started (speed and silence count from here).
    body: Instant,
    last_data: Instant,
    total: u64,
    /// (time, bytes so far), oldest first, at least 100 ms apart; the
    /// first one is at or before the start of the speed window.
    samples: VecDeque<(Instant, u64)>,
}

/// Samples are taken at most this often, which bounds their number.
const SAMPLE_STEP: Duration = Duration::from_millis(100);

impl Meter {
    pub fn new(limits: &TransferLimits, sent: Instant, body: Instant) -> Meter {
        Meter {
            limits: limits.clone(),
            sent,
            body,
            last_data: body,
            total: 0,
            samples: VecDeque::from([(body, 0)]),
        }
    }

    pub fn record(&mut self, now: Instant, bytes: u64) {
        if bytes == 0 {
            return;
        }
        self.total += bytes;
        self.last_data = now;
        // A new sample at most every SAMPLE_STEP: the window then counts up
        // to one step too many bytes, which only makes the check lenient.
        if self
            .samples
            .back()
            .is_none_or(|(t, _)| now.saturating_duration_since(*t) >= SAMPLE_STEP)
        {
            self.samples.push_back((now, self.total));
        }
        let window_start = now.checked_sub(self.limits.speed_time);
        while let (Some(start), Some((t, _))) = (window_start, self.samples.get(1))
            && *t <= start
        {
            self.samples.pop_front();
        }
    }

    /// Bytes received in the window ending at `now`, if the window is full.
    fn window_bytes(&self, now: Instant) -> Option<u64> {
        let start = now.checked_sub(self.limits.speed_time)?;
        if start < self.body {
            return None;
        }
        let base = self
            .samples
            .iter()
            .take_while(|(t, _)| *t <= start)
            .last()
            .map_or(0, |(_, n)| *n);
        Some(self.total - base)
    }

    /// Whether the transfer may go on at `now`.
    pub fn check(&self, now: Instant) -> Result<(), AttemptError> {
        let limits = &self.limits;
        if now.saturating_duration_since(self.sent) >= limits.attempt_timeout {
            return Err(AttemptError::Deadline {
                limit: limits.attempt_timeout,
            });
        }
        if now.saturating_duration_since(self.last_data) >= limits.stall_timeout {
            return Err(AttemptError::Stalled {
                limit: limits.stall_timeout,
            });
        }
        if limits.speed_limit > 0
            && let Some(bytes) = self.window_bytes(now)
        {
            let needed = (limits.speed_limit as f64 * limits.speed_time.as_secs_f64()) as u64;
            if bytes < needed {
                return Err(AttemptError::TooSlow {
                    bytes,
                    window: limits.speed_time,
                    limit: limits.speed_limit,
                });
            }
        }
        Ok(())
    }

    /// How long to wait for data before checking again.
    pub fn next_wait(&self, now: Instant) -> Duration {
        let until = |t: Instant| t.saturating_duration_since(now);
        // The speed check needs no exact timing: a quarter second is plenty.
        Duration::from_millis(250)
            .min(until(self.last_data + self.limits.stall_timeout))
            .min(until(self.sent + self.limits.attempt_timeout))
            .max(Duration::from_millis(1))
    }
}

/// `Retry-After`: seconds, or an HTTP date (RFC 9110 §10.2.3).
pub fn parse_retry_after(value: &str, now: std::time::SystemTime) -> Option<Duration> {
    let v = value.trim();
    if let Ok(secs) = v.parse::<u64>() {
        return Some(Duration::from_secs(secs));
    }
    let when = httpdate::parse_http_date(v).ok()?;
    Some(when.duration_since(now).unwrap_or(Duration::ZERO))
}

/// Sizes as written in the config file and on the command line: a number of
/// bytes with an optional binary unit (`500K`, `2GiB`, `1.5 M`).
pub fn parse_size(text: &str) -> Option<u64> {
    let t = text.trim();
    let split = t.find(|c: char| !(c.is_ascii_digit() || c == '.')).unwrap_or(t.len());
    let (number, unit) = t.split_at(split);
    let value: f64 = number.parse().ok()?;
    let shift = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 0,
        "k" | "kb" | "kib" => 10,
        "m" | "mb" | "mib" => 20,
        "g" | "gb" | "gib" => 30,
        "t" | "tb" | "tib" => 40,
        _ => return None,
    };
    let bytes = value * (1u64 << shift) as f64;
    (bytes.is_finite() && bytes >= 0.0 && bytes < u64::MAX as f64).then_some(bytes as u64)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limits() -> TransferLimits {
        TransferLimits {
            max_size: 1000,
            speed_limit: 100,
            speed_time: Duration::from_secs(10),
            stall_timeout: Duration::from_secs(5),
            attempt_timeout: Duration::from_secs(60),
        }
    }

    #[test]
    fn backoff_doubles_and_caps() {
        let p = RetryPolicy {
            initial_backoff: Duration::from_millis(100),
            max_backoff: Duration::from_millis(350),
            ..RetryPolicy::default()
        };
        assert_eq!(p.backoff(0), Duration::from_millis(100));
        assert_eq!(p.backoff(1), Duration::from_millis(200));
        assert_eq!(p.backoff(2), Duration::from_millis(350));
        assert_eq!(p.backoff(40), Duration::from_millis(350));
    }

    #[test]
    fn jitter_stays_between_half_and_all_of_the_backoff_and_retry_after_wins() {
        let p = RetryPolicy {
            initial_backoff: Duration::from_millis(400),
            ..RetryPolicy::default()
        };
        assert_eq!(p.wait_before(0, None, 0.0), Duration::from_millis(200));
        assert_eq!(p.wait_before(0, None, 1.0), Duration::from_millis(400));
        assert_eq!(p.wait_before(0, None, 0.5), Duration::from_millis(300));
        assert_eq!(
            p.wait_before(0, Some(Duration::from_secs(7)), 0.5),
            Duration::from_secs(7)
        );
        let r = unit_random();
        assert!((0.0..1.0).contains(&r), "{r}");
    }

    #[test]
    fn meter_catches_silence_slowness_and_the_deadline() {
        let t0 = Instant::now();
        let s = |secs: u64| t0 + Duration::from_secs(secs);
        let mut m = Meter::new(&limits(), t0, t0);
        // 200 B/s for 12 s: fine (the window holds 2000 B, 1000 needed).
        for i in 1..=12 {
            m.record(s(i), 200);
            assert_eq!(m.check(s(i)), Ok(()), "second {i}");
        }
        // Then a trickle of 50 B/s: the window average falls under 100 B/s.
        let mut ended = None;
        for i in 13..=30 {
            m.record(s(i), 50);
            if let Err(e) = m.check(s(i)) {
                ended = Some((i, e));
                break;
            }
        }
        let (at, e) = ended.expect("too slow");
        assert!(matches!(e, AttemptError::TooSlow { .. }), "{e:?}");
        assert!((18..=22).contains(&at), "ended at second {at}");

        // Silence: stalled after the stall timeout, whatever came before.
        let mut m = Meter::new(&limits(), t0, t0);
        m.record(s(1), 5000);
        assert_eq!(m.check(s(5)), Ok(()));
        assert!(matches!(m.check(s(6)), Err(AttemptError::Stalled { .. })));

        // Deadline: counted from the request, checked first.
        let m = Meter::new(&limits(), t0, t0);
        assert!(matches!(m.check(s(60)), Err(AttemptError::Deadline { .. })));

        // No speed verdict before a whole window has passed.
        let mut m = Meter::new(&limits(), t0, t0);
        for i in 1..=9 {
            m.record(s(i), 1);
            assert_eq!(m.check(s(i)), Ok(()));
        }
    }

    #[test]
    fn meter_samples_stay_bounded() {
        let t0 = Instant::now();
        let long = TransferLimits {
            attempt_timeout: Duration::from_secs(1000),
            ..limits()
        };
        let mut m = Meter::new(&long, t0, t0);
        for i in 0..100_000u64 {
            m.record(t0 + Duration::from_millis(i), 10);
        }
        assert!(m.samples.len() <= 110, "{}", m.samples.len());
        assert_eq!(m.check(t0 + Duration::from_millis(100_000)), Ok(()));
    }

    #[test]
    fn retry_after_in_seconds_or_as_a_date() {
        let now = std::time::UNIX_EPOCH + Duration::from_secs(1_000_000_000);
        assert_eq!(parse_retry_after(" 120 ", now), Some(Duration::from_secs(120)));
        let later = httpdate::fmt_http_date(now + Duration::from_secs(30));
        assert_eq!(parse_retry_after(&later, now), Some(Duration::from_secs(30)));
        let earlier = httpdate::fmt_http_date(now - Duration::from_secs(30));
        assert_eq!(parse_retry_after(&earlier, now), Some(Duration::ZERO));
        assert_eq!(parse_retry_after("soon", now), None);
    }

    #[test]
    fn sizes_with_binary_units() {
        assert_eq!(parse_size("2GiB"), Some(2 << 30));
        assert_eq!(parse_size("500 K"), Some(500 << 10));
        assert_eq!(parse_size("1.5M"), Some(3 << 19));
        assert_eq!(parse_size("123"), Some(123));
        assert_eq!(parse_size("12 parsecs"), None);
        assert_eq!(parse_size(""), None);
        assert_eq!(parse_size("-1"), None);
    }

    #[test]
    fn size_cap_prefers_the_expected_size() {
        assert_eq!(SizeCap::new(Some(10), 1 << 30).bytes, 10);
        assert_eq!(SizeCap::new(Some(10), 1 << 30).basis, SizeSource::Expected);
        assert_eq!(SizeCap::new(None, 99).basis, SizeSource::MaxSize);
    }
}
