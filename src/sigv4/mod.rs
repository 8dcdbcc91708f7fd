//! sigv4 (work in progress)
