//! Everything that knows about data. Never imports egui, eframe or walkers (checked by a test).

pub mod basemap;
pub mod crs;
pub mod demo;
pub mod geo;
pub mod jobs;
pub mod lake;
pub mod logbuf;
pub mod ndvi;
pub mod raster;
pub mod settings;
pub mod stac;
pub mod storage;
pub mod workspace;
