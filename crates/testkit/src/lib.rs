//! Test support shared by Slipway's test suites: fresh databases, a running
//! Slipway on a free port, and fakes for the services that cannot run here.

pub mod database;
