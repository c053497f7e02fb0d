//! Whether the logs cover the window (`docs/notes/cloudtrail.md` §5.3).
//!
//! Without digest files the only evidence of coverage is the records
//! themselves: some record (of any service) at or before the window's start
//! and at or after its end, and no stretch inside the window longer than
//! the allowed quiet time without any record. The stretches are found with
//! one bit per minute of the window, so memory is bounded by the window's
//! length ([`MAX_WINDOW_SECS`]), not by the number of records.

/// Longest window accepted: 5 years (one bit per minute is 330 KB).
pub const MAX_WINDOW_SECS: i64 = 5 * 366 * 86_400;

/// Coverage evidence gathered from every record read.
#[derive(Debug, Clone)]
pub struct Coverage {
    from: i64,
    to: i64,
    /// Earliest record time seen.
    pub earliest: Option<i64>,
    /// Latest record time seen.
    pub latest: Option<i64>,
    minutes: Vec<u64>,
    /// Records read.
    pub records: u64,
}

impl Coverage {
    /// Empty coverage of `[from, to]` (the caller bounds the window).
    pub fn new(from: i64, to: i64) -> Self {
        let n = ((to - from).max(0) / 60 + 1) as usize;
        Self {
            from,
            to,
            earliest: None,
            latest: None,
            minutes: vec![0; n.div_ceil(64)],
            records: 0,
        }
    }

    fn buckets(&self) -> usize {
        ((self.to - self.from).max(0) / 60 + 1) as usize
    }

    /// Notes one record's time.
    pub fn note(&mut self, t: i64) {
        self.records += 1;
        self.earliest = Some(self.earliest.map_or(t, |e| e.min(t)));
        self.latest = Some(self.latest.map_or(t, |l| l.max(t)));
        if t >= self.from && t <= self.to {
            let i = ((t - self.from) / 60) as usize;
            if let Some(w) = self.minutes.get_mut(i / 64) {
                *w |= 1 << (i % 64);
            }
        }
    }

    /// Adds another file's evidence over the same window.
    pub fn merge(&mut self, other: &Coverage) {
        self.records += other.records;
        self.earliest = match (self.earliest, other.earliest) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        self.latest = match (self.latest, other.latest) {
            (Some(a), Some(b)) => Some(a.max(b)),
            (a, b) => a.or(b),
        };
        for (w, o) in self.minutes.iter_mut().zip(&other.minutes) {
            *w |= o;
        }
    }

    /// The longest run of minutes inside the window without a record, as
    /// `[start, end)` seconds, if any minute is empty.
    pub fn longest_quiet(&self) -> Option<(i64, i64)> {
        let mut best: Option<(usize, usize)> = None;
        let mut run_start = None;
        let n = self.buckets();
        for i in 0..=n {
            let set = i < n && self.minutes.get(i / 64).is_some_and(|w| w & (1 << (i % 64)) != 0);
            match (set || i == n, run_start) {
                (false, None) => run_start = Some(i),
                (true, Some(s)) => {
                    if best.map_or(true, |(bs, be)| i - s > be - bs) {
                        best = Some((s, i));
                    }
                    run_start = None;
                }
                _ => {}
            }
        }
        best.map(|(s, e)| (self.from + s as i64 * 60, (self.from + e as i64 * 60).min(self.to)))
    }
}
