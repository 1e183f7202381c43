//! A digest as a document: a subject, a few paragraphs of prose, and sections of progress
//! lines and bullets. The template words the facts into one; the LLM may only replace its
//! prose; the renderers turn it into markdown, HTML or plain text, so all three say the
//! same thing.

use crate::domain::Pace;

/// One rendered digest before formatting.
#[derive(Debug, Clone, PartialEq)]
pub struct Document {
    pub subject: String,
    /// The opening: what a reader who stops after it should know.
    pub summary: Vec<String>,
    pub sections: Vec<Section>,
    /// Where the numbers come from.
    pub footer: String,
}

/// A titled part of the digest.
#[derive(Debug, Clone, PartialEq)]
pub struct Section {
    pub title: String,
    pub items: Vec<Item>,
    /// Said instead of an empty list: what is missing, never a blank.
    pub empty: Option<String>,
}

impl Section {
    pub fn new(title: impl Into<String>) -> Self {
        Self {
            title: title.into(),
            items: Vec::new(),
            empty: None,
        }
    }

    pub fn or_else(mut self, empty: impl Into<String>) -> Self {
        self.empty = Some(empty.into());
        self
    }
}

/// One line of a section.
#[derive(Debug, Clone, PartialEq)]
pub enum Item {
    /// A progress line (`Objective = 200,000 EUR / 240,000 EUR (83% completed)`) with a
    /// bar of `percent` and its pace; `depth` 1 for a key result under an objective.
    Progress {
        text: String,
        percent: Option<i64>,
        status: Option<Pace>,
        depth: u8,
    },
    /// A predicted share with its interval, drawn against the 100% target.
    Range {
        text: String,
        percent: i64,
        low: i64,
        high: i64,
    },
    Bullet(String),
}

/// `1 day left`, `12 days left`.
pub fn days_left(n: i64) -> String {
    if n == 1 {
        "1 day left".to_owned()
    } else {
        format!("{n} days left")
    }
}

/// The words for a pace, as a reader says them.
pub fn pace_words(p: Pace) -> &'static str {
    match p {
        Pace::Complete => "complete",
        Pace::OnTrack => "on track",
        Pace::Behind => "behind",
        Pace::AtRisk => "at risk",
        Pace::NotComplete => "not complete",
        Pace::NotDefined => "no target set",
    }
}
