//! `meshlake table validate|query`: predicate arguments and human output.

use std::io::Write;

use crate::engine::geo::predicate::{PredicateOp, SpatialPredicate};
use crate::engine::jobs::JobResult;
use crate::engine::lake::spatial::{QueryReport, ValidationReport};

/// Exactly one spatial predicate.
#[derive(Debug, clap::Args)]
#[group(required = true, multiple = false)]
pub struct PredicateArgs {
    /// Rows whose geometry intersects this WKT geometry.
    #[arg(long, value_name = "WKT")]
    pub intersects: Option<String>,
    /// Rows whose geometry contains this WKT geometry.
    #[arg(long, value_name = "WKT")]
    pub contains: Option<String>,
    /// Rows whose geometry lies within this WKT geometry.
    #[arg(long, value_name = "WKT")]
    pub within: Option<String>,
    /// Rows whose geometry intersects MINX,MINY,MAXX,MAXY.
    #[arg(long, value_name = "MINX,MINY,MAXX,MAXY", allow_hyphen_values = true)]
    pub bbox: Option<String>,
    /// Rows whose geometry is within --distance (planar, CRS units) of this WKT geometry.
    #[arg(long, value_name = "WKT", requires = "distance")]
    pub dwithin: Option<String>,
}

impl PredicateArgs {
    pub fn predicate(&self, distance: Option<f64>) -> anyhow::Result<SpatialPredicate> {
        let built = if let Some(wkt) = &self.intersects {
            SpatialPredicate::from_wkt(PredicateOp::Intersects, wkt)
        } else if let Some(wkt) = &self.contains {
            SpatialPredicate::from_wkt(PredicateOp::Contains, wkt)
        } else if let Some(wkt) = &self.within {
            SpatialPredicate::from_wkt(PredicateOp::Within, wkt)
        } else if let Some(wkt) = &self.dwithin {
            SpatialPredicate::from_wkt(PredicateOp::DWithin(distance.unwrap_or(0.0)), wkt)
        } else if let Some(b) = &self.bbox {
            let numbers: Vec<f64> = b.split(',').map(|v| v.trim().parse::<f64>()).collect::<Result<_, _>>()
                .map_err(|e| anyhow::anyhow!("--bbox {b:?}: {e}"))?;
            let bbox: [f64; 4] = numbers.as_slice().try_into().map_err(|_| anyhow::anyhow!("--bbox needs 4 numbers: MINX,MINY,MAXX,MAXY"))?;
            SpatialPredicate::from_bbox(bbox)
        } else {
            anyhow::bail!("give one of --intersects, --contains, --within, --bbox, --dwithin")
        };
        Ok(built?)
    }
}

/// Warnings of a spatial result go to stderr (so that --json stays one object on stdout).
pub fn warn(result: &JobResult) {
    if let JobResult::Query(report) = result {
        for warning in &report.warnings {
            eprintln!("warning: {warning}");
        }
    }
    if let JobResult::Validation(report) = result {
        for warning in &report.warnings {
            eprintln!("warning: {warning}");
        }
    }
}

pub fn print_validation(out: &mut impl Write, r: &ValidationReport) -> std::io::Result<()> {
    writeln!(out, "{} rows in {} files, geometry column {}, CRS {}", r.rows, r.files, r.geometry_column, r.crs.as_deref().unwrap_or("unknown"))?;
    for (name, n) in r.named_counts() {
        writeln!(out, "  {name:<18} {n}")?;
    }
    for p in &r.crs_problems {
        writeln!(out, "crs: {p}")?;
    }
    for p in &r.problems {
        writeln!(out, "{}:{} {:?}: {}", p.file, p.row, p.kind, p.detail)?;
    }
    if let Some(contract) = &r.contract {
        writeln!(out, "contract {contract}: {} violation(s)", r.contract_violations)?;
    }
    for p in &r.contract_problems {
        let at = p.first_row.map(|row| format!(" (first row {row})")).unwrap_or_default();
        writeln!(out, "contract: {} column {} {:?}: {}{at}", p.file, p.column, p.kind, p.detail)?;
    }
    if let Some(drift) = &r.schema_drift {
        writeln!(out, "schema drift: {} change(s)", drift.change_count())?;
    }
    Ok(())
}

pub fn print_query(out: &mut impl Write, r: &QueryReport) -> std::io::Result<()> {
    if let Some(refused) = &r.refused_full_scan {
        writeln!(out, "not run: {refused}")?;
    }
    writeln!(out, "rows matched:       {}", r.rows_matched)?;
    writeln!(out, "files scanned:      {} of {}", r.files_scanned, r.files_total)?;
    writeln!(out, "row groups scanned: {} of {}", r.row_groups_scanned, r.row_groups_total)?;
    writeln!(out, "bytes scanned:      {} of {}", r.bytes_scanned, r.bytes_total)?;
    if r.pages_total > 0 {
        writeln!(out, "geometry pages:     {} of {}", r.pages_scanned, r.pages_total)?;
    }
    if r.partitions_total > 0 {
        writeln!(out, "partitions scanned: {} of {}", r.partitions_scanned, r.partitions_total)?;
    }
    if let Some(path) = &r.out {
        writeln!(out, "written to:         {path}")?;
    }
    Ok(())
}
