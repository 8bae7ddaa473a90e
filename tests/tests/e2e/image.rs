//! The OCI image of `scripts/build-image.sh`: inspected with skopeo, unpacked
//! with umoci, and its binary run from the unpacked root filesystem under
//! chroot to serve a node's metrics, scraped once and parsed with Python's
//! prometheus_client.
//!
//! Building a static kcerts takes minutes, so the test is ignored by a plain
//! `cargo test`; scripts/test.sh (and so CI) builds the image and runs it with
//! `--ignored`, the image in `KCERTS_IMAGE` (LAYOUT:TAG).

use std::path::Path;
use std::process::Command;

use kcerts_tests::*;
use serde_json::Value;

use kcerts_tests::prometheus::parse_with_prometheus_client;
use kcerts_tests::serve_process::{Server, serve_args};

#[test]
#[ignore = "needs the image of scripts/build-image.sh in KCERTS_IMAGE; scripts/test.sh runs it"]
fn image_holds_only_a_static_kcerts_that_serves_metrics() {
    let image = std::env::var("KCERTS_IMAGE")
        .expect("KCERTS_IMAGE=LAYOUT:TAG (scripts/test.sh builds it with scripts/build-image.sh)");

    let o = run("skopeo", ["inspect", &format!("oci:{image}")]);
    assert_ok(&o, "skopeo inspect");
    let info: Value = serde_json::from_str(&stdout(&o)).unwrap();
    assert_eq!(info["Architecture"], "amd64", "{info}");
    assert_eq!(info["Os"], "linux");
    assert_eq!(info["Layers"].as_array().unwrap().len(), 1, "{info}");
    assert_eq!(info["Labels"]["org.opencontainers.image.title"], "kcerts");
    let o = run("skopeo", ["inspect", "--config", &format!("oci:{image}")]);
    assert_ok(&o, "skopeo inspect --config");
    let config: Value = serde_json::from_str(&stdout(&o)).unwrap();
    assert_eq!(
        config["config"]["Entrypoint"],
        serde_json::json!(["/kcerts"])
    );
    assert_eq!(config["config"]["Cmd"], serde_json::json!(["serve"]));
    assert!(
        config["config"]["ExposedPorts"]["9793/tcp"].is_object(),
        "{config}"
    );

    let dir = tempdir();
    let bundle = dir.path().join("bundle");
    let o = run(
        "umoci",
        ["unpack", "--image", &image, &bundle.display().to_string()],
    );
    assert_ok(&o, "umoci unpack");
    let rootfs = bundle.join("rootfs");
    let entries: Vec<String> = std::fs::read_dir(&rootfs)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(entries, ["kcerts"], "nothing but the binary");
    let o = run(
        "readelf",
        ["-l", &rootfs.join("kcerts").display().to_string()],
    );
    assert_ok(&o, "readelf");
    assert!(
        !stdout(&o).contains("program interpreter"),
        "statically linked"
    );

    // A node inside the root filesystem, served by the image's binary under chroot:
    // the binary finds nothing else there (no libc, no ld.so, no /etc, no /proc).
    let node = rootfs.join("node");
    write_node_aged(&node, time::Duration::days(1), 81);
    let mut cmd = Command::new("chroot");
    cmd.arg(&rootfs)
        .args(["/kcerts", "serve", "--listen", "127.0.0.1:0"])
        .args(serve_args(Path::new("/node"), "1h"));
    let mut s = Server::spawn(cmd);
    let (code, text) = s.get("/metrics");
    assert_eq!(code, 200);
    let parsed = parse_with_prometheus_client(&text);
    assert!(
        parsed.contains(
            "filename=apiserver.crt,filepath=/node/pki/apiserver.crt,issuer_CN=kubernetes,name=apiserver,"
        ),
        "{parsed}"
    );
    assert!(parsed.contains("x509_read_errors{} 0\n"), "{parsed}");
    assert!(
        parsed.contains("kcerts_verify_check{check=chain,result=pass,target=apiserver} 0\n"),
        "{parsed}"
    );
    assert!(
        parsed.contains("kcerts_serve_reads_total{} 1\n"),
        "{parsed}"
    );
    assert_eq!(s.get("/healthz"), (200, "ok\n".to_string()));
    s.signal("TERM");
    let status = s.wait_exit(std::time::Duration::from_secs(10));
    assert!(status.is_some_and(|st| st.success()), "{status:?}");
}
