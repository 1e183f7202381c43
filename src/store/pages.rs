//! Pages of a tenant's rows, for the API's list endpoints.
//!
//! Keyset pagination: a page is the first `limit` rows, in key order, whose key is after
//! the cursor (exclusive); the client passes the last key of one page to get the next.
//! Unlike `OFFSET`, a page costs the same deep in the table as at its start, and rows
//! written during a walk do not shift it: every row present throughout the walk is seen
//! exactly once. Rows are decoded by the same functions as every other read.

use super::read::{activity, feedback, key_result, partner, plan};
use super::rows::timestamp;
use super::{Store, StoreError};
use crate::domain::{Activity, Feedback, KeyResult, Partner, Plan, PlanStatus};

/// Separates the parts of a feedback cursor. No id, response word or stored timestamp
/// contains it, and it needs no escaping in a URL.
const CURSOR_SEPARATOR: char = '~';

/// A `SELECT` on one tenant, narrowed condition by condition, with its bind values after
/// the tenant (`$1`).
struct Page {
    sql: String,
    binds: Vec<String>,
}

impl Page {
    fn new(select: &str) -> Self {
        Self {
            sql: format!("{select} WHERE tenant_id = $1"),
            binds: Vec::new(),
        }
    }

    /// Adds `AND {left} ${n}` binding `value`, when there is a value.
    fn and(&mut self, left: &str, value: Option<&str>) -> &mut Self {
        if let Some(value) = value {
            self.binds.push(value.to_owned());
            let n = self.binds.len() + 1;
            self.sql.push_str(&format!(" AND {left} ${n}"));
        }
        self
    }

    fn ordered(&self, order: &str, limit: usize) -> String {
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        format!("{} ORDER BY {order} LIMIT {limit}", self.sql)
    }
}

impl Store {
    /// Up to `limit` partners with an id after `after`, by id; with `manager_id`, only the
    /// partners that manager owns.
    pub async fn partners_page(
        &self,
        tenant: &str,
        after: Option<&str>,
        limit: usize,
        manager_id: Option<&str>,
    ) -> Result<Vec<Partner>, StoreError> {
        if limit == 0 {
            return Ok(Vec::new());
        }
        let mut page = Page::new("SELECT * FROM partners");
        page.and("manager_id =", manager_id)
            .and("partner_id >", after);
        let sql = page.ordered("partner_id", limit);
        let rows = self
            .fetch("reading a page of partners", &sql, tenant, &page.binds)
            .await?;
        rows.iter().map(partner).collect()
    }

    /// Up to `limit` plans with an id after `after`, by id, narrowed to one partner and
    /// one status when given. Plain plans: their key results and activities have pages
    /// of their own ([`Self::key_results_of`], [`Self::activities_page`]).
    pub async fn plans_page(
        &self,
        tenant: &str,
        after: Option<&str>,
        limit: usize,
        partner_id: Option<&str>,
        status: Option<PlanStatus>,
    ) -> Result<Vec<Plan>, StoreError> {
        if limit == 0 {
            return Ok(Vec::new());
        }
        let mut page = Page::new("SELECT * FROM plans");
        page.and("partner_id =", partner_id)
            .and("status =", status.map(PlanStatus::as_str))
            .and("plan_id >", after);
        let sql = page.ordered("plan_id", limit);
        let rows = self
            .fetch("reading a page of plans", &sql, tenant, &page.binds)
            .await?;
        rows.iter().map(plan).collect()
    }

    /// Every key result of one plan, by id; empty when the plan has none or does not
    /// exist. Not paged: a plan has a handful.
    pub async fn key_results_of(
        &self,
        tenant: &str,
        plan_id: &str,
    ) -> Result<Vec<KeyResult>, StoreError> {
        let mut page = Page::new("SELECT * FROM key_results");
        page.and("plan_id =", Some(plan_id));
        let sql = format!("{} ORDER BY kr_id", page.sql);
        let rows = self
            .fetch("reading a plan's key results", &sql, tenant, &page.binds)
            .await?;
        rows.iter().map(key_result).collect()
    }

    /// Up to `limit` activities of one plan with an id after `after`, by id (not by date:
    /// ids are unique, dates are not).
    pub async fn activities_page(
        &self,
        tenant: &str,
        plan_id: &str,
        after: Option<&str>,
        limit: usize,
    ) -> Result<Vec<Activity>, StoreError> {
        if limit == 0 {
            return Ok(Vec::new());
        }
        let mut page = Page::new("SELECT * FROM activities");
        page.and("plan_id =", Some(plan_id))
            .and("activity_id >", after);
        let sql = page.ordered("activity_id", limit);
        let rows = self
            .fetch("reading a page of activities", &sql, tenant, &page.binds)
            .await?;
        rows.iter().map(activity).collect()
    }

    /// Up to `limit` feedback rows after the cursor `after`, of one plan when given.
    ///
    /// Feedback has no id of its own; its key is (recommendation_id, response, at), and
    /// pages follow that key's order, which the primary key index serves. The cursor is
    /// [`Self::feedback_cursor`] of a page's last row: `recommendation_id~response~at`.
    /// Any string is a position in that order (missing parts count as empty), so a
    /// cursor is never an error.
    pub async fn feedback_page(
        &self,
        tenant: &str,
        plan_id: Option<&str>,
        after: Option<&str>,
        limit: usize,
    ) -> Result<Vec<Feedback>, StoreError> {
        if limit == 0 {
            return Ok(Vec::new());
        }
        let mut page = Page::new("SELECT * FROM feedback");
        page.and("plan_id =", plan_id);
        if let Some(after) = after {
            let mut parts = after.splitn(3, CURSOR_SEPARATOR);
            for _ in 0..3 {
                page.binds.push(parts.next().unwrap_or_default().to_owned());
            }
            let n = page.binds.len() + 1;
            page.sql.push_str(&format!(
                " AND (recommendation_id, response, at) > (${}, ${}, ${n})",
                n - 2,
                n - 1
            ));
        }
        let sql = page.ordered("recommendation_id, response, at", limit);
        let rows = self
            .fetch("reading a page of feedback", &sql, tenant, &page.binds)
            .await?;
        rows.iter().map(feedback).collect()
    }

    /// The cursor that makes [`Self::feedback_page`] continue after `row`.
    pub fn feedback_cursor(row: &Feedback) -> String {
        format!(
            "{}{CURSOR_SEPARATOR}{}{CURSOR_SEPARATOR}{}",
            row.recommendation_id,
            row.response.as_str(),
            timestamp(&row.at)
        )
    }
}
