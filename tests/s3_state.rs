//! The S3 backend end to end: the real `meshctl` against moto (through the sandbox's fault proxy
//! where a test needs faults), checked with the AWS SDK.

mod support;
