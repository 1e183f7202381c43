//! A write acknowledged with a 2xx survives the process being killed (SIGKILL, no
//! shutdown) in the middle of a stream of writes: the real binary, a real SQLite file.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::helpers::{binary_key, spawn_server};

/// The binary serving `acme` from `data`.
async fn start(data: &std::path::Path) -> (tokio::process::Child, String) {
    spawn_server(data, "acme", &[]).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_acknowledged_write_survives_sigkill() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let key = binary_key(&data, "acme");

    let (mut child, base) = start(&data).await;
    let client = reqwest::Client::new();
    let acked: Arc<Mutex<Vec<String>>> = Arc::default();
    let mut writers = Vec::new();
    for w in 0..4 {
        let (client, base, key, acked) = (
            client.clone(),
            base.clone(),
            key.clone(),
            Arc::clone(&acked),
        );
        writers.push(tokio::spawn(async move {
            for i in 0.. {
                let id = format!("w{w}-{i}");
                let sent = client
                    .put(format!("{base}/v1/partners/{id}"))
                    .bearer_auth(&key)
                    .json(&serde_json::json!({"name": id, "tier": "gold", "nps": 10}))
                    .send()
                    .await;
                match sent {
                    Ok(r) if r.status().is_success() => acked.lock().unwrap().push(id),
                    Ok(r) => panic!("write {id} refused: {}", r.status()),
                    Err(_) => return, // the server is gone
                }
            }
        }));
    }
    // Let a stream of writes get going, then kill without warning.
    loop {
        tokio::time::sleep(Duration::from_millis(20)).await;
        if acked.lock().unwrap().len() >= 200 {
            break;
        }
    }
    child.start_kill().unwrap();
    child.wait().await.unwrap();
    for w in writers {
        w.await.unwrap();
    }
    let acked = acked.lock().unwrap().clone();
    assert!(acked.len() >= 200);

    // Restarted on the same data: every acknowledged write is there.
    let (mut child, base) = start(&data).await;
    let mut missing = Vec::new();
    for id in &acked {
        let r = client
            .get(format!("{base}/v1/partners/{id}"))
            .bearer_auth(&key)
            .send()
            .await
            .unwrap();
        if r.status() != reqwest::StatusCode::OK {
            missing.push(id.clone());
        }
    }
    child.start_kill().unwrap();
    child.wait().await.unwrap();
    assert!(
        missing.is_empty(),
        "{} of {} acknowledged writes lost: {missing:?}",
        missing.len(),
        acked.len()
    );
}
