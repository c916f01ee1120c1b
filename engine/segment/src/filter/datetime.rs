//! Parsing of datetime payload strings into microseconds since the Unix epoch (UTC).
//!
//! Accepted: `YYYY-MM-DD`, optionally followed by a `T` (or `t`) or whitespace and `HH:MM`, or
//! `HH:MM:SS` with an optional fraction (digits beyond microseconds are cut, not rounded) and an
//! optional offset: `Z`, `±HH`, `±HH:MM`, `±HHMM`, `±HH:MM:SS[.ffffff]`, directly attached or after
//! whitespace, or a trailing ` UTC` (chrono's display form). Leading whitespace is skipped; a value
//! without an offset is UTC. Months, days, hours, minutes and seconds may have one digit. These are
//! the forms Qdrant's core accepts, as its Python local mode reproduces them.

use chrono::NaiveDate;

const MICROS_PER_SECOND: i64 = 1_000_000;
const MICROS_PER_DAY: i64 = 86_400 * MICROS_PER_SECOND;

/// Microseconds since 1970-01-01T00:00:00Z for a datetime string, or `None` if it is not one.
pub fn parse_datetime(s: &str) -> Option<i64> {
    let s = normalize(s);
    parse_normalized(&s).or_else(|| {
        // An offset of hours only (`+01`) is completed with minutes and the whole string retried.
        let b = s.as_bytes();
        let n = b.len();
        let hour_offset = n >= 3
            && matches!(b[n - 3], b'+' | b'-')
            && b[n - 2].is_ascii_digit()
            && b[n - 1].is_ascii_digit();
        if hour_offset {
            parse_normalized(&format!("{s}:00"))
        } else {
            None
        }
    })
}

/// Whitespace as Python's `str.isspace` sees it (Rust's set plus the ASCII separators 0x1C-0x1F).
fn is_space(c: char) -> bool {
    c.is_whitespace() || ('\u{1c}'..='\u{1f}').contains(&c)
}

/// Skips leading whitespace, spells ` UTC` and a lowercase trailing `z` as offsets, and cuts a
/// fraction longer than six digits down to microseconds.
fn normalize(s: &str) -> String {
    let s = s.trim_start_matches(is_space);
    let mut out = if let Some(head) = s.strip_suffix(" UTC") {
        format!("{head}+00:00")
    } else if let Some(head) = s.strip_suffix('z') {
        format!("{head}Z")
    } else {
        s.to_string()
    };
    if let Some(dot) = out.find('.') {
        let digits = out[dot + 1..].bytes().take_while(u8::is_ascii_digit).count();
        if digits > 6 {
            out.replace_range(dot + 7..dot + 1 + digits, "");
        }
    }
    out
}

/// A read position over the string being parsed.
struct Cursor<'a> {
    rest: &'a str,
}

impl Cursor<'_> {
    fn peek(&self) -> Option<char> {
        self.rest.chars().next()
    }

    fn eat(&mut self, c: char) -> bool {
        match self.rest.strip_prefix(c) {
            Some(rest) => {
                self.rest = rest;
                true
            }
            None => false,
        }
    }

    /// One or more whitespace characters.
    fn eat_spaces(&mut self) -> bool {
        let rest = self.rest.trim_start_matches(is_space);
        let ate = rest.len() < self.rest.len();
        self.rest = rest;
        ate
    }

    /// Exactly `n` ASCII digits.
    fn fixed(&mut self, n: usize) -> Option<u32> {
        let head = self.rest.get(..n)?;
        if !head.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        self.rest = &self.rest[n..];
        head.parse().ok()
    }

    /// Between `min` and `max` ASCII digits, as many as there are; `None` if more follow.
    fn digits(&mut self, min: usize, max: usize) -> Option<&str> {
        let n = self.rest.bytes().take_while(u8::is_ascii_digit).count();
        if n < min || n > max {
            return None;
        }
        let (head, rest) = self.rest.split_at(n);
        self.rest = rest;
        Some(head)
    }

    /// A one- or two-digit field no larger than `max`.
    fn field(&mut self, max: u32) -> Option<u32> {
        let v: u32 = self.digits(1, 2)?.parse().ok()?;
        (v <= max).then_some(v)
    }

    /// A day of the month: like [`Cursor::field`], but a single digit may be space-padded.
    fn day(&mut self) -> Option<u32> {
        if self.rest.starts_with(' ') && self.rest[1..].starts_with(|c: char| c.is_ascii_digit()) {
            self.rest = &self.rest[1..];
            let d = self.digits(1, 1)?.parse().ok()?;
            return (d >= 1).then_some(d);
        }
        self.field(31).filter(|d| *d >= 1)
    }
}

/// A fraction of 1 to 6 digits as microseconds.
fn micros_of_fraction(digits: &str) -> Option<i64> {
    let v: i64 = digits.parse().ok()?;
    let scale = 10i64.checked_pow(u32::try_from(6usize.checked_sub(digits.len())?).ok()?)?;
    Some(v * scale)
}

fn parse_normalized(s: &str) -> Option<i64> {
    let mut c = Cursor { rest: s };
    let year = c.fixed(4)?;
    if year == 0 || !c.eat('-') {
        return None;
    }
    let month = c.field(12)?;
    if !c.eat('-') {
        return None;
    }
    let day = c.day()?;
    let date = NaiveDate::from_ymd_opt(i32::try_from(year).ok()?, month, day)?;
    let days = date
        .signed_duration_since(NaiveDate::from_ymd_opt(1970, 1, 1)?)
        .num_days();
    let midnight = days * MICROS_PER_DAY;
    if c.rest.is_empty() {
        return Some(midnight);
    }
    if !(c.eat('T') || c.eat('t') || c.eat_spaces()) {
        return None;
    }
    let hour = i64::from(c.field(23)?);
    if !c.eat(':') {
        return None;
    }
    let minute = i64::from(c.field(59)?);
    let mut local = midnight + (hour * 3600 + minute * 60) * MICROS_PER_SECOND;
    if c.rest.is_empty() {
        return Some(local);
    }
    if !c.eat(':') {
        return None;
    }
    local += i64::from(c.field(59)?) * MICROS_PER_SECOND;
    if c.eat('.') {
        local += micros_of_fraction(c.digits(1, 6)?)?;
    }
    if c.rest.is_empty() {
        return Some(local);
    }
    let spaced = c.eat_spaces();
    let offset = offset_micros(&mut c)?;
    if !c.rest.is_empty() || (spaced && offset.is_none()) {
        return None;
    }
    Some(local - offset.unwrap_or(0))
}

/// An offset (`Z` or `±HH[:]MM[[:]SS[.ffffff]]`) in microseconds east of UTC. `Some(None)` when
/// nothing is left to read; `None` when what is left is not an offset.
fn offset_micros(c: &mut Cursor<'_>) -> Option<Option<i64>> {
    if c.rest.is_empty() {
        return Some(None);
    }
    if c.eat('Z') {
        return Some(Some(0));
    }
    let sign = match c.peek()? {
        '+' => 1,
        '-' => -1,
        _ => return None,
    };
    c.rest = &c.rest[1..];
    let hours = i64::from(c.fixed(2)?);
    let colon = c.eat(':');
    let minutes = i64::from(c.fixed(2).filter(|m| *m <= 59)?);
    let mut total = (hours * 3600 + minutes * 60) * MICROS_PER_SECOND;
    let second_colon = c.eat(':');
    if second_colon || c.peek().is_some_and(|ch| ch.is_ascii_digit()) {
        // Seconds must use the same separator as minutes.
        if colon != second_colon {
            return None;
        }
        total += i64::from(c.fixed(2).filter(|s| *s <= 59)?) * MICROS_PER_SECOND;
        if c.eat('.') {
            total += micros_of_fraction(c.digits(1, 6)?)?;
        }
    }
    (total < MICROS_PER_DAY).then_some(Some(sign * total))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalize_cuts_long_fractions_and_spells_offsets() {
        assert_eq!(
            normalize("  2021-01-01T00:00:00.123456789z"),
            "2021-01-01T00:00:00.123456Z"
        );
        assert_eq!(normalize("2021-01-01 00:00:00 UTC"), "2021-01-01 00:00:00+00:00");
        assert_eq!(
            normalize("2021-01-01 00:00:00.1234567+01:00"),
            "2021-01-01 00:00:00.123456+01:00"
        );
    }
}
