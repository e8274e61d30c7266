//! A refresh's batch of cluster resources (`Provider::read_batch`) against the sandbox API
//! server, every request counted by the sandbox's proxy: 20 manifests whose ConfigMaps live in
//! one namespace are read with one LIST of ConfigMaps there instead of 20 GETs, and a ConfigMap
//! changed and one deleted with kube-rs's own client (not meshctl's code) are reported as a
//! drift of that field and as gone.

use std::collections::BTreeMap;
use std::sync::Arc;

use async_trait::async_trait;
use k8s_openapi::api::core::v1::ConfigMap;
use kube::api::{DeleteParams, Patch, PatchParams};
use meshctl_model::record::OwnedObject;
use meshctl_model::stack::KubeAccess;
use meshctl_model::{Address, Kind};
use meshctl_provider::{
    LoadBalancer, LoadBalancers, Progress, Provider, ProviderError, Request, StackSettings,
};
use meshctl_provider_kube::KubeProvider;
use meshctl_sandbox::kube::{ApiServer, ApiServerOptions};
use meshctl_sandbox::FaultProxy;
use serde_json::{json, Value};

const MANIFESTS: usize = 20;

/// No balancers: manifests of ConfigMaps never ask for one.
struct NoBalancers;

#[async_trait]
impl LoadBalancers for NoBalancers {
    async fn by_dns_name(
        &self,
        _address: &Address,
        _dns_name: &str,
    ) -> Result<Option<LoadBalancer>, ProviderError> {
        Ok(None)
    }

    async fn exists(&self, _address: &Address, _arn: &str) -> Result<bool, ProviderError> {
        Ok(false)
    }
}

struct Quiet;

impl Progress for Quiet {
    fn update(&self, _address: &Address, _message: &str) {}
}

fn config_map(i: usize) -> String {
    format!("settings-{i:02}")
}

/// `manifest.mNN`'s desired fields: one ConfigMap in `default`.
fn desired(i: usize) -> Value {
    json!({ "objects": [{
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": { "name": config_map(i), "namespace": "default" },
        "data": { "mode": "batch", "index": i.to_string() },
    }]})
}

/// Requests forwarded since `before` whose call (`unknown:GET /api/v1/...`: the proxy names
/// unsigned requests by method and path) reads ConfigMaps.
fn config_map_reads(
    proxy: &FaultProxy,
    before: &std::collections::HashMap<String, meshctl_sandbox::Counts>,
) -> BTreeMap<String, u64> {
    proxy
        .calls()
        .into_iter()
        .filter(|(call, _)| call.contains("/configmaps") && call.contains(":GET "))
        .filter_map(|(call, counts)| {
            let made = counts.forwarded - before.get(&call).map_or(0, |c| c.forwarded);
            (made > 0).then_some((call, made))
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn manifests_in_one_namespace_are_read_by_one_list() {
    let server = ApiServer::start(ApiServerOptions::default())
        .await
        .expect("sandbox API server");
    let proxy = FaultProxy::start(&server.url(), 1).expect("proxy");
    let dir = tempfile::tempdir().unwrap();
    let kubeconfig = dir.path().join("kubeconfig");
    server.write_kubeconfig(&kubeconfig, None).unwrap();
    // meshctl reaches the server through the proxy; the test's own client goes direct.
    let direct = std::fs::read_to_string(&kubeconfig).unwrap();
    let proxied = dir.path().join("kubeconfig-proxied");
    std::fs::write(&proxied, direct.replace(&server.url(), &proxy.url())).unwrap();
    let provider = KubeProvider::new(
        StackSettings {
            stack: "batch".into(),
            region: "ap-northeast-2".into(),
            kube: Some(KubeAccess {
                from_cluster: None,
                kubeconfig: Some(proxied.display().to_string()),
                context: None,
                endpoint_override: None,
            }),
        },
        Arc::new(NoBalancers),
    );

    let addresses: Vec<Address> = (0..MANIFESTS)
        .map(|i| Address::new(Kind::Manifest, format!("m{i:02}")))
        .collect();
    let desired: Vec<Value> = (0..MANIFESTS).map(desired).collect();
    let inputs = BTreeMap::new();
    let requests: Vec<Request<'_>> = addresses
        .iter()
        .zip(&desired)
        .map(|(address, desired)| Request {
            address,
            desired,
            inputs: &inputs,
        })
        .collect();
    let mut objects: Vec<Vec<OwnedObject>> = Vec::new();
    for request in &requests {
        let applied = provider
            .create(request, &|_| {}, &Quiet)
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        objects.push(applied.objects);
    }
    let reads: Vec<(Request<'_>, &[OwnedObject])> = requests
        .iter()
        .cloned()
        .zip(objects.iter().map(Vec::as_slice))
        .collect();

    // Unchanged: every manifest answered, without drift, from one LIST.
    let before = proxy.calls();
    let answers = provider
        .read_batch(&reads)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        config_map_reads(&proxy, &before),
        BTreeMap::from([(
            "unknown:GET /api/v1/namespaces/default/configmaps".to_string(),
            1
        )]),
        "one LIST of the namespace's ConfigMaps, no GET of each"
    );
    assert_eq!(answers.len(), MANIFESTS, "{answers:?}");
    for (address, answer) in &answers {
        let applied = answer
            .as_ref()
            .unwrap_or_else(|| panic!("{address} exists"));
        assert_eq!(applied.drifts, vec![], "{address}");
    }

    // Behind meshctl's back, with the test's own client: one value changed, one map deleted.
    let client = kube::Client::try_from(
        kube::Config::from_custom_kubeconfig(
            kube::config::Kubeconfig::read_from(&kubeconfig).unwrap(),
            &kube::config::KubeConfigOptions::default(),
        )
        .await
        .unwrap(),
    )
    .unwrap();
    let maps: kube::Api<ConfigMap> = kube::Api::namespaced(client, "default");
    maps.patch(
        &config_map(3),
        &PatchParams::default(),
        &Patch::Merge(json!({ "data": { "mode": "by-hand" } })),
    )
    .await
    .unwrap();
    maps.delete(&config_map(7), &DeleteParams::default())
        .await
        .unwrap();

    let before = proxy.calls();
    let answers = provider
        .read_batch(&reads)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        config_map_reads(&proxy, &before).values().sum::<u64>(),
        1,
        "{:?}",
        config_map_reads(&proxy, &before)
    );
    let changed = answers[&addresses[3]]
        .as_ref()
        .expect("manifest.m03 still exists");
    let paths: Vec<&str> = changed.drifts.iter().map(|d| d.path.as_str()).collect();
    assert_eq!(
        paths,
        ["ConfigMap default/settings-03 data.mode"],
        "{changed:?}"
    );
    assert_eq!(changed.drifts[0].live, Some(json!("by-hand")));
    assert_eq!(
        answers[&addresses[7]], None,
        "manifest.m07's only object is gone"
    );
    let unchanged = answers.iter().filter(|(a, answer)| {
        **a != addresses[3]
            && answer
                .as_ref()
                .is_some_and(|applied| applied.drifts.is_empty())
    });
    assert_eq!(unchanged.count(), MANIFESTS - 2);
}
