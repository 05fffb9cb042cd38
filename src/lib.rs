//! meshlake: a desktop workbench for spatial lakehouses and spatial data meshes.
//!
//! `engine` knows about data and never imports GUI crates; `ui` draws with egui; `cli` runs the
//! same jobs headless.

pub mod cli;
pub mod engine;
pub mod ui;
