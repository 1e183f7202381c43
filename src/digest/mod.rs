//! Digests: facts first, then markdown, HTML and text renderers, and webhook delivery. Built by the digests issue.
