//! Five-field cron schedules (minute, hour, day of month, month, day of week; UTC) for
//! scheduled backups: `*`, `*/n`, `a`, `a-b`, `a-b/n` and comma lists, as `CronJob` reads them.

use k8s_openapi::jiff::civil::DateTime;
use k8s_openapi::jiff::{tz::TimeZone, Timestamp, ToSpan};

/// A parsed schedule.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cron {
    minutes: Vec<bool>,
    hours: Vec<bool>,
    days: Vec<bool>,
    months: Vec<bool>,
    weekdays: Vec<bool>,
    /// Day of month and day of week were both restricted: either one matching is enough.
    either_day: bool,
}

fn field(text: &str, min: u32, max: u32, name: &str) -> Result<(Vec<bool>, bool), String> {
    let mut set = vec![false; (max + 1) as usize];
    let restricted = text != "*";
    for part in text.split(',') {
        let (range, step) = match part.split_once('/') {
            Some((r, s)) => (
                r,
                s.parse::<u32>()
                    .ok()
                    .filter(|s| *s > 0)
                    .ok_or_else(|| format!("{name}: bad step in `{part}`"))?,
            ),
            None => (part, 1),
        };
        let num = |s: &str| {
            s.parse::<u32>()
                .ok()
                .filter(|v| (min..=max).contains(v))
                .ok_or_else(|| format!("{name}: `{s}` is not in {min}-{max}"))
        };
        let (lo, hi) = match range {
            "*" => (min, max),
            r => match r.split_once('-') {
                Some((a, b)) => (num(a)?, num(b)?),
                None if step > 1 => (num(r)?, max),
                None => (num(r)?, num(r)?),
            },
        };
        if lo > hi {
            return Err(format!("{name}: empty range `{range}`"));
        }
        let mut v = lo;
        while v <= hi {
            set[v as usize] = true;
            v += step;
        }
    }
    Ok((set, restricted))
}

impl Cron {
    pub fn parse(text: &str) -> Result<Self, String> {
        let parts: Vec<&str> = text.split_whitespace().collect();
        let [mi, h, d, mo, w] = parts.as_slice() else {
            return Err(format!(
                "`{text}` must have five fields: minute hour day month weekday"
            ));
        };
        let (minutes, _) = field(mi, 0, 59, "minute")?;
        let (hours, _) = field(h, 0, 23, "hour")?;
        let (days, days_restricted) = field(d, 1, 31, "day of month")?;
        let (months, _) = field(mo, 1, 12, "month")?;
        let (mut weekdays, weekdays_restricted) = field(w, 0, 7, "day of week")?;
        // 7 is Sunday too.
        if weekdays[7] {
            weekdays[0] = true;
        }
        Ok(Self {
            minutes,
            hours,
            days,
            months,
            weekdays,
            either_day: days_restricted && weekdays_restricted,
        })
    }

    fn matches(&self, t: DateTime) -> bool {
        let day = self.days[t.day() as usize];
        let weekday = self.weekdays[t.weekday().to_sunday_zero_offset() as usize];
        let day_ok = if self.either_day {
            day || weekday
        } else {
            day && weekday
        };
        self.minutes[t.minute() as usize]
            && self.hours[t.hour() as usize]
            && self.months[t.month() as usize]
            && day_ok
    }

    /// The first scheduled minute strictly after `after`, within about four years.
    pub fn next_after(&self, after: Timestamp) -> Option<Timestamp> {
        let utc = TimeZone::UTC;
        let start = after.to_zoned(utc.clone()).datetime();
        let mut t = start
            .with()
            .second(0)
            .subsec_nanosecond(0)
            .build()
            .ok()?
            .checked_add(1.minute())
            .ok()?;
        // Whole days are skipped while the date cannot match, so this stays cheap.
        for _ in 0..(4 * 366 * 24 * 60) {
            let date_ok = {
                let day = self.days[t.day() as usize];
                let weekday = self.weekdays[t.weekday().to_sunday_zero_offset() as usize];
                let d = if self.either_day {
                    day || weekday
                } else {
                    day && weekday
                };
                d && self.months[t.month() as usize]
            };
            if !date_ok {
                t = t
                    .date()
                    .checked_add(1.day())
                    .ok()?
                    .to_datetime(Default::default());
                continue;
            }
            if self.matches(t) {
                return t.to_zoned(utc).ok().map(|z| z.timestamp());
            }
            t = t.checked_add(1.minute()).ok()?;
        }
        None
    }
    /// The latest scheduled minute after `last` and at most `now`: after a long pause (the
    /// operator down, say) one backup is due, not one per missed slot.
    pub fn latest_due(&self, last: Timestamp, now: Timestamp) -> Option<Timestamp> {
        let mut due = None;
        let mut t = last;
        // At most a year of minutes; past that, the newest found is as good.
        for _ in 0..(366 * 24 * 60) {
            match self.next_after(t) {
                Some(next) if next <= now => {
                    due = Some(next);
                    t = next;
                }
                _ => break,
            }
        }
        due
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: &str) -> Timestamp {
        s.parse().unwrap_or_else(|e| panic!("{s}: {e}"))
    }

    #[test]
    fn daily_and_stepped_schedules() {
        let c = Cron::parse("0 3 * * *").unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            c.next_after(at("2026-12-02T22:10:00Z")),
            Some(at("2026-12-03T03:00:00Z"))
        );
        assert_eq!(
            c.next_after(at("2026-12-03T03:00:00Z")),
            Some(at("2026-12-04T03:00:00Z"))
        );
        let c = Cron::parse("*/15 * * * *").unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            c.next_after(at("2026-12-02T22:10:30Z")),
            Some(at("2026-12-02T22:15:00Z"))
        );
        // Sundays (0 and 7), or the 1st of the month: either matches.
        let c = Cron::parse("30 1 1 * 7").unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            c.next_after(at("2026-12-02T00:00:00Z")),
            Some(at("2026-12-06T01:30:00Z"))
        );
    }

    #[test]
    fn only_the_latest_missed_slot_is_due() {
        let c = Cron::parse("0 * * * *").unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            c.latest_due(at("2026-12-02T01:30:00Z"), at("2026-12-02T05:10:00Z")),
            Some(at("2026-12-02T05:00:00Z"))
        );
        assert_eq!(
            c.latest_due(at("2026-12-02T05:00:00Z"), at("2026-12-02T05:10:00Z")),
            None
        );
    }

    #[test]
    fn bad_schedules_say_which_field() {
        assert!(Cron::parse("0 3 * *").unwrap_err().contains("five fields"));
        assert!(Cron::parse("0 25 * * *").unwrap_err().contains("hour"));
        assert!(Cron::parse("*/0 * * * *").unwrap_err().contains("minute"));
        assert!(Cron::parse("0 0 31 2 *").is_ok_and(|c| c.next_after(at("2026-01-01T00:00:00Z")).is_none()));
    }
}
