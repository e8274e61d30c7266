//! `meshctl verify` against the sandbox: seeds 001 and 004 applied pass; then each link of a
//! path broken out of band (kubectl, the AWS SDK) makes verify exit 2 naming that link and
//! object, and `meshctl apply` repairs it.

mod support;
