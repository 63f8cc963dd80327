//! Incremental framing (to be written).
