//! xenstored-rs (to be written).
fn main() {}
