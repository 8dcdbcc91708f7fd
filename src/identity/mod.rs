//! identity (work in progress)
