//! Alerts: rules evaluated on rollups, a lifecycle per alert, notifications through channels.

pub mod lifecycle;
