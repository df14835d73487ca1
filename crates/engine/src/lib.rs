//! The run engine (ARCHITECTURE §5): workers claim queued runs from the database, execute
//! their steps on targets through the connectors, and write every state change and every
//! (redacted) line of output to the database first.

pub mod redact;
