//! The panels of the main window. Each draws from the model and pushes `Command`s; none mutates app state.

pub mod catalog;
pub mod jobs;
pub mod log;
pub mod maintain;
pub mod spatial;
pub mod stac_search;
pub mod ndvi;
pub mod tables;
