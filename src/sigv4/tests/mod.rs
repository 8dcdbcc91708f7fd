//! Tests of the SigV4 module that span several files.

mod parse;
mod vectors;
mod x509;
