//! The shared ring page (to be written).
