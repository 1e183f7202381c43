//! Optional LLM wording through an OpenAI-compatible chat-completions endpoint. The model
//! sees only the facts, the template's draft and a style guide, and writes the digest's
//! opening prose. Its answer is used only if every number in it is a fact and every name
//! one the facts hold; otherwise, and on any error or timeout, the template's prose
//! stands and the reason is reported.

use std::time::Duration;

use serde_json::{json, Value};

use super::check::{unknown_names, untraceable, FactIndex};
use super::locale::Locale;
use super::Audience;

/// Where the model is and how long to wait for it.
#[derive(Debug, Clone, clap::Args)]
pub struct LlmConfig {
    /// An OpenAI-compatible chat-completions endpoint (the full URL, e.g.
    /// `https://api.openai.com/v1/chat/completions`). Unset: template wording only.
    #[arg(long = "llm-url", env = "NEXTBEST_LLM_URL")]
    pub url: Option<String>,
    /// The model name sent with each request.
    #[arg(
        long = "llm-model",
        env = "NEXTBEST_LLM_MODEL",
        default_value = "gpt-4o-mini"
    )]
    pub model: String,
    /// Bearer token for the endpoint.
    #[arg(
        long = "llm-api-key",
        env = "NEXTBEST_LLM_API_KEY",
        hide_env_values = true
    )]
    pub api_key: Option<String>,
    /// Seconds to wait for an answer before the template's prose is used.
    #[arg(
        long = "llm-timeout",
        env = "NEXTBEST_LLM_TIMEOUT",
        default_value_t = 20
    )]
    pub timeout_secs: u64,
}

/// Why the model's prose was not used.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Rejection {
    /// Numbers that are not facts.
    Numbers(Vec<String>),
    /// Names the facts do not hold.
    Names(Vec<String>),
    Timeout,
    /// The endpoint failed or answered something unusable.
    Error(String),
}

impl Rejection {
    /// The stable code logged and counted in `/metrics`.
    pub fn code(&self) -> &'static str {
        match self {
            Self::Numbers(_) => "rejected_number",
            Self::Names(_) => "rejected_name",
            Self::Timeout => "timeout",
            Self::Error(_) => "error",
        }
    }

    pub fn detail(&self) -> String {
        match self {
            Self::Numbers(n) => format!("numbers not in the facts: {}", n.join(", ")),
            Self::Names(n) => format!("names not in the facts: {}", n.join(", ")),
            Self::Timeout => "no answer in time".into(),
            Self::Error(e) => e.clone(),
        }
    }
}

/// The code of prose that passed the check.
pub const ACCEPTED: &str = "accepted";

/// Every outcome code, for metric labels.
pub const OUTCOMES: [&str; 5] = [
    ACCEPTED,
    "rejected_number",
    "rejected_name",
    "timeout",
    "error",
];

/// The static label of an outcome code (an unknown one counts as an error).
pub fn outcome_label(code: &str) -> &'static str {
    OUTCOMES.into_iter().find(|o| *o == code).unwrap_or("error")
}

/// A configured model.
#[derive(Debug, Clone)]
pub struct Llm {
    client: reqwest::Client,
    url: String,
    model: String,
    api_key: Option<String>,
    timeout: Duration,
}

impl Llm {
    /// None when no URL is configured.
    pub fn from_config(config: &LlmConfig) -> Option<Self> {
        let url = config.url.clone().filter(|u| !u.trim().is_empty())?;
        Some(Self {
            client: reqwest::Client::new(),
            url,
            model: config.model.clone(),
            api_key: config.api_key.clone(),
            timeout: Duration::from_secs(config.timeout_secs.max(1)),
        })
    }

    /// The model's opening prose for a digest, checked against `facts`.
    ///
    /// # Errors
    /// A [`Rejection`] saying why the template's prose must stand.
    pub async fn prose(
        &self,
        audience: Audience,
        facts: &Value,
        draft: &[String],
        locale: &Locale,
    ) -> Result<Vec<String>, Rejection> {
        let body = json!({
            "model": self.model,
            "temperature": 0.2,
            "messages": [
                {"role": "system", "content": style_guide(audience, locale)},
                {"role": "user", "content": json!({"facts": facts, "draft": draft}).to_string()},
            ],
        });
        let mut request = self
            .client
            .post(&self.url)
            .json(&body)
            .timeout(self.timeout);
        if let Some(key) = &self.api_key {
            request = request.bearer_auth(key);
        }
        let response = request.send().await.map_err(transport)?;
        let status = response.status();
        if !status.is_success() {
            return Err(Rejection::Error(format!("the endpoint answered {status}")));
        }
        let answer: Value = response.json().await.map_err(transport)?;
        let content = answer
            .pointer("/choices/0/message/content")
            .and_then(Value::as_str)
            .map(str::trim)
            .filter(|c| !c.is_empty())
            .ok_or_else(|| {
                Rejection::Error("no choices[0].message.content in the answer".into())
            })?;
        check(content, facts, locale)?;
        Ok(content
            .split("\n\n")
            .map(|p| p.trim().replace('\n', " "))
            .filter(|p| !p.is_empty())
            .collect())
    }
}

/// The fact check of a model's answer.
///
/// # Errors
/// The numbers, else the names, that are not facts.
pub fn check(content: &str, facts: &Value, locale: &Locale) -> Result<(), Rejection> {
    let index = FactIndex::of(facts);
    let numbers = untraceable(content, &index, locale);
    if !numbers.is_empty() {
        return Err(Rejection::Numbers(numbers));
    }
    let names = unknown_names(content, &index);
    if !names.is_empty() {
        return Err(Rejection::Names(names));
    }
    Ok(())
}

fn transport(e: reqwest::Error) -> Rejection {
    if e.is_timeout() {
        Rejection::Timeout
    } else {
        Rejection::Error(e.to_string())
    }
}

/// What the model is told: who reads, how to write, and the rule on numbers and names.
pub fn style_guide(audience: Audience, locale: &Locale) -> String {
    let reader = match audience {
        Audience::Partner => {
            "a partner company's team, reading their weekly plan update from the vendor: warm, \
             motivating, specific; celebrate what went well, then the one ask"
        }
        Audience::Manager => {
            "a partner manager planning the week: direct and brief; who needs attention and \
             what to do first"
        }
        Audience::Leadership => {
            "the vendor's leadership: sober and factual; the predicted outcome against target, \
             the biggest risk and the biggest change"
        }
    };
    format!(
        "You write the opening paragraph of a digest for {reader}. You get the digest's facts \
         as JSON and the template's draft. Write 2 to 4 sentences of plain text, no markdown, \
         no greeting line, no sign-off. Rules: use only numbers that appear in the facts, \
         written with `{}` as the thousands separator and `{}` as the decimal separator, \
         percentages as whole numbers followed by %; never compute new numbers (no sums, \
         differences or averages that are not in the facts); name only people, partners, \
         plans, metrics and groups that appear in the facts; write dates as YYYY-MM-DD. If \
         in doubt, keep the draft's wording.",
        locale.group(),
        locale.decimal()
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_check_refuses_invented_numbers_and_names() {
        let facts =
            json!({"partner_name": "Nimbus Group", "plan_status": {"on_track": 2}, "percent": 83});
        let en = Locale::default();
        assert_eq!(
            check("Nimbus Group has 2 plans on track at 83%.", &facts, &en),
            Ok(())
        );
        assert_eq!(
            check("Nimbus Group has 3 plans on track.", &facts, &en),
            Err(Rejection::Numbers(vec!["3".into()]))
        );
        assert_eq!(
            check("Well done, Nimbus Group and Acme.", &facts, &en),
            Err(Rejection::Names(vec!["Acme".into()]))
        );
    }
}
