//! The engines below the services know no resource: `src/jobs/` and
//! `src/events/` import nothing from `src/services/` (services register job
//! handlers and event hooks with them instead).

use std::path::Path;

fn rust_files(dir: &Path, out: &mut Vec<std::path::PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

#[test]
fn the_job_and_event_engines_import_nothing_from_the_services() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    for engine in ["jobs", "events"] {
        rust_files(&root.join(engine), &mut files);
    }
    assert!(files.len() >= 5, "found the engines' files: {files:?}");
    let mut offending = Vec::new();
    for file in files {
        let text = std::fs::read_to_string(&file).unwrap();
        for (n, line) in text.lines().enumerate() {
            let code = line.split("//").next().unwrap_or("");
            if code.contains("services::") {
                offending.push(format!("{}:{}: {}", file.display(), n + 1, line.trim()));
            }
        }
    }
    assert!(offending.is_empty(), "engine code that reaches into the services:\n{}", offending.join("\n"));
}
