//! Hostile stack files, generated in code (a 50 MB file is not committed): shared by the
//! hostile-input tests and the benchmark that times them.

/// A valid header every generated file starts with (3 lines), so problems are the generated part.
pub const HEADER: &str = "stack: hostile\nregion: us-east-1\nresources: []\n";

/// A "billion laughs": each line's list repeats the previous line's anchor ten times, so line
/// `levels + 4` would expand to 10^levels scalars.
pub fn billion_laughs(levels: usize) -> String {
    let mut s = HEADER.to_string();
    s.push_str("l0: &l0 [lol, lol, lol, lol, lol, lol, lol, lol, lol, lol]\n");
    for level in 1..levels {
        let previous = format!("*l{}", level - 1);
        let items = [previous.as_str(); 10].join(", ");
        s.push_str(&format!("l{level}: &l{level} [{items}]\n"));
    }
    s
}

/// The same through merge keys: each mapping merges the previous one ten times and holds it
/// under ten keys.
pub fn merge_key_bomb(levels: usize) -> String {
    let mut s = HEADER.to_string();
    s.push_str("m0: &m0 {a: 1, b: 2, c: 3, d: 4, e: 5, f: 6, g: 7, h: 8, i: 9, j: 10}\n");
    for level in 1..levels {
        let previous = format!("*m{}", level - 1);
        let merges = [previous.as_str(); 10].join(", ");
        let keys: Vec<String> = (0..10).map(|k| format!("k{k}: {previous}")).collect();
        s.push_str(&format!(
            "m{level}: &m{level} {{<<: [{merges}], {}}}\n",
            keys.join(", ")
        ));
    }
    s
}

/// `depth` block sequences nested on one line: `- - - … x`.
pub fn deep_block_sequences(depth: usize) -> String {
    format!("{HEADER}deep:\n{}x\n", "- ".repeat(depth))
}

/// `depth` block mappings nested by indentation, one space per level.
pub fn deep_block_mappings(depth: usize) -> String {
    let mut s = format!("{HEADER}deep:\n");
    for level in 1..=depth {
        s.push_str(&" ".repeat(level));
        s.push_str("a:\n");
    }
    s
}

/// `depth` flow sequences nested: `[[[…]]]`.
pub fn deep_flow_sequences(depth: usize) -> String {
    format!("{HEADER}deep: {}{}\n", "[".repeat(depth), "]".repeat(depth))
}

/// `depth` flow mappings nested: `{a: {a: …}}`.
pub fn deep_flow_mappings(depth: usize) -> String {
    format!(
        "{HEADER}deep: {}1{}\n",
        "{a: ".repeat(depth),
        "}".repeat(depth)
    )
}

/// At least `bytes` bytes of tagged scalars, one per line.
pub fn file_of_tags(bytes: usize) -> String {
    let mut s = format!("{HEADER}tags:\n");
    let mut i = 0usize;
    while s.len() < bytes {
        s.push_str(&format!("  - !tag{} value{}\n", i % 7, i));
        i += 1;
    }
    s
}

/// One namespace resource with `count` fields it does not take.
pub fn unknown_fields(count: usize) -> String {
    let mut s = "stack: hostile\nregion: us-east-1\nkube: { kubeconfig: kubeconfig }\nresources:\n  - kind: namespace\n    name: app\n".to_string();
    for i in 0..count {
        s.push_str(&format!("    field{i}: {i}\n"));
    }
    s
}

/// `count` namespace resources all named `app`.
pub fn duplicate_names(count: usize) -> String {
    let mut s = "stack: hostile\nregion: us-east-1\nkube: { kubeconfig: kubeconfig }\nresources:\n"
        .to_string();
    for _ in 0..count {
        s.push_str("  - { kind: namespace, name: app }\n");
    }
    s
}

/// One mapping with the key `name` written `count` times.
pub fn duplicate_keys(count: usize) -> String {
    let mut s = format!("{HEADER}labels:\n");
    for i in 0..count {
        s.push_str(&format!("  name: v{i}\n"));
    }
    s
}

/// A destination rule defining subset `v1` `count` times.
pub fn duplicate_subsets(count: usize) -> String {
    let mut s = "stack: hostile\nregion: us-east-1\nkube: { kubeconfig: kubeconfig }\nresources:\n  - kind: destination_rule\n    name: svc\n    namespace: app\n    host: svc\n    subsets:\n".to_string();
    for _ in 0..count {
        s.push_str("      - { name: v1, labels: { version: v1 } }\n");
    }
    s
}

/// A var holding a list of 1,000 values, used whole `uses` times: aliases by another name.
pub fn var_list_bomb(uses: usize) -> String {
    let items: Vec<String> = (0..1000).map(|i| i.to_string()).collect();
    let mut s = format!("{HEADER}vars:\n  big: [{}]\nuses:\n", items.join(", "));
    for _ in 0..uses {
        s.push_str("  - ${var.big}\n");
    }
    s
}

/// A var holding 100 KB of text, spliced ten times into each of `uses` values.
pub fn var_text_bomb(uses: usize) -> String {
    let mut s = format!("{HEADER}vars:\n  long: {}\nuses:\n", "x".repeat(100_000));
    for _ in 0..uses {
        s.push_str(&format!("  - \"{}\"\n", "${var.long}".repeat(10)));
    }
    s
}

/// One string of `count` interpolations meshctl does not know (`${x}`), each a diagnostic.
pub fn interpolation_flood(count: usize) -> String {
    format!("{HEADER}note: \"{}\"\n", "${x}".repeat(count))
}

/// One namespace resource with `count` fields it does not take, as short as keys can be.
pub fn unknown_fields_dense(count: usize) -> String {
    let mut s = "stack: hostile\nregion: us-east-1\nkube: { kubeconfig: kubeconfig }\nresources:\n  - kind: namespace\n    name: app\n".to_string();
    for i in 0..count {
        s.push_str(&format!("    {i:x}:\n"));
    }
    s
}

/// A valid stack of `count` resources (namespaces and the config maps in them, alternately)
/// written as JSON on one line: every span is on line 1, megabytes from its start.
pub fn one_line_json(count: usize) -> String {
    let mut resources = Vec::with_capacity(count);
    for i in 0..count {
        let unit = i / 2;
        resources.push(if i % 2 == 0 {
            format!(r#"{{"kind":"namespace","name":"app-{unit}","labels":{{"istio-injection":"enabled"}}}}"#)
        } else {
            format!(
                r#"{{"kind":"manifest","name":"cm-{unit}","objects":[{{"apiVersion":"v1","kind":"ConfigMap","metadata":{{"name":"cm-{unit}","namespace":"app-{unit}"}},"data":{{"greeting":"hello"}}}}]}}"#
            )
        });
    }
    format!(
        r#"{{"stack":"hostile","region":"us-east-1","kube":{{"kubeconfig":"kubeconfig"}},"resources":[{}]}}"#,
        resources.join(",")
    )
}

/// `one_line_json(count)` with the last label value made invalid (`en abled`), and the byte
/// offset of that value (its opening quote): one problem, a megabyte into one line.
pub fn one_line_json_bad_label(count: usize) -> (String, usize) {
    let mut json = one_line_json(count);
    let at = json.rfind("\"enabled\"").unwrap_or(0);
    json.replace_range(at..at + "\"enabled\"".len(), "\"en abled\"");
    (json, at)
}
