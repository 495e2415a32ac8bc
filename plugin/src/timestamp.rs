//! RFC 3339 timestamps without a date library: the `created` annotation and lock files'
//! `generated` are all that need one; and HTTP dates, which `Retry-After` may be.

/// Formats seconds since the Unix epoch as `YYYY-MM-DDTHH:MM:SSZ`, as Go's time.RFC3339 does in UTC.
pub fn rfc3339(secs: i64) -> String {
    let days = secs.div_euclid(86_400);
    let rem = secs.rem_euclid(86_400);
    let (y, m, d) = civil_from_days(days);
    format!("{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z", rem / 3600, rem / 60 % 60, rem % 60)
}

/// Seconds since the Unix epoch of an RFC 3339 timestamp, as Go's `time.RFC3339` reads
/// one (as strictly as Go 1.20+): `YYYY-MM-DDTHH:MM:SS`, an optional fraction (`.` or `,`
/// and digits, dropped), then `Z` or `±HH:MM`, every field in its range.
pub fn parse_rfc3339(text: &str) -> Option<i64> {
    let b = text.as_bytes();
    if b.len() < 20 || b[4] != b'-' || b[7] != b'-' || b[10] != b'T' || b[13] != b':' || b[16] != b':' {
        return None;
    }
    let n = |from: usize, to: usize| {
        let digits = text.get(from..to)?;
        digits.bytes().all(|c| c.is_ascii_digit()).then(|| digits.parse::<i64>().ok())?
    };
    let (y, m, d) = (n(0, 4)?, n(5, 7)?, n(8, 10)?);
    let (hh, mm, ss) = (n(11, 13)?, n(14, 16)?, n(17, 19)?);
    let leap = y % 4 == 0 && (y % 100 != 0 || y % 400 == 0);
    let month_days = [31, if leap { 29 } else { 28 }, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31];
    if !(1..=12).contains(&m) || d < 1 || d > month_days[m as usize - 1] || hh > 23 || mm > 59 || ss > 59 {
        return None;
    }
    let mut zone = 19;
    if matches!(b[zone], b'.' | b',') {
        let digits = b[zone + 1..].iter().take_while(|c| c.is_ascii_digit()).count();
        if digits == 0 {
            return None;
        }
        zone += 1 + digits;
    }
    let offset = match &b[zone..] {
        b"Z" => 0,
        [sign @ (b'+' | b'-'), _, _, b':', _, _] => {
            let (oh, om) = (n(zone + 1, zone + 3)?, n(zone + 4, zone + 6)?);
            if oh > 23 || om > 59 {
                return None;
            }
            (oh * 3600 + om * 60) * if *sign == b'-' { -1 } else { 1 }
        }
        _ => return None,
    };
    Some(days_from_civil(y, m, d) * 86_400 + hh * 3600 + mm * 60 + ss - offset)
}

/// Seconds since the Unix epoch of an HTTP date, in any of the three forms RFC 9110 §5.6.7
/// has recipients take (as Go's `http.ParseTime` does): `Sun, 06 Nov 1994 08:49:37 GMT`,
/// the obsolete `Sunday, 06-Nov-94 08:49:37 GMT` (a two-digit year 69-99 is 19xx, else
/// 20xx, as Go reads it) and `Sun Nov  6 08:49:37 1994`.
pub fn parse_http_date(text: &str) -> Option<i64> {
    let words: Vec<&str> = text.split_whitespace().collect();
    let (day, month, year, time) = match words.as_slice() {
        [_, day, month, year, time, "GMT"] => (*day, *month, *year, *time),
        [_, date, time, "GMT"] => {
            let mut parts = date.split('-');
            let (day, month, year) = (parts.next()?, parts.next()?, parts.next()?);
            if parts.next().is_some() || year.len() != 2 {
                return None;
            }
            (day, month, year, *time)
        }
        [_, month, day, time, year] => (*day, *month, *year, *time),
        _ => return None,
    };
    const MONTHS: [&str; 12] = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];
    let m = MONTHS.iter().position(|name| *name == month)? as i64 + 1;
    let number = |digits: &str| digits.bytes().all(|c| c.is_ascii_digit()).then(|| digits.parse::<i64>().ok())?;
    let (d, mut y) = (number(day)?, number(year)?);
    if year.len() == 2 {
        y += if y >= 69 { 1900 } else { 2000 };
    }
    let mut clock = time.split(':');
    let (hh, mm, ss) = (number(clock.next()?)?, number(clock.next()?)?, number(clock.next()?)?);
    if clock.next().is_some() || !(1..=31).contains(&d) || hh > 23 || mm > 59 || ss > 60 {
        return None;
    }
    Some(days_from_civil(y, m, d) * 86_400 + hh * 3600 + mm * 60 + ss)
}

/// Howard Hinnant's civil-to-days algorithm, the inverse of `civil_from_days`.
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y.rem_euclid(400);
    let mp = if m > 2 { m - 3 } else { m + 9 };
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// Howard Hinnant's days-to-civil algorithm (proleptic Gregorian calendar).
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (if m <= 2 { y + 1 } else { y }, m, d)
}

#[cfg(test)]
mod tests {
    #[test]
    fn reads_http_dates_in_their_three_forms() {
        let instant = Some(784_111_777);
        assert_eq!(super::parse_http_date("Sun, 06 Nov 1994 08:49:37 GMT"), instant);
        assert_eq!(super::parse_http_date("Sunday, 06-Nov-94 08:49:37 GMT"), instant);
        assert_eq!(super::parse_http_date("Sun Nov  6 08:49:37 1994"), instant);
        assert_eq!(
            super::parse_http_date("Tue, 24 Nov 2026 23:00:00 GMT"),
            super::parse_rfc3339("2026-11-24T23:00:00Z")
        );
        for bad in
            ["", "120", "Sun, 06 Nov 1994 08:49:37 CET", "Sun, 06 Foo 1994 08:49:37 GMT", "Sun, 06 Nov 1994 8:49 GMT"]
        {
            assert_eq!(super::parse_http_date(bad), None, "{bad}");
        }
    }

    #[test]
    fn formats_known_instants() {
        assert_eq!(super::rfc3339(0), "1970-01-01T00:00:00Z");
        assert_eq!(super::rfc3339(951_782_400), "2000-02-29T00:00:00Z");
        assert_eq!(super::rfc3339(1_763_719_199), "2025-11-21T09:59:59Z");
    }

    #[test]
    fn parses_what_it_formats() {
        for secs in [0, 951_782_400, 1_763_719_199, 4_102_444_800] {
            assert_eq!(super::parse_rfc3339(&super::rfc3339(secs)), Some(secs));
        }
        for bad in [
            "",
            "2025-11-21",
            "2025-13-01T00:00:00Z",
            "2025-11-21T09:59:59",
            "2025-11-21T09:59:59.Z",
            "2025-11-21T09:59:59+1:00",
            "2025-11-21 09:59:59Z",
            "2025-11-21T09:59:+9Z",
        ] {
            assert_eq!(super::parse_rfc3339(bad), None, "{bad}");
        }
    }

    #[test]
    fn parses_fractions_and_offsets_as_go_does() {
        let at = 1_763_719_199;
        assert_eq!(super::parse_rfc3339("2025-11-21T09:59:59.123456789Z"), Some(at));
        assert_eq!(super::parse_rfc3339("2025-11-21T10:59:59.5+01:00"), Some(at));
        assert_eq!(super::parse_rfc3339("2025-11-21T04:29:59-05:30"), Some(at));
    }
}
