//! The page shell: one stylesheet inline (no request leaves the server, so the pages
//! work offline), a header with the tenant and sign-out, semantic landmarks.

use axum::response::Html;
use maud::{html, Markup, DOCTYPE};

/// Who is looking, for the header.
pub struct Header<'a> {
    pub tenant: &'a str,
    pub as_of: chrono::NaiveDate,
}

pub fn page(title: &str, header: Option<&Header<'_>>, body: Markup) -> Html<String> {
    let markup = html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                title { (title) " · nextbest" }
                style { (maud::PreEscaped(CSS)) }
            }
            body {
                @if let Some(h) = header {
                    header class="top" {
                        a class="brand" href="/ui" { "nextbest" }
                        nav aria-label="Views" {
                            a href="/ui" { "Leadership" }
                        }
                        span class="muted" { "tenant " strong { (h.tenant) } " · as of " (h.as_of) }
                        form method="post" action="/ui/logout" class="inline" {
                            button type="submit" class="link" { "Sign out" }
                        }
                    }
                }
                (body)
            }
        }
    };
    Html(markup.into_string())
}

/// Colours chosen for contrast on white (each ≥ 4.5:1 for text).
const CSS: &str = r#"
*{box-sizing:border-box}
body{margin:0;font-family:system-ui,-apple-system,"Segoe UI",Roboto,Helvetica,Arial,sans-serif;color:#111827;background:#f3f4f6;font-size:15px;line-height:1.45}
header.top{display:flex;gap:20px;align-items:center;padding:12px 28px;background:#0f172a;color:#e5e7eb}
header.top a{color:#e5e7eb;text-decoration:none}
header.top a.brand{font-weight:700;font-size:18px;color:#fff}
header.top nav{display:flex;gap:14px;flex:1}
header.top .muted{color:#cbd5e1}
header.top button.link{color:#e5e7eb}
main{max-width:1220px;margin:0 auto;padding:20px 28px 40px}
main.login{max-width:420px;margin:80px auto;background:#fff;border-radius:10px;padding:28px;box-shadow:0 1px 3px rgba(0,0,0,.12)}
main.login form{display:flex;flex-direction:column;gap:8px}
main.login input{padding:10px;border:1px solid #6b7280;border-radius:6px;font-size:15px}
h1{font-size:24px;margin:4px 0 4px}
h2{font-size:17px;margin:0 0 10px}
h3{font-size:15px;margin:0 0 6px}
.muted{color:#4b5563}
.error{color:#b91c1c;font-weight:600}
.grid{display:grid;grid-template-columns:repeat(auto-fit,minmax(520px,1fr));gap:18px;margin-top:16px}
.card{background:#fff;border-radius:10px;padding:18px 20px;box-shadow:0 1px 3px rgba(0,0,0,.10)}
.card.wide{grid-column:1/-1}
.kpis{display:flex;gap:14px;flex-wrap:wrap;margin-top:12px}
.kpi{background:#fff;border-radius:10px;padding:12px 18px;box-shadow:0 1px 3px rgba(0,0,0,.10);min-width:170px}
.kpi .v{font-size:26px;font-weight:700}
.kpi .l{color:#4b5563;font-size:13px}
table{border-collapse:collapse;width:100%;font-size:14px}
th,td{text-align:left;padding:6px 8px;border-bottom:1px solid #e5e7eb;vertical-align:top}
th{color:#374151;font-weight:600}
td.num,th.num{text-align:right;font-variant-numeric:tabular-nums}
a{color:#1d4ed8}
nav.tabs{display:flex;gap:6px;margin:6px 0 10px}
nav.tabs a{padding:5px 12px;border-radius:999px;border:1px solid #cbd5e1;text-decoration:none;color:#1f2937;background:#fff;font-size:13px}
nav.tabs a[aria-current=page]{background:#1d4ed8;color:#fff;border-color:#1d4ed8}
.pill{display:inline-block;padding:1px 9px;border-radius:999px;font-size:12px;font-weight:600;white-space:nowrap}
.s-complete{background:#dcfce7;color:#14532d}.s-on_track{background:#dcfce7;color:#166534}
.s-behind{background:#fef3c7;color:#78350f}.s-at_risk,.s-not_complete{background:#fee2e2;color:#7f1d1d}
.s-not_defined{background:#e5e7eb;color:#374151}
.bar{height:8px;background:#e5e7eb;border-radius:4px;overflow:hidden;margin:3px 0 8px;max-width:320px}
.bar>span{display:block;height:100%;background:#16a34a}
.bar.behind>span{background:#d97706}.bar.at_risk>span,.bar.not_complete>span{background:#dc2626}
section.partner{background:#fff;border-radius:10px;padding:16px 20px;margin:14px 0;box-shadow:0 1px 3px rgba(0,0,0,.10)}
section.partner header{display:flex;justify-content:space-between;align-items:baseline;gap:12px}
ul.actions{list-style:none;padding:0;margin:8px 0 0}
ul.actions li{border-top:1px solid #e5e7eb;padding:8px 0;display:flex;gap:14px;justify-content:space-between;align-items:flex-start}
ul.reasons{margin:4px 0 10px;padding-left:20px;font-size:14px}
ul.actions .why{color:#374151;font-size:13px;margin:2px 0 0}
form.inline{display:inline}
form.buttons{display:flex;gap:6px;flex-shrink:0}
button{font:inherit;cursor:pointer;border-radius:6px;border:1px solid #1d4ed8;background:#1d4ed8;color:#fff;padding:6px 12px}
button.secondary{background:#fff;color:#1d4ed8}
button.link{background:none;border:none;padding:0;text-decoration:underline}
button:focus-visible,a:focus-visible,input:focus-visible{outline:3px solid #f59e0b;outline-offset:2px}
p[role=status]{background:#dcfce7;color:#14532d;padding:8px 12px;border-radius:6px}
svg text{font-family:inherit}
iframe{width:100%;height:900px;border:1px solid #e5e7eb;border-radius:8px;background:#fff}
.legend{display:flex;gap:14px;font-size:13px;color:#374151;margin-top:6px}
.legend i{display:inline-block;width:12px;height:12px;border-radius:2px;margin-right:5px;vertical-align:-1px}
"#;
