//! The helm stand-in refuses values the pinned chart version does not know
//! (`meshctl-controller-facts`' table of its values.yaml), as a chart with a values schema would,
//! and installs nothing then; values the chart knows install as before.
//!
//! Run: `cargo test -p meshctl-sandbox --test helm_values` (needs kubectl).

mod common;

use std::process::Output;

use common::{path_str, Kube};

fn helm(kube: &Kube, args: &[&str]) -> Output {
    std::process::Command::new(env!("CARGO_BIN_EXE_helm"))
        .args(args)
        .env("KUBECONFIG", &kube.kubeconfig)
        .env("MESHCTL_STANDIN_LOG", kube.dir.path().join("standin.log"))
        .output()
        .expect("the stand-in runs")
}

fn install_cert_manager(kube: &Kube, version: &str, values: &str) -> Output {
    let file = kube.file(&format!("values-{version}.yaml"), values);
    helm(
        kube,
        &[
            "upgrade",
            "--install",
            "cert-manager",
            "jetstack/cert-manager",
            "--namespace",
            "cert-manager",
            "--create-namespace",
            "--version",
            version,
            "-f",
            path_str(&file),
        ],
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cert_manager_values_are_judged_by_the_chart_version() {
    common::kubectl_path();
    let kube = Kube::start().await;

    // crds.enabled arrived in chart v1.15: v1.14.4 does not know it.
    let out = install_cert_manager(&kube, "v1.14.4", "crds:\n  enabled: true\n");
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("UPGRADE FAILED") || stderr.contains("INSTALLATION FAILED"),
        "{stderr}"
    );
    assert!(
        stderr.contains("chart cert-manager v1.14.4 has no value crds"),
        "{stderr}"
    );
    assert!(
        stderr.contains("cert-manager/cert-manager v1.14.4"),
        "{stderr}"
    );
    let releases = kube
        .ok(&[
            "get",
            "secrets",
            "-n",
            "cert-manager",
            "-l",
            "owner=helm",
            "-o",
            "name",
        ])
        .await;
    assert!(releases.trim().is_empty(), "nothing installed: {releases}");

    // A misspelled nested value is named with what the chart has near it.
    let out = install_cert_manager(&kube, "v1.14.4", "serviceAccount:\n  nmae: x\n");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("serviceAccount.nmae (did you mean serviceAccount.name"),
        "{stderr}"
    );

    // The same release with the value each version knows installs (CRDs off: only the values
    // are under test here).
    let out = install_cert_manager(&kube, "v1.14.4", "installCRDs: false\n");
    assert!(out.status.success(), "{out:?}");
    let out = install_cert_manager(&kube, "v1.15.0", "crds:\n  enabled: false\n  keep: true\n");
    assert!(out.status.success(), "{out:?}");
}
