//! A [`Document`] as markdown, e-mail-ready HTML (inline styles, table layout, a small
//! progress bar per line) or plain text. The three say the same words; only the
//! decoration differs.
//!
//! The words are not all the template's: partner, plan and key result names come from
//! the tenant's data and the opening paragraph may come from a model, so every piece of
//! text is escaped for its format ([`escape`] for HTML, [`escape_markdown`]); the
//! decoration the renderer adds around it is the only markup.

use std::fmt::Write;

use super::document::{pace_words, Document, Item};
use crate::domain::Pace;

/// Markdown: headings, paragraphs and nested bullets, the status in italics.
pub fn markdown(doc: &Document) -> String {
    let md = escape_markdown;
    let mut out = format!("# {}\n\n", md(&doc.subject));
    for p in &doc.summary {
        let _ = write!(out, "{}\n\n", md(p));
    }
    for s in &doc.sections {
        let _ = write!(out, "## {}\n\n", md(&s.title));
        if s.items.is_empty() {
            if let Some(e) = &s.empty {
                let _ = write!(out, "{}\n\n", md(e));
            }
            continue;
        }
        let mut under_progress = false;
        for item in &s.items {
            match item {
                Item::Progress {
                    text,
                    status,
                    depth,
                    ..
                } => {
                    under_progress = true;
                    let indent = "  ".repeat(usize::from(*depth));
                    let text = if *depth == 0 {
                        format!("**{}**", md(text))
                    } else {
                        md(text)
                    };
                    let status = status
                        .map(|p| format!(" · _{}_", pace_words(p)))
                        .unwrap_or_default();
                    let _ = writeln!(out, "{indent}- {text}{status}");
                }
                Item::Range { text, .. } => {
                    // Under the plan it predicts, or a list of its own.
                    let indent = if under_progress { "  " } else { "" };
                    let _ = writeln!(out, "{indent}- {}", md(text));
                }
                Item::Bullet(text) => {
                    under_progress = false;
                    let _ = writeln!(out, "- {}", md(text));
                }
            }
        }
        out.push('\n');
    }
    let _ = writeln!(out, "---\n_{}_", md(&doc.footer));
    out
}

/// Text into markdown that shows it as written. Escaped: what starts a tag or autolink
/// (`<`, `>`), a link or image (`[`, `]`), emphasis, code, a heading, a table cell or a
/// strikethrough (`*`, `_`, `` ` ``, `#`, `|`, `~`) and the backslash itself; a line break
/// becomes a space (it could start a block of its own), and a leading list or quote marker
/// is escaped. `(`, `)` and `!` are left alone: without an unescaped `[` they form no
/// link or image, and escaping them would clutter every "(83% completed)".
pub fn escape_markdown(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 8);
    let flat = s.replace(['\r', '\n'], " ");
    let text = flat.trim_start();
    let digits = text.bytes().take_while(u8::is_ascii_digit).count();
    let marker = match text.as_bytes().get(digits) {
        Some(b'-' | b'+' | b'=') if digits == 0 => Some(0),
        Some(b'.' | b')') if digits > 0 => Some(digits),
        _ => None,
    };
    for (i, c) in text.char_indices() {
        if matches!(
            c,
            '\\' | '`' | '*' | '_' | '[' | ']' | '<' | '>' | '#' | '|' | '~'
        ) || marker == Some(i)
        {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

/// Plain text: the same lines, underlined headings, and a ten-cell bar per progress line.
pub fn text(doc: &Document) -> String {
    let mut out = format!(
        "{}\n{}\n\n",
        doc.subject,
        "=".repeat(doc.subject.chars().count())
    );
    for p in &doc.summary {
        let _ = write!(out, "{p}\n\n");
    }
    for s in &doc.sections {
        let _ = write!(
            out,
            "{}\n{}\n",
            s.title,
            "-".repeat(s.title.chars().count())
        );
        if s.items.is_empty() {
            if let Some(e) = &s.empty {
                let _ = writeln!(out, "{e}");
            }
        }
        for item in &s.items {
            match item {
                Item::Progress {
                    text,
                    percent,
                    status,
                    depth,
                } => {
                    let indent = "  ".repeat(usize::from(*depth));
                    let bar = percent.map(text_bar).unwrap_or_default();
                    let status = status
                        .map(|p| format!(" ({})", pace_words(p)))
                        .unwrap_or_default();
                    let _ = writeln!(out, "{indent}{bar}{text}{status}");
                }
                Item::Range { text, percent, .. } => {
                    let _ = writeln!(out, "  {}{text}", text_bar(*percent));
                }
                Item::Bullet(text) => {
                    let _ = writeln!(out, "* {text}");
                }
            }
        }
        out.push('\n');
    }
    let _ = writeln!(out, "-- \n{}", doc.footer);
    out
}

/// `[#######...] `: no digits, so a bar never adds a number to check.
fn text_bar(percent: i64) -> String {
    let filled = usize::try_from((percent.clamp(0, 100) + 5) / 10).unwrap_or(0);
    format!("[{}{}] ", "#".repeat(filled), ".".repeat(10 - filled))
}

const FONT: &str = "font-family:-apple-system,Segoe UI,Helvetica,Arial,sans-serif";

/// HTML for e-mail clients: one centred 600px table, inline styles only, no scripts,
/// images or external CSS, a bar per progress line coloured by pace.
pub fn html(doc: &Document) -> String {
    let mut out = String::with_capacity(8 * 1024);
    let _ = write!(
        out,
        "<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width\"><title>{}</title></head>\
         <body style=\"margin:0;padding:0;background:#f3f4f6;{FONT}\">\
         <table role=\"presentation\" width=\"100%\" cellpadding=\"0\" cellspacing=\"0\" style=\"background:#f3f4f6\"><tr><td align=\"center\" style=\"padding:24px 8px\">\
         <table role=\"presentation\" width=\"600\" cellpadding=\"0\" cellspacing=\"0\" style=\"max-width:600px;width:100%;background:#ffffff;border-radius:8px;color:#111827;{FONT}\">\
         <tr><td style=\"padding:24px 28px 8px\"><h1 style=\"margin:0 0 12px;font-size:20px;line-height:1.3;color:#111827\">{}</h1>",
        escape(&doc.subject),
        escape(&doc.subject)
    );
    for p in &doc.summary {
        let _ = write!(
            out,
            "<p style=\"margin:0 0 10px;font-size:15px;line-height:1.5\">{}</p>",
            escape(p)
        );
    }
    out.push_str("</td></tr>");
    for s in &doc.sections {
        let _ = write!(
            out,
            "<tr><td style=\"padding:12px 28px 4px\"><h2 style=\"margin:0 0 8px;font-size:16px;color:#1f2937;border-bottom:1px solid #e5e7eb;padding-bottom:4px\">{}</h2>",
            escape(&s.title)
        );
        if s.items.is_empty() {
            if let Some(e) = &s.empty {
                let _ = write!(
                    out,
                    "<p style=\"margin:0 0 8px;font-size:14px;color:#4b5563\">{}</p>",
                    escape(e)
                );
            }
        }
        for item in &s.items {
            html_item(&mut out, item);
        }
        out.push_str("</td></tr>");
    }
    let _ = write!(
        out,
        "<tr><td style=\"padding:16px 28px 24px;font-size:12px;color:#6b7280\">{}</td></tr>\
         </table></td></tr></table></body></html>",
        escape(&doc.footer)
    );
    out
}

fn html_item(out: &mut String, item: &Item) {
    match item {
        Item::Progress {
            text,
            percent,
            status,
            depth,
        } => {
            let pad = u32::from(*depth) * 16;
            let weight = if *depth == 0 { "600" } else { "400" };
            let badge = status
                .map(|p| {
                    format!(
                        " <span style=\"font-size:12px;color:{};white-space:nowrap\">● {}</span>",
                        colour(Some(p)),
                        pace_words(p)
                    )
                })
                .unwrap_or_default();
            let _ = write!(
                out,
                "<div style=\"margin:0 0 8px {pad}px;font-size:14px;line-height:1.4;font-weight:{weight}\">{}{badge}</div>",
                escape(text)
            );
            if let Some(p) = percent {
                let _ = write!(
                    out,
                    "<div style=\"margin:-4px 0 10px {pad}px\">{}</div>",
                    bar(*p, colour(*status))
                );
            }
        }
        Item::Range {
            text,
            percent,
            low,
            high,
        } => {
            let _ = write!(
                out,
                "<div style=\"margin:0 0 4px 16px;font-size:14px;line-height:1.4\">{}</div>\
                 <div style=\"margin:0 0 10px 16px\">{}</div>",
                escape(text),
                range_bar(*percent, *low, *high)
            );
        }
        Item::Bullet(text) => {
            let _ = write!(
                out,
                "<p style=\"margin:0 0 8px;font-size:14px;line-height:1.5\">• {}</p>",
                escape(text)
            );
        }
    }
}

/// A 240px bar filled to `percent` (capped at 100): two table cells, which every e-mail
/// client draws.
fn bar(percent: i64, colour: &str) -> String {
    let filled = percent.clamp(0, 100) * 240 / 100;
    let rest = 240 - filled;
    let mut cells = String::new();
    if filled > 0 {
        let _ = write!(cells, "<td width=\"{filled}\" style=\"background:{colour};height:8px;font-size:0;line-height:0\">&nbsp;</td>");
    }
    if rest > 0 {
        let _ = write!(cells, "<td width=\"{rest}\" style=\"background:#e5e7eb;height:8px;font-size:0;line-height:0\">&nbsp;</td>");
    }
    format!("<table role=\"presentation\" cellpadding=\"0\" cellspacing=\"0\" width=\"240\" style=\"border-radius:4px;overflow:hidden\"><tr>{cells}</tr></table>")
}

/// A predicted share on a 0–150% scale: grey up to the interval's low end, light blue
/// across the interval with the expected value in dark blue, and the 100% target marked.
fn range_bar(percent: i64, low: i64, high: i64) -> String {
    const WIDTH: i64 = 240;
    const SCALE: i64 = 150;
    let x = |p: i64| p.clamp(0, SCALE) * WIDTH / SCALE;
    let (lo, mid, hi, target) = (
        x(low.min(percent)),
        x(percent),
        x(high.max(percent)),
        x(100),
    );
    let mut stops = vec![
        (lo, "#e5e7eb"),
        (mid.saturating_sub(1).max(lo), "#bfdbfe"),
        ((mid + 2).min(WIDTH), "#1d4ed8"),
        (hi.max(mid + 2).min(WIDTH), "#bfdbfe"),
        (WIDTH, "#e5e7eb"),
    ];
    stops.dedup_by_key(|s| s.0);
    let mut cells = String::new();
    let mut at = 0;
    for (end, colour) in stops {
        let mut end = end;
        // The target mark splits whichever segment it falls in.
        if at < target && target < end {
            let w = target - at;
            let _ = write!(cells, "<td width=\"{w}\" style=\"background:{colour};height:10px;font-size:0;line-height:0\">&nbsp;</td><td width=\"2\" style=\"background:#111827;height:10px;font-size:0;line-height:0\">&nbsp;</td>");
            at = target + 2;
            end = end.max(at);
        }
        if end > at {
            let _ = write!(cells, "<td width=\"{}\" style=\"background:{colour};height:10px;font-size:0;line-height:0\">&nbsp;</td>", end - at);
            at = end;
        }
    }
    format!("<table role=\"presentation\" cellpadding=\"0\" cellspacing=\"0\" width=\"{WIDTH}\"><tr>{cells}</tr></table>")
}

fn colour(p: Option<Pace>) -> &'static str {
    match p {
        Some(Pace::Complete) => "#15803d",
        Some(Pace::OnTrack) => "#16a34a",
        Some(Pace::Behind) => "#d97706",
        Some(Pace::AtRisk | Pace::NotComplete) => "#dc2626",
        Some(Pace::NotDefined) => "#9ca3af",
        None => "#2563eb",
    }
}

/// Text into HTML: the five characters that matter (attribute values are quoted, so `"`
/// and `'` matter too).
pub fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::digest::document::Section;

    const EVIL: &str = "<script>alert(1)</script> [x](javascript:alert(1))";

    #[test]
    fn markup_in_data_is_escaped_for_markdown() {
        assert_eq!(
            escape_markdown(EVIL),
            r"\<script\>alert(1)\</script\> \[x\](javascript:alert(1))"
        );
        assert_eq!(
            escape_markdown(r"**bold** _it_ `code` # | ~~s~~ \ ![i](u)"),
            r"\*\*bold\*\* \_it\_ \`code\` \# \| \~\~s\~\~ \\ !\[i\](u)"
        );
        assert_eq!(
            escape_markdown("Acme\n# Heading\r\n> quote"),
            r"Acme \# Heading  \> quote"
        );
        assert_eq!(escape_markdown("- not a list"), r"\- not a list");
        assert_eq!(escape_markdown("  + nor this"), r"\+ nor this");
        assert_eq!(escape_markdown("12. nor this"), r"12\. nor this");
        assert_eq!(escape_markdown("3) nor this"), r"3\) nor this");
        // What needs no escape is left as written.
        for plain in [
            "Build pipeline = 27,866 EUR / 145,000 EUR (19% completed)",
            "2 key result(s) of plan fresh-plan have no target",
            "-5% since 2026-11-19",
        ] {
            let escaped = escape_markdown(plain);
            assert_eq!(escaped.trim_start_matches('\\'), plain, "{plain}");
        }
    }

    #[test]
    fn every_text_of_a_markdown_digest_is_escaped_and_html_is_too() {
        let mut section = Section::new(format!("Plans of {EVIL}"));
        section.items = vec![
            Item::Progress {
                text: EVIL.into(),
                percent: Some(50),
                status: Some(Pace::Behind),
                depth: 0,
            },
            Item::Progress {
                text: EVIL.into(),
                percent: None,
                status: None,
                depth: 1,
            },
            Item::Range {
                text: EVIL.into(),
                percent: 80,
                low: 60,
                high: 100,
            },
            Item::Bullet(EVIL.into()),
        ];
        let doc = Document {
            subject: EVIL.into(),
            summary: vec![EVIL.into()],
            sections: vec![section, Section::new("Empty").or_else(EVIL)],
            footer: EVIL.into(),
        };
        let page = html(&doc);
        assert!(!page.contains("<script>"), "{page}");
        assert_eq!(page.matches("&lt;script&gt;").count(), 10, "{page}");
        let md = markdown(&doc);
        assert!(!md.contains("<script>") && !md.contains("[x]("), "{md}");
        assert_eq!(md.matches(r"\<script\>").count(), 9, "{md}");
        assert!(md.starts_with(r"# \<script\>"), "{md}");
        assert!(md.contains(r"- **\<script\>"), "the decoration stays: {md}");
    }
}
