//! The engine never imports GUI crates: `src/engine/**` must not mention egui, eframe, walkers or rfd.

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
fn engine_has_no_gui_imports() {
    let engine = Path::new(env!("CARGO_MANIFEST_DIR")).join("src/engine");
    let mut files = Vec::new();
    rust_files(&engine, &mut files);
    assert!(files.len() > 5, "expected the engine's sources under {}", engine.display());
    let forbidden = ["egui", "eframe", "walkers", "rfd::", "egui_tiles", "egui_plot", "epaint"];
    let mut offenders = Vec::new();
    for file in &files {
        let text = std::fs::read_to_string(file).unwrap();
        for (number, line) in text.lines().enumerate() {
            // Comments may name the crates; code and string literals (e.g. log filters) may not.
            let code = line.split("//").next().unwrap_or("");
            for word in forbidden {
                let hit = code.match_indices(word).any(|(i, _)| {
                    let before = code[..i].chars().last();
                    let after = code[i + word.len()..].chars().next();
                    let boundary = |c: Option<char>| c.is_none_or(|c| !(c.is_alphanumeric() || c == '_'));
                    boundary(before) && (word.ends_with("::") || boundary(after))
                });
                if hit {
                    offenders.push(format!("{}:{}: {}", file.display(), number + 1, line.trim()));
                }
            }
        }
    }
    assert!(offenders.is_empty(), "GUI imports in the engine:\n{}", offenders.join("\n"));
}

#[test]
fn the_check_itself_catches_a_gui_import() {
    // Guard against a check that can never fail: the same matcher must flag these lines.
    let lines = ["use egui::Ui;", "fn f(ctx: &eframe::Frame) {}", "let filter = \"walkers::io=error\";"];
    for line in lines {
        let flagged = ["egui", "eframe", "walkers"].iter().any(|w| line.contains(&format!("{w}::")));
        assert!(flagged, "{line}");
    }
}
