//! The fact check: every number a digest states must be a number of its facts (allowing
//! rounding, percent scaling and the reader's separators), and every name one the facts
//! hold. The LLM's prose passes this or is not used; the tests hold the templates to it.

use std::collections::BTreeSet;

use serde_json::Value;

use super::locale::Locale;

/// The numbers and words a facts document holds.
#[derive(Debug, Clone)]
pub struct FactIndex {
    numbers: Vec<f64>,
    words: BTreeSet<String>,
}

impl FactIndex {
    /// Every JSON number, and every digit run inside a string (dates, names like
    /// `Joint business plan 2025-07`), with every word of every string and key.
    pub fn of(facts: &Value) -> Self {
        let mut index = Self {
            numbers: Vec::new(),
            words: BTreeSet::new(),
        };
        index.walk(facts);
        index.numbers.sort_by(f64::total_cmp);
        index.numbers.dedup();
        index
    }

    fn walk(&mut self, v: &Value) {
        match v {
            Value::Number(n) => {
                if let Some(x) = n.as_f64() {
                    self.numbers.push(x);
                }
            }
            Value::String(s) => self.text(s),
            Value::Array(items) => items.iter().for_each(|i| self.walk(i)),
            Value::Object(map) => {
                for (k, v) in map {
                    self.text(k);
                    self.walk(v);
                }
            }
            Value::Bool(_) | Value::Null => {}
        }
    }

    fn text(&mut self, s: &str) {
        for run in s
            .split(|c: char| !c.is_ascii_digit())
            .filter(|r| !r.is_empty())
        {
            if let Ok(x) = run.parse::<f64>() {
                self.numbers.push(x);
            }
        }
        for word in words(s) {
            self.words.insert(word.to_lowercase());
        }
    }

    /// Whether `x` (as read, sign dropped) is a fact number as a reader would see it:
    /// itself, rounded to 0-2 decimals, or as a percent rounded to 0-1 decimals.
    pub fn admits(&self, x: f64) -> bool {
        let x = x.abs();
        let close = |a: f64, b: f64| (a - b).abs() <= 1e-6 * b.abs().max(1.0);
        self.numbers.iter().any(|&f| {
            let f = f.abs();
            [1.0, 10.0, 100.0]
                .into_iter()
                .any(|scale| close(x, (f * scale).round() / scale))
                || [1.0, 10.0]
                    .into_iter()
                    .any(|scale| close(x, (f * 100.0 * scale).round() / scale))
        })
    }

    /// Whether `word` (any case) appears in the facts.
    pub fn knows(&self, word: &str) -> bool {
        self.words.contains(&word.to_lowercase())
    }
}

/// The numbers `text` states, as written and as read in `locale`. Identifiers that start
/// with a letter (`p0001.2`, `Q4`) are not numbers; a date's parts are.
pub fn numbers(text: &str, locale: &Locale) -> Vec<(String, f64)> {
    let group: Vec<char> = locale.group().chars().collect();
    let decimal: Vec<char> = locale.decimal().chars().collect();
    let chars: Vec<char> = text.chars().collect();
    let mut found = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        if c.is_alphabetic() || c == '_' {
            // Skip the whole word, digits inside it included.
            while i < chars.len()
                && (chars[i].is_alphanumeric() || matches!(chars[i], '_' | '.' | '-'))
            {
                i += 1;
            }
            continue;
        }
        if !c.is_ascii_digit() {
            i += 1;
            continue;
        }
        let start = i;
        let mut digits = String::new();
        let mut seen_decimal = false;
        while i < chars.len() {
            let c = chars[i];
            if c.is_ascii_digit() {
                digits.push(c);
                i += 1;
            } else if group.contains(&c) && run_of_three(&chars, i + 1) && !seen_decimal {
                i += 1;
            } else if decimal.contains(&c)
                && !seen_decimal
                && chars.get(i + 1).is_some_and(char::is_ascii_digit)
            {
                digits.push('.');
                seen_decimal = true;
                i += 1;
            } else {
                break;
            }
        }
        let written: String = chars[start..i].iter().collect();
        if let Ok(x) = digits.parse::<f64>() {
            found.push((written, x));
        }
    }
    found
}

/// Exactly three digits at `at`, then no fourth: a thousands group.
fn run_of_three(chars: &[char], at: usize) -> bool {
    (at..at + 3).all(|j| chars.get(j).is_some_and(char::is_ascii_digit))
        && !chars.get(at + 3).is_some_and(char::is_ascii_digit)
}

/// The numbers in `text` that are not facts.
pub fn untraceable(text: &str, facts: &FactIndex, locale: &Locale) -> Vec<String> {
    numbers(text, locale)
        .into_iter()
        .filter(|(_, x)| !facts.admits(*x))
        .map(|(w, _)| w)
        .collect()
}

/// Capitalised words inside a sentence that the facts do not hold: names the writer made
/// up. A sentence's first word and everyday words are not names.
pub fn unknown_names(text: &str, facts: &FactIndex) -> Vec<String> {
    let mut unknown = Vec::new();
    let mut sentence_start = true;
    let mut word = String::new();
    let flush = |word: &mut String, sentence_start: &mut bool, unknown: &mut Vec<String>| {
        if word.is_empty() {
            return;
        }
        let capital = word.chars().next().is_some_and(char::is_uppercase);
        if capital
            && !*sentence_start
            && !COMMON.contains(&word.to_lowercase().as_str())
            && !facts.knows(word)
        {
            unknown.push(word.clone());
        }
        *sentence_start = false;
        word.clear();
    };
    for c in text.chars() {
        if c.is_alphanumeric() || c == '\'' || c == '-' {
            word.push(c);
            continue;
        }
        flush(&mut word, &mut sentence_start, &mut unknown);
        if matches!(c, '.' | '!' | '?' | ':' | '\n' | '•' | '*' | '#') {
            sentence_start = true;
        }
    }
    flush(&mut word, &mut sentence_start, &mut unknown);
    unknown.dedup();
    unknown
}

fn words(s: &str) -> impl Iterator<Item = &str> {
    s.split(|c: char| !(c.is_alphanumeric() || c == '\'' || c == '-'))
        .filter(|w| !w.is_empty())
}

/// Capitalised words that are not names: pronouns, greetings, months, days, the
/// vocabulary of plans.
const COMMON: &[&str] = &[
    "i",
    "we",
    "you",
    "your",
    "our",
    "the",
    "a",
    "an",
    "this",
    "that",
    "these",
    "hi",
    "hello",
    "dear",
    "thanks",
    "thank",
    "best",
    "great",
    "well",
    "congratulations",
    "next",
    "please",
    "let's",
    "here",
    "there",
    "and",
    "or",
    "but",
    "so",
    "if",
    "with",
    "on",
    "in",
    "at",
    "by",
    "for",
    "of",
    "to",
    "from",
    "as",
    "since",
    "overall",
    "meanwhile",
    "also",
    "january",
    "february",
    "march",
    "april",
    "may",
    "june",
    "july",
    "august",
    "september",
    "october",
    "november",
    "december",
    "monday",
    "tuesday",
    "wednesday",
    "thursday",
    "friday",
    "saturday",
    "sunday",
    "okr",
    "okrs",
    "kpi",
    "qbr",
    "nps",
    "eur",
    "usd",
    "gbp",
    "plan",
    "plans",
    "partner",
    "partners",
    "objective",
    "objectives",
    "key",
    "result",
    "results",
    "target",
    "targets",
    "team",
    "one",
    "two",
    "three",
];

/// The visible text of rendered HTML: tags dropped, the entities the renderer writes
/// decoded. For checking what a reader sees, not for parsing arbitrary HTML.
pub fn visible_text(html: &str) -> String {
    let mut out = String::with_capacity(html.len() / 2);
    let mut in_tag = false;
    let mut in_title = false;
    let mut tag = String::new();
    for c in html.chars() {
        match (in_tag, c) {
            (false, '<') => {
                in_tag = true;
                tag.clear();
            }
            (true, '>') => {
                in_tag = false;
                let name = tag.split_whitespace().next().unwrap_or_default();
                match name {
                    "title" => in_title = true,
                    "/title" => in_title = false,
                    _ => {}
                }
                out.push(' ');
            }
            (true, c) => tag.push(c),
            (false, c) if !in_title => out.push(c),
            _ => {}
        }
    }
    out.replace("&nbsp;", " ")
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&quot;", "\"")
        .replace("&#39;", "'")
        .replace("&amp;", "&")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_numbers_as_the_locale_writes_them() {
        let en = Locale::parse("en").unwrap();
        let de = Locale::parse("de").unwrap();
        let got = |t: &str, l: &Locale| {
            numbers(t, l)
                .into_iter()
                .map(|(_, x)| x)
                .collect::<Vec<_>>()
        };
        assert_eq!(
            got("200,000 EUR / 240,000 EUR (83% completed)", &en),
            vec![200_000.0, 240_000.0, 83.0]
        );
        assert_eq!(
            got("200.000 EUR / 240.000 EUR (83 % completed)", &de),
            vec![200_000.0, 240_000.0, 83.0]
        );
        assert_eq!(got("7,4 und 1.234,5", &de), vec![7.4, 1234.5]);
        assert_eq!(
            got("plan p0001.2 due 2026-12-05", &en),
            vec![2026.0, 12.0, 5.0]
        );
        assert_eq!(got("3, 4 and 5.", &en), vec![3.0, 4.0, 5.0]);
        assert_eq!(got("up 3x in Q4", &en), vec![3.0]);
    }

    #[test]
    fn admits_rounded_and_percent_forms_only() {
        let facts = FactIndex::of(&serde_json::json!({
            "target": 240000.0, "share": 0.834, "delta": -2000, "as_of": "2026-11-28", "name": "Nimbus Group"
        }));
        for ok in [240_000.0, 83.0, 83.4, 0.83, 2000.0, 2026.0, 28.0, 11.0] {
            assert!(facts.admits(ok), "{ok}");
        }
        for bad in [84.0, 250_000.0, 12.0, 0.9] {
            assert!(!facts.admits(bad), "{bad}");
        }
        assert!(facts.knows("nimbus"));
    }

    #[test]
    fn names_outside_the_facts_are_caught() {
        let facts = FactIndex::of(
            &serde_json::json!({"partner_name": "Nimbus Group", "metric": "pipeline"}),
        );
        assert!(unknown_names("Great work, Nimbus Group. Your pipeline grew.", &facts).is_empty());
        assert_eq!(
            unknown_names("Great work. Ask Sarah Connor about the pipeline.", &facts),
            vec!["Sarah", "Connor"]
        );
    }

    #[test]
    fn visible_text_drops_tags_and_titles() {
        let html = "<html><head><title>T 99</title></head><body><td width=\"240\">83%&nbsp;done &amp; more</td></body></html>";
        let text = visible_text(html);
        assert!(!text.contains("240") && !text.contains("99"), "{text}");
        assert!(text.contains("83% done & more"), "{text}");
    }
}
