//! End-to-end tables for the policy engine.
