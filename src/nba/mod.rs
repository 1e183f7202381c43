//! Next best actions: candidates, eligibility, effect estimates, arbitration, explanations. Built by the next-best-actions issue.
