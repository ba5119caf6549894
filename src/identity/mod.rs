//! Who stood behind a call: the sessions the lake's credential-issuing calls created, and each
//! session traced back to the person or workload that started its chain.

pub mod origin;
pub mod sessions;

pub use origin::{Caller, MAX_HOPS, Origin, OriginIndex};
pub use sessions::{SessionRow, derive, session_rows, sessions_batch, sessions_schema};
