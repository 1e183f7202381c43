//! Numbers the way the reader writes them: `200,000 EUR` in English, `200.000 EUR` in
//! German, `200 000 EUR` in French. Separators come from CLDR data (`num-format`);
//! the words of a digest stay English.

use chrono::NaiveDate;
use num_format::ToFormattedString;

use super::DigestError;

/// The languages a digest's numbers can be written for.
pub const SUPPORTED: [&str; 7] = ["en", "de", "fr", "es", "it", "nl", "pt"];

/// A reader's number conventions.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Locale {
    code: &'static str,
    inner: num_format::Locale,
}

impl Default for Locale {
    fn default() -> Self {
        Self {
            code: "en",
            inner: num_format::Locale::en,
        }
    }
}

impl Locale {
    /// Accepts a language (`de`) or a language with a region (`de-DE`, `de_AT`): the
    /// language decides.
    ///
    /// # Errors
    /// [`DigestError::Locale`] for a language not in [`SUPPORTED`].
    pub fn parse(raw: &str) -> Result<Self, DigestError> {
        let language = raw
            .split(['-', '_'])
            .next()
            .unwrap_or_default()
            .to_ascii_lowercase();
        let code = SUPPORTED
            .into_iter()
            .find(|c| *c == language)
            .ok_or_else(|| DigestError::Locale(raw.to_owned()))?;
        let inner =
            num_format::Locale::from_name(code).map_err(|_| DigestError::Locale(raw.to_owned()))?;
        Ok(Self { code, inner })
    }

    pub fn code(&self) -> &'static str {
        self.code
    }

    /// The group separator (`,` `.` or a narrow no-break space).
    pub fn group(&self) -> &'static str {
        self.inner.separator()
    }

    /// The decimal separator.
    pub fn decimal(&self) -> &'static str {
        self.inner.decimal()
    }

    /// A number with grouped thousands and at most `decimals` decimals (trailing zeros
    /// dropped, so 4.0 reads 4). Negative numbers keep their minus sign.
    pub fn number(&self, x: f64, decimals: u32) -> String {
        if !x.is_finite() {
            return "n/a".into();
        }
        let scale = 10f64.powi(decimals as i32);
        let scaled = (x.abs() * scale).round();
        let whole = (scaled / scale).trunc();
        let mut frac = (scaled - whole * scale).round() as u64;
        let mut digits = decimals as usize;
        while digits > 0 && frac.is_multiple_of(10) {
            frac /= 10;
            digits -= 1;
        }
        let sign = if x < 0.0 && scaled > 0.0 { "-" } else { "" };
        let whole = (whole as u64).to_formatted_string(&self.inner);
        if digits == 0 {
            format!("{sign}{whole}")
        } else {
            format!("{sign}{whole}{}{frac:0digits$}", self.decimal())
        }
    }

    /// A value in its unit: `200,000 EUR`; counts (`#`) and scores without a unit word.
    pub fn amount(&self, x: f64, unit: Option<&str>) -> String {
        let n = self.number(x, 1);
        match unit {
            Some(u) if !u.is_empty() && u != "#" && u != "score" => format!("{n} {u}"),
            _ => n,
        }
    }

    /// A whole percent: `83%`, or `83 %` where the language spaces it.
    pub fn percent(&self, p: i64) -> String {
        match self.code {
            "de" | "fr" | "es" => format!("{p}\u{a0}%"),
            _ => format!("{p}%"),
        }
    }

    /// A signed change in a unit: `+2,000 EUR`, `-3`.
    pub fn change(&self, x: f64, unit: Option<&str>) -> String {
        let sign = if x > 0.0 { "+" } else { "" };
        format!("{sign}{}", self.amount(x, unit))
    }

    /// Dates stay ISO 8601: unambiguous in every language.
    pub fn date(&self, d: NaiveDate) -> String {
        d.format("%Y-%m-%d").to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_follow_the_language() {
        let en = Locale::parse("en").unwrap();
        let de = Locale::parse("de-DE").unwrap();
        let fr = Locale::parse("fr_FR").unwrap();
        assert_eq!(en.amount(200_000.0, Some("EUR")), "200,000 EUR");
        assert_eq!(de.amount(200_000.0, Some("EUR")), "200.000 EUR");
        assert_eq!(en.number(1234.56, 1), "1,234.6");
        assert_eq!(de.number(1234.56, 1), "1.234,6");
        assert!(
            fr.number(1234.5, 1).ends_with(",5"),
            "{}",
            fr.number(1234.5, 1)
        );
        assert_eq!(en.number(4.0, 1), "4");
        assert_eq!(en.number(-3.25, 1), "-3.3");
        assert_eq!(en.number(f64::NAN, 1), "n/a");
        assert_eq!(en.percent(83), "83%");
        assert_eq!(de.percent(83), "83\u{a0}%");
        assert_eq!(en.change(2000.0, Some("EUR")), "+2,000 EUR");
        assert_eq!(en.amount(4.0, Some("#")), "4");
    }

    #[test]
    fn unknown_languages_are_refused_with_the_list() {
        let err = Locale::parse("xx").unwrap_err().to_string();
        assert!(err.contains("xx") && err.contains("en, de"), "{err}");
    }
}
