//! Dashboard pages for leadership, managers and partners. Built by the dashboard issue.
