//! The S3 state backend.
