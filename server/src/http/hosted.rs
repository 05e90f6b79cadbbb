//! Plain HTML pages Kasa serves outside the Leptos app for its built-in stand-ins of outside
//! parties (the mock PSP's checkout, the demo game studio): one frame, and escaping.

/// What sets the stand-in's page apart: its name and tag line in the top bar, and its card.
pub(crate) struct Frame {
    pub brand: &'static str,
    pub tagline: &'static str,
    pub card_class: &'static str,
    pub test_id: &'static str,
}

/// A whole page in `frame` with `title` and `body` (already escaped HTML).
pub(crate) fn page(frame: &Frame, title: &str, body: &str) -> String {
    let Frame {
        brand,
        tagline,
        card_class,
        test_id,
    } = frame;
    format!(
        r#"<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1"><title>{title}</title><link rel="icon" href="/favicon.svg" type="image/svg+xml"><link rel="stylesheet" href="/pkg/kasa.css"></head>
<body><div class="app"><header class="topbar"><span class="brand">{brand}</span><span class="muted">{tagline}</span></header>
<main class="container"><section class="{card_class}" data-testid="{test_id}"><h1>{title}</h1>{body}</section></main></div></body></html>"#
    )
}

/// `text` safe inside HTML text and double-quoted attributes.
pub(crate) fn html_escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}
