//! Digests: facts first (a JSON document of numbers and lists computed from the store and
//! the engine), text second (markdown, HTML, plain text), optionally worded by an LLM
//! that is held to the facts, and delivered through webhook subscriptions with a durable
//! outbox.
//!
//! The module knows nothing of HTTP: whoever can load a tenant's engine implements
//! [`DigestSource`] (the server does, in `api::digests`), and the scheduler and the
//! delivery worker ask it for digests.

pub mod check;
pub mod compose;
pub mod delivery;
pub mod document;
pub mod facts;
pub mod llm;
pub mod locale;
pub mod outbound;
pub mod render;
pub mod resolver;
pub mod schedule;
pub mod template;

pub use compose::compose;

use std::future::Future;

use chrono::NaiveDate;
use serde::{Deserialize, Serialize};
use thiserror::Error;

use crate::nba::NbaError;
use crate::store::StoreError;

/// Who a digest is written for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Audience {
    /// One partner: its active plans, what changed, what is due, the asks.
    Partner,
    /// One partner manager: the portfolio, who needs attention, plans at risk.
    Manager,
    /// The tenant's leadership: predicted against target by group, risks and wins.
    Leadership,
}

impl Audience {
    pub const ALL: [Audience; 3] = [Self::Partner, Self::Manager, Self::Leadership];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Partner => "partner",
            Self::Manager => "manager",
            Self::Leadership => "leadership",
        }
    }

    /// # Errors
    /// [`DigestError::Audience`] naming the accepted values.
    pub fn parse(raw: &str) -> Result<Self, DigestError> {
        Self::ALL
            .into_iter()
            .find(|a| a.as_str() == raw)
            .ok_or_else(|| DigestError::Audience(raw.to_owned()))
    }
}

/// The id a leadership digest is addressed to: the tenant as a whole.
pub const LEADERSHIP_ID: &str = "all";

/// How a digest is rendered.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Format {
    Markdown,
    Html,
    Text,
    /// The facts document itself.
    Json,
}

impl Format {
    pub const ALL: [Format; 4] = [Self::Markdown, Self::Html, Self::Text, Self::Json];

    /// The short name used in `?format=` and `--format`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Markdown => "md",
            Self::Html => "html",
            Self::Text => "text",
            Self::Json => "json",
        }
    }

    /// # Errors
    /// [`DigestError::Format`] naming the accepted values.
    pub fn parse(raw: &str) -> Result<Self, DigestError> {
        match raw {
            "md" | "markdown" => Ok(Self::Markdown),
            "html" => Ok(Self::Html),
            "text" | "txt" => Ok(Self::Text),
            "json" => Ok(Self::Json),
            other => Err(DigestError::Format(other.to_owned())),
        }
    }

    pub fn content_type(self) -> &'static str {
        match self {
            Self::Markdown => "text/markdown; charset=utf-8",
            Self::Html => "text/html; charset=utf-8",
            Self::Text => "text/plain; charset=utf-8",
            Self::Json => "application/json",
        }
    }
}

#[derive(Debug, Error)]
pub enum DigestError {
    #[error("unknown audience `{0}`: use partner, manager or leadership")]
    Audience(String),
    #[error("unknown format `{0}`: use md, html, text or json")]
    Format(String),
    #[error("unknown locale `{0}`: use en, de, fr, es, it, nl or pt")]
    Locale(String),
    #[error("no {audience} `{id}` in tenant `{tenant}`")]
    UnknownRecipient {
        tenant: String,
        audience: &'static str,
        id: String,
    },
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Nba(#[from] NbaError),
    /// The engine (model, peers) could not be loaded; the message says why.
    #[error("the engine of tenant `{tenant}` is unavailable: {why}")]
    Engine { tenant: String, why: String },
    #[error("`since` {since} is after `as_of` {as_of}: changes are counted forward in time")]
    Since { since: NaiveDate, as_of: NaiveDate },
    #[error("serialising the digest failed")]
    Serialise(#[source] serde_json::Error),
}

/// One digest, rendered every way: what a webhook carries and what the outbox stores, so
/// a retry after a restart sends the very same bytes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Digest {
    pub tenant: String,
    pub audience: Audience,
    /// The partner id, the manager id, or [`LEADERSHIP_ID`].
    pub recipient_id: String,
    pub as_of: NaiveDate,
    /// Changes are counted from this date (the previous digest, or a period back).
    pub since: NaiveDate,
    pub locale: String,
    /// `template`, or `llm` when the prose came from the configured model and passed the
    /// fact check.
    pub wording: String,
    /// With an LLM configured: `accepted`, or why its prose was not used
    /// (`rejected_number`, `rejected_name`, `timeout`, `error`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub llm_check: Option<String>,
    pub subject: String,
    pub markdown: String,
    pub html: String,
    pub text: String,
    /// The facts document every number above comes from.
    pub facts: serde_json::Value,
}

impl Digest {
    /// The digest in one format; JSON is the facts document.
    pub fn rendered(&self, format: Format) -> String {
        match format {
            Format::Markdown => self.markdown.clone(),
            Format::Html => self.html.clone(),
            Format::Text => self.text.clone(),
            Format::Json => serde_json::to_string_pretty(&self.facts).unwrap_or_default(),
        }
    }
}

/// What the scheduler and the delivery worker need from whoever holds the engines.
pub trait DigestSource: Send + Sync {
    /// Everyone in `tenant` a scheduled digest for `audience` goes to: partners with an
    /// active plan, managers of record or owners of an active plan, or [`LEADERSHIP_ID`].
    fn recipients(
        &self,
        tenant: &str,
        audience: Audience,
    ) -> impl Future<Output = Result<Vec<String>, DigestError>> + Send;

    /// The digest for one recipient as of `as_of`, counting changes from `since`, with
    /// numbers in `locale`.
    fn digest(
        &self,
        tenant: &str,
        audience: Audience,
        recipient_id: &str,
        as_of: NaiveDate,
        since: Option<NaiveDate>,
        locale: &str,
    ) -> impl Future<Output = Result<Digest, DigestError>> + Send;
}
