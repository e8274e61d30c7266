//! The AWS provider. Every aws-sdk-* call in meshctl lives in this crate and nowhere else.
//! Filled in by the AWS provider issue.
